// bnn_input_bin: one 64-bit AXI4-Stream beat (8 raw uint8 pixels, byte 0 at the
// low bits) -> 8 bits, bit b = (pixel b >= THRESHOLD) (bit 1 = +1): the
// binarized input of InputSpec.binarize_threshold.  One register stage.
module bnn_input_bin #(
    parameter int THRESHOLD = 128  // 0 .. 256
) (
    input  logic        clk,
    input  logic        rst_n,
    input  logic [63:0] in_data,
    input  logic        in_valid,
    output logic        in_ready,
    output logic [7:0]  out_data,
    output logic        out_valid,
    input  logic        out_ready
);
    wire en = !out_valid || out_ready;
    assign in_ready = en;

    logic [7:0] b;
    always_comb begin
        for (int i = 0; i < 8; i++) begin
            b[i] = ({1'b0, in_data[i*8 +: 8]} >= 9'(THRESHOLD));
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) out_valid <= 1'b0;
        else if (en) out_valid <= in_valid;
    end
    always_ff @(posedge clk) begin
        if (en && in_valid) out_data <= b;
    end
endmodule
