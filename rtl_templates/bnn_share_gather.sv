// bnn_share_gather: regroups convolution windows for the shared-filter datapath
// (bnn_mvtu_shared, bnnfpga.filter_share).
//
// A window arrives as K2*CG words of SIMD channels in (position, channel group)
// order: word pos*CG + g holds position pos (ky*K + kx) of channels g*SIMD ..
// g*SIMD + SIMD-1.  For every channel group g it emits one word of K2*SIMD bits,
// bit pos*SIMD + s = position pos of channel g*SIMD + s.  Group g is complete
// when its last-position word arrives, so the output word is sent in that
// cycle: positions 0 .. K2-2 come from a buffer, the last from the input.
// One input word per cycle (K2*CG cycles per window); the input of a
// last-position word waits while the output register is full.
module bnn_share_gather #(
    parameter int SIMD = 1,
    parameter int CG   = 1,   // channel groups: C_in / SIMD
    parameter int K2   = 9    // kernel positions: K*K (>= 2)
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic [SIMD-1:0]      in_data,
    input  logic                 in_valid,
    output logic                 in_ready,
    output logic [K2*SIMD-1:0]   out_data,
    output logic                 out_valid,
    input  logic                 out_ready
);
    localparam int GB = (CG > 1) ? $clog2(CG) : 1;
    localparam int PB = $clog2(K2);

    logic [GB-1:0] g;
    logic [PB-1:0] pos;
    wire last_pos = (pos == PB'(K2 - 1));
    wire g_last   = (g == GB'(CG - 1));
    assign in_ready = !last_pos || !out_valid || out_ready;
    wire fire = in_valid && in_ready;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            g   <= '0;
            pos <= '0;
        end else if (fire) begin
            g <= g_last ? '0 : g + 1'b1;
            if (g_last) pos <= last_pos ? '0 : pos + 1'b1;
        end
    end

    // one buffer per kernel position but the last, CG words each
    logic [(K2-1)*SIMD-1:0] held;
    for (genvar p = 0; p < K2 - 1; p++) begin : g_pos
        logic [SIMD-1:0] buf_p [CG];
        always_ff @(posedge clk) begin
            if (fire && pos == PB'(p)) buf_p[g] <= in_data;
        end
        assign held[p*SIMD +: SIMD] = buf_p[g];
    end

    always_ff @(posedge clk) begin
        if (!rst_n) out_valid <= 1'b0;
        else if (fire && last_pos) out_valid <= 1'b1;
        else if (out_ready) out_valid <= 1'b0;
    end
    always_ff @(posedge clk) begin
        if (fire && last_pos) out_data <= {in_data, held};
    end
endmodule
