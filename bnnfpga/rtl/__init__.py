"""SystemVerilog backend, Verilator/cocotb co-simulation and yosys resource estimates."""
