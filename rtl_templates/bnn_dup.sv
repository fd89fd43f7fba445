// bnn_dup: stream duplicator (a fork of a graph network, docs/shortcut-networks.md).
// Every input word goes to both outputs in the same cycle: the word is taken
// only when both outputs can accept it.  Combinational (no register): it sits
// between FIFOs, whose registered flags cut the valid/ready paths.
module bnn_dup #(
    parameter int W = 8  // word width in bits
) (
    input  logic         clk,
    input  logic         rst_n,
    input  logic [W-1:0] in_data,
    input  logic         in_valid,
    output logic         in_ready,
    output logic [W-1:0] o0_data,
    output logic         o0_valid,
    input  logic         o0_ready,
    output logic [W-1:0] o1_data,
    output logic         o1_valid,
    input  logic         o1_ready
);
    wire unused_clk = &{1'b0, clk, rst_n};
    assign in_ready = o0_ready && o1_ready;
    assign o0_valid = in_valid && o1_ready;
    assign o1_valid = in_valid && o0_ready;
    assign o0_data  = in_data;
    assign o1_data  = in_data;
endmodule
