// bnn_concat: channel concatenation of two bit streams (a DenseNet join).
// Per pixel, AWORDS words of input a (its channels), then BWORDS words of input
// b, each of L channel bits: channels stay innermost, a's first.  One register
// stage, one word per cycle.
module bnn_concat #(
    parameter int L      = 1,  // bits (channels) per word
    parameter int AWORDS = 1,  // words of input a per pixel
    parameter int BWORDS = 1   // words of input b per pixel
) (
    input  logic         clk,
    input  logic         rst_n,
    input  logic [L-1:0] a_data,
    input  logic         a_valid,
    output logic         a_ready,
    input  logic [L-1:0] b_data,
    input  logic         b_valid,
    output logic         b_ready,
    output logic [L-1:0] out_data,
    output logic         out_valid,
    input  logic         out_ready
);
    localparam int N  = AWORDS + BWORDS;
    localparam int KB = (N > 1) ? $clog2(N) : 1;

    logic [KB-1:0] k;  // word of the current pixel
    wire from_a = (k < KB'(AWORDS));
    wire en     = !out_valid || out_ready;
    wire valid  = from_a ? a_valid : b_valid;
    wire fire   = en && valid;
    assign a_ready = en && from_a;
    assign b_ready = en && !from_a;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            k         <= '0;
            out_valid <= 1'b0;
        end else begin
            if (en) out_valid <= valid;
            if (fire) k <= (k == KB'(N - 1)) ? '0 : k + 1'b1;
        end
    end
    always_ff @(posedge clk) begin
        if (fire) out_data <= from_a ? a_data : b_data;
    end
endmodule
