"""HLS C++ backend: generate a Vivado/Vitis HLS dataflow accelerator and C-simulate it."""
