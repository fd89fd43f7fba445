// bnn_maxpool_win: binary max-pool with K x K windows every S pixels and no
// padding (OR of the window's bits), for K != S: overlapping windows (K > S,
// AlexNet's 3x3 stride 2) or skipped pixels (K < S).  K == S designs keep
// bnn_maxpool.  One input pixel of C bits per cycle, (H, W) raster order;
// OH = (H - K)/S + 1 rows and OW = (W - K)/S + 1 columns out.
//
// An input pixel lies in at most P = ceil(K/S) windows along each axis.  The
// horizontal pass keeps P partial ORs (one per open column window, slot
// ox mod P); when a column window closes, its OR enters the vertical pass,
// which keeps P memories of OW partial ORs (memory oy mod P).  At most one window
// closes per input pixel, so at most one output pixel leaves per cycle.
module bnn_maxpool_win #(
    parameter int C = 8,  // channels (bits per pixel word)
    parameter int H = 8,  // input height
    parameter int W = 8,  // input width
    parameter int K = 3,  // window
    parameter int S = 2   // stride
) (
    input  logic         clk,
    input  logic         rst_n,
    input  logic [C-1:0] in_data,
    input  logic         in_valid,
    output logic         in_ready,
    output logic [C-1:0] out_data,
    output logic         out_valid,
    input  logic         out_ready
);
    localparam int OH  = (H - K) / S + 1;
    localparam int OW  = (W - K) / S + 1;
    localparam int P   = (K + S - 1) / S;
    localparam int XB  = $clog2(W + 1);
    localparam int YB  = $clog2(H + 1);
    localparam int SB  = (S > 1) ? $clog2(S) : 1;
    localparam int PB  = (P > 1) ? $clog2(P) : 1;
    localparam int OXB = (OW > 1) ? $clog2(OW) : 1;

    // position: x = xo*S + xs, xj = xo mod P (likewise for y)
    logic [XB-1:0] x, xo;
    logic [YB-1:0] y, yo;
    logic [SB-1:0] xs, ys;
    logic [PB-1:0] xj, yj;

    logic [C-1:0] hacc [P];        // open column windows

    wire en   = !out_valid || out_ready;
    wire fire = in_valid && en;
    assign in_ready = en;

    // horizontal pass: the column windows holding x, and the one that closes at x
    logic [C-1:0]   hres;
    logic           hdone;
    logic [OXB-1:0] hox;
    logic [C-1:0]   hnew [P];
    logic           hupd [P];
    logic [PB-1:0]  hslot [P];
    always_comb begin
        hres = '0;
        hdone = 1'b0;
        hox = '0;
        for (int d = 0; d < P; d++) begin
            hslot[d] = (32'(xj) >= d) ? PB'(32'(xj) - d) : PB'(32'(xj) + P - d);  // (xj - d) mod P
            hupd[d]  = (32'(xo) >= d) && (32'(xo) - d < OW) && (32'(xs) + d * S <= K - 1);
            hnew[d]  = (d == 0 && xs == '0) ? in_data : (hacc[hslot[d]] | in_data);
            if (hupd[d] && 32'(xs) + d * S == K - 1) begin
                hres  = hnew[d];
                hdone = 1'b1;
                hox   = OXB'(32'(xo) - d);
            end
        end
    end

    // vertical pass: P memories of OW partial ORs; memory p holds the open row window
    // oy = yo - d with oy mod P == p, i.e. d = (yj - p) mod P.  Each has one read and one
    // write, both at column hox, so it maps to distributed RAM.
    logic [C-1:0] vnew  [P];
    logic         vlast [P];
    for (genvar p = 0; p < P; p++) begin : g_row
        logic [C-1:0] mem [OW];
        // Waiver: for p == 0 (and P == 1) the comparisons with p and d are constant.
        /* verilator lint_off UNSIGNED */
        wire [31:0]   d   = (32'(yj) >= p) ? 32'(yj) - p : 32'(yj) + P - p;  // (yj - p) mod P
        wire          upd = hdone && (32'(yo) >= d) && (32'(yo) - d < OH) && (32'(ys) + d * S <= K - 1);
        /* verilator lint_on UNSIGNED */
        assign vnew[p]  = (d == 0 && ys == '0) ? hres : (mem[hox] | hres);
        assign vlast[p] = upd && (32'(ys) + d * S == K - 1);
        always_ff @(posedge clk) begin
            if (fire && upd) mem[hox] <= vnew[p];
        end
    end

    logic [C-1:0] vres;
    logic         vdone;
    always_comb begin
        vres = '0;
        vdone = 1'b0;
        for (int p = 0; p < P; p++) begin
            if (vlast[p]) begin
                vres  = vnew[p];
                vdone = 1'b1;
            end
        end
    end

    always_ff @(posedge clk) begin
        if (fire) begin
            for (int d = 0; d < P; d++) begin
                if (hupd[d]) hacc[hslot[d]] <= hnew[d];
            end
            if (vdone) out_data <= vres;
        end
    end

    wire x_last  = (x == XB'(W - 1));
    wire y_last  = (y == YB'(H - 1));
    wire xs_last = (xs == SB'(S - 1));
    wire ys_last = (ys == SB'(S - 1));
    wire xj_last = (xj == PB'(P - 1));
    wire yj_last = (yj == PB'(P - 1));

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            x <= '0; xo <= '0; xs <= '0; xj <= '0;
            y <= '0; yo <= '0; ys <= '0; yj <= '0;
            out_valid <= 1'b0;
        end else begin
            if (en) out_valid <= fire && vdone;
            if (fire) begin
                if (x_last) begin
                    x <= '0; xo <= '0; xs <= '0; xj <= '0;
                    if (y_last) begin
                        y <= '0; yo <= '0; ys <= '0; yj <= '0;
                    end else begin
                        y <= y + 1'b1;
                        ys <= ys_last ? '0 : ys + 1'b1;
                        if (ys_last) begin
                            yo <= yo + 1'b1;
                            yj <= yj_last ? '0 : yj + 1'b1;
                        end
                    end
                end else begin
                    x <= x + 1'b1;
                    xs <= xs_last ? '0 : xs + 1'b1;
                    if (xs_last) begin
                        xo <= xo + 1'b1;
                        xj <= xj_last ? '0 : xj + 1'b1;
                    end
                end
            end
        end
    end
endmodule
