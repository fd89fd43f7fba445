// bnn_swg_stride: the sliding-window generator of a strided convolution (the
// stride-1 bnn_swg with a stride S; used only for S > 1, so that stride-1
// designs keep bnn_swg).  Input: a feature map in (H, W) raster order, CW words
// of WW bits per pixel.  Output: for every output pixel (oy, ox), with
// OH = (H + 2*PAD - K)/S + 1 rows and OW columns likewise (torch's rule), the
// K*K*CW words of the window whose top-left input pixel is (oy*S - PAD,
// ox*S - PAD), in (ky, kx, cw) order, the im2col order of the IR's weights.
// Positions outside the map ("same" padding, PAD rows/columns) read as the
// all-zero word: bit 0 (-1) for binary maps, q = 0 for fixed-point pixels.
//
// Line buffer: R rows (a power of two) of W*CW words used as a ring indexed by
// a global row count that runs on across frames.  The writer fills row `wrow`
// while the reader still needs no more than R-1 older rows; the reader emits an
// output row once every input row its windows touch has been written.  With
// R >= 2K the writer can fill the next frame's first rows while the reader
// finishes the current frame, so frames follow each other without a gap
// (the backend picks R >= max(2K+1, K+2S)).  Input rows no window touches (the
// last ones of a frame when (H + 2*PAD - K) is not a multiple of S) are written
// and never read.
module bnn_swg_stride #(
    parameter int H   = 8,
    parameter int W   = 8,
    parameter int CW  = 1,   // words per input pixel
    parameter int WW  = 8,   // bits per word
    parameter int K   = 3,
    parameter int PAD = 0,
    parameter int S   = 2,   // stride
    parameter int R   = 8    // rows in the line buffer, power of two
) (
    input  logic          clk,
    input  logic          rst_n,
    input  logic [WW-1:0] in_data,
    input  logic          in_valid,
    output logic          in_ready,
    output logic [WW-1:0] out_data,
    output logic          out_valid,
    input  logic          out_ready
);
    localparam int OH   = (H + 2 * PAD - K) / S + 1;
    localparam int OW   = (W + 2 * PAD - K) / S + 1;
    localparam int RW   = W * CW;               // words per row
    localparam int RB   = (R > 1) ? $clog2(R) : 1;
    localparam int DEP  = R * RW;
    localparam int AB   = (DEP > 1) ? $clog2(DEP) : 1;
    localparam int RWB  = (RW > 1) ? $clog2(RW) : 1;
    localparam int OYB  = (OH > 1) ? $clog2(OH) : 1;
    localparam int OXB  = (OW > 1) ? $clog2(OW) : 1;
    localparam int KB   = (K > 1) ? $clog2(K) : 1;
    localparam int CWB  = (CW > 1) ? $clog2(CW) : 1;

    logic [WW-1:0] mem [DEP];

    // ---------------------------------------------------------------- writer
    logic [31:0]    wrow;  // global index of the row being written (= rows complete)
    logic [RWB-1:0] wx;
    logic [31:0]    rd_lo; // oldest global row the reader still needs

    // signed: with S > K the reader may skip rows not written yet (rd_lo > wrow)
    assign in_ready = ($signed(wrow - rd_lo) < R);
    wire in_fire  = in_valid && in_ready;
    wire wx_last  = (wx == RWB'(RW - 1));
    wire [AB-1:0] waddr = AB'(32'(wrow[RB-1:0]) * RW + 32'(wx));

    always_ff @(posedge clk) begin
        if (in_fire) mem[waddr] <= in_data;
    end
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            wrow <= '0;
            wx   <= '0;
        end else if (in_fire) begin
            wx <= wx_last ? '0 : wx + 1'b1;
            if (wx_last) wrow <= wrow + 1;
        end
    end

    // ---------------------------------------------------------------- reader
    logic [31:0]    fb;    // global row index of the current frame's row 0
    logic [OYB-1:0] oy;
    logic [OXB-1:0] ox;
    logic [KB-1:0]  ky, kx;
    logic [CWB-1:0] cw;

    // input row/column of the current window position, and the rows of this output row
    logic signed [31:0] iy, ix, hi, lo;
    always_comb begin
        iy = $signed(32'(oy)) * S - PAD + $signed(32'(ky));
        ix = $signed(32'(ox)) * S - PAD + $signed(32'(kx));
        hi = $signed(32'(oy)) * S - PAD + K - 1;
        if (hi > H - 1) hi = H - 1;
        lo = $signed(32'(oy)) * S - PAD;
        if (lo < 0) lo = 0;
    end
    assign rd_lo = fb + 32'(lo);

    wire pad      = (iy < 0) || (iy >= H) || (ix < 0) || (ix >= W);
    wire rows_in  = ($signed(wrow - fb) > hi);  // every row of this output row is written (signed: see in_ready)
    wire en       = !out_valid || out_ready;
    wire fire     = en && rows_in;
    wire [RB-1:0] rslot = RB'(fb + 32'(iy));  // ring slot of input row iy
    wire [AB-1:0] raddr = pad ? '0 : AB'(32'(rslot) * RW + 32'(ix) * CW + 32'(cw));

    wire cw_last = (cw == CWB'(CW - 1));
    wire kx_last = (kx == KB'(K - 1));
    wire ky_last = (ky == KB'(K - 1));
    wire ox_last = (ox == OXB'(OW - 1));
    wire oy_last = (oy == OYB'(OH - 1));

    logic [WW-1:0] rdata;
    logic          pad_q;
    always_ff @(posedge clk) begin
        if (fire) begin
            rdata <= mem[raddr];
            pad_q <= pad;
        end
    end
    assign out_data = pad_q ? '0 : rdata;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            fb <= '0;
            oy <= '0;
            ox <= '0;
            ky <= '0;
            kx <= '0;
            cw <= '0;
            out_valid <= 1'b0;
        end else begin
            if (en) out_valid <= rows_in;
            if (fire) begin
                cw <= cw_last ? '0 : cw + 1'b1;
                if (cw_last) begin
                    kx <= kx_last ? '0 : kx + 1'b1;
                    if (kx_last) begin
                        ky <= ky_last ? '0 : ky + 1'b1;
                        if (ky_last) begin
                            ox <= ox_last ? '0 : ox + 1'b1;
                            if (ox_last) begin
                                oy <= oy_last ? '0 : oy + 1'b1;
                                if (oy_last) fb <= fb + 32'(H);
                            end
                        end
                    end
                end
            end
        end
    end
endmodule
