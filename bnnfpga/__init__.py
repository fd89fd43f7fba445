"""bnnfpga: binarized neural networks from PyTorch to bit-exact FPGA accelerators."""

__version__ = "0.1.0"
