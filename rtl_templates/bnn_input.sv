// bnn_input: one 64-bit AXI4-Stream beat (8 raw uint8 pixels, byte 0 at the low
// bits) -> 8 signed QW-bit values q = pixel - ZERO_POINT.  One register stage.
module bnn_input #(
    parameter int QW         = 8,   // bits of q (two's complement)
    parameter int ZERO_POINT = 128
) (
    input  logic             clk,
    input  logic             rst_n,
    input  logic [63:0]      in_data,
    input  logic             in_valid,
    output logic             in_ready,
    output logic [8*QW-1:0]  out_data,
    output logic             out_valid,
    input  logic             out_ready
);
    wire en = !out_valid || out_ready;
    assign in_ready = en;

    logic [8*QW-1:0] q;
    always_comb begin
        for (int b = 0; b < 8; b++) begin
            q[b*QW +: QW] = QW'({1'b0, in_data[b*8 +: 8]}) - QW'(ZERO_POINT);
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) out_valid <= 1'b0;
        else if (en) out_valid <= in_valid;
    end
    always_ff @(posedge clk) begin
        if (en && in_valid) out_data <= q;
    end
endmodule
