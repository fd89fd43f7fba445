// bnn_swg_multi: sliding-window generator that emits P kernel positions per
// word (bnnfpga.swg_multi), for a convolution with SIMD = P * C_in, any stride.
// Input: a feature map in (H, W) raster order, one PW-bit word per pixel (all
// its channels).  Output: for every output pixel (oy, ox), with
// OH = (H + 2*PAD - K)/S + 1 rows and OW columns likewise, the K*K/P words of
// the window whose top-left input pixel is (oy*S - PAD, ox*S - PAD); word j
// holds the positions j*P .. j*P+P-1 of the (ky, kx) raster order, position
// j*P+i at bits [i*PW +: PW]: the im2col order of the IR's weights, SIMD lanes
// per word.  Positions outside the map ("same" padding) read as the all-zero
// pixel: bit 0 (-1) for binary maps, q = 0 for fixed-point pixels.
//
// Line buffer: R rows (a power of two) of W pixels, a ring indexed by a global
// row count, as in bnn_swg_stride (same flow control: the writer runs up to R
// rows ahead of the oldest row the reader needs).  It is split into NBR x NBC
// banks: pixel (ring slot, x) lives in bank (slot % NBR, x % NBC) at address
// (slot / NBR) * WB + x / NBC, WB = ceil(W / NBC).  The P positions of a word
// span at most NBR consecutive rows and, per row, at most NBC consecutive
// columns, so they always hit P distinct banks: one read port per bank.  Each
// bank is a simple dual-port RAM (one write, one synchronous read per cycle).
module bnn_swg_multi #(
    parameter int H   = 8,
    parameter int W   = 8,
    parameter int PW  = 8,   // bits per pixel (C_in x element bits)
    parameter int K   = 3,
    parameter int PAD = 0,
    parameter int S   = 1,   // stride
    parameter int P   = 3,   // kernel positions per output word (P divides K*K)
    parameter int R   = 8,   // rows in the line buffer, power of two
    parameter int NBR = 1,   // row banks, power of two dividing R
    parameter int NBC = 4    // column banks, power of two >= min(P, K)
) (
    input  logic            clk,
    input  logic            rst_n,
    input  logic [PW-1:0]   in_data,
    input  logic            in_valid,
    output logic            in_ready,
    output logic [P*PW-1:0] out_data,
    output logic            out_valid,
    input  logic            out_ready
);
    localparam int OH   = (H + 2 * PAD - K) / S + 1;
    localparam int OW   = (W + 2 * PAD - K) / S + 1;
    localparam int NCH  = K * K / P;            // words per window
    localparam int NB   = NBR * NBC;            // banks
    localparam int WB   = (W + NBC - 1) / NBC;  // columns per bank
    localparam int BD   = (R / NBR) * WB;       // pixels per bank
    localparam int AB   = (BD > 1) ? $clog2(BD) : 1;
    localparam int BB   = (NB > 1) ? $clog2(NB) : 1;
    localparam int RB   = (R > 1) ? $clog2(R) : 1;
    localparam int WXB  = (W > 1) ? $clog2(W) : 1;
    localparam int OYB  = (OH > 1) ? $clog2(OH) : 1;
    localparam int OXB  = (OW > 1) ? $clog2(OW) : 1;
    localparam int JB   = (NCH > 1) ? $clog2(NCH) : 1;
    localparam int FB   = $clog2(K + 1);      // bits of a kernel row/column index
    localparam int YB   = $clog2(H + 2 * K + 2) + 1;  // signed input row of a window position
    localparam int XB   = $clog2(W + 2 * K + 2) + 1;  // signed input column

    // ---------------------------------------------------------------- writer
    logic [31:0]    wrow;  // global index of the row being written (= rows complete)
    logic [WXB-1:0] wx;
    logic [31:0]    rd_lo; // oldest global row the reader still needs

    // signed: with S > K the reader may skip rows not written yet (rd_lo > wrow)
    assign in_ready = ($signed(wrow - rd_lo) < R);
    wire in_fire = in_valid && in_ready;
    wire wx_last = (wx == WXB'(W - 1));
    wire [31:0] wslot  = 32'(wrow[RB-1:0]);
    wire [BB-1:0] wbank = BB'((wslot % NBR) * NBC + 32'(wx) % NBC);
    wire [AB-1:0] waddr = AB'((wslot / NBR) * WB + 32'(wx) / NBC);

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
    logic [JB-1:0]  j;     // word of the window

    logic signed [31:0] hi, lo;
    always_comb begin
        hi = $signed(32'(oy)) * S - PAD + K - 1;
        if (hi > H - 1) hi = H - 1;
        lo = $signed(32'(oy)) * S - PAD;
        if (lo < 0) lo = 0;
    end
    assign rd_lo = fb + 32'(lo);

    wire rows_in = ($signed(wrow - fb) > hi);  // every row of this output row is written (signed: see in_ready)
    wire en      = !out_valid || out_ready;
    wire fire    = en && rows_in;

    // the window's top-left input pixel, in narrow signed arithmetic (shared by the lanes)
    logic signed [YB-1:0] by;
    logic signed [XB-1:0] bx;
    always_comb begin
        by = $signed(YB'(32'(oy) * S)) - $signed(YB'(PAD));
        bx = $signed(XB'(32'(ox) * S)) - $signed(XB'(PAD));
    end

    // per lane i: kernel position j*P + i -> input pixel, its bank and address
    logic [P*BB-1:0] lbank;
    logic [P*AB-1:0] laddr;
    logic [P-1:0]    lpad;
    for (genvar i = 0; i < P; i++) begin : g_lane
        logic [FB-1:0] ky, kx;   // kernel position j*P + i = ky * K + kx: a small ROM indexed by j
        logic signed [YB-1:0] iy;
        logic signed [XB-1:0] ix;
        logic [RB-1:0] slot;
        logic [XB-1:0] col;
        always_comb begin
            ky = '0;
            kx = '0;
            for (int jj = 0; jj < NCH; jj++) begin
                if (j == JB'(jj)) begin
                    ky = FB'((jj * P + i) / K);
                    kx = FB'((jj * P + i) % K);
                end
            end
            iy = by + $signed(YB'(ky));
            ix = bx + $signed(XB'(kx));
            slot = RB'(fb) + RB'(iy);  // ring slot of input row iy (mod R)
            col = XB'(ix);
        end
        assign lpad[i] = (iy < 0) || (iy >= $signed(YB'(H))) || (ix < 0) || (ix >= $signed(XB'(W)));
        assign lbank[i*BB +: BB] = BB'(32'(slot) % NBR * NBC + 32'(col) % NBC);
        assign laddr[i*AB +: AB] = AB'(32'(slot) / NBR * WB + 32'(col) / NBC);
    end

    // per bank: the address of the (at most one) lane that reads it this cycle
    logic [NB*AB-1:0] raddr;
    always_comb begin
        raddr = '0;
        for (int b = 0; b < NB; b++) begin
            for (int i = 0; i < P; i++) begin
                if (!lpad[i] && lbank[i*BB +: BB] == BB'(b)) raddr[b*AB +: AB] = raddr[b*AB +: AB] | laddr[i*AB +: AB];
            end
        end
    end

    logic [NB*PW-1:0] rdata;
    for (genvar b = 0; b < NB; b++) begin : g_bank
        logic [PW-1:0] mem [BD];
        logic [PW-1:0] rd;
        always_ff @(posedge clk) begin
            if (in_fire && wbank == BB'(b)) mem[waddr] <= in_data;
        end
        always_ff @(posedge clk) begin
            if (fire) rd <= mem[raddr[b*AB +: AB]];
        end
        assign rdata[b*PW +: PW] = rd;
    end

    // per lane: which bank it read, and whether it is a padding position
    logic [P*BB-1:0] lbank_q;
    logic [P-1:0]    lpad_q;
    always_ff @(posedge clk) begin
        if (fire) begin
            lbank_q <= lbank;
            lpad_q  <= lpad;
        end
    end
    for (genvar i = 0; i < P; i++) begin : g_out
        logic [PW-1:0] o;
        always_comb begin
            o = '0;
            for (int b = 0; b < NB; b++) begin
                if (!lpad_q[i] && lbank_q[i*BB +: BB] == BB'(b)) o = rdata[b*PW +: PW];
            end
        end
        assign out_data[i*PW +: PW] = o;
    end

    wire j_last  = (j == JB'(NCH - 1));
    wire ox_last = (ox == OXB'(OW - 1));
    wire oy_last = (oy == OYB'(OH - 1));

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            fb <= '0;
            oy <= '0;
            ox <= '0;
            j  <= '0;
            out_valid <= 1'b0;
        end else begin
            if (en) out_valid <= rows_in;
            if (fire) begin
                j <= j_last ? '0 : j + 1'b1;
                if (j_last) begin
                    ox <= ox_last ? '0 : ox + 1'b1;
                    if (ox_last) begin
                        oy <= oy_last ? '0 : oy + 1'b1;
                        if (oy_last) fb <= fb + 32'(H);
                    end
                end
            end
        end
    end
endmodule
