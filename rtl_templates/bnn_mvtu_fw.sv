// bnn_mvtu_fw: bnn_mvtu with fixed-point weights (a non-binary first or last layer,
// bnnfpga.fixed_weights).  Same folding, ports, pipeline and timing as bnn_mvtu; the
// weight memory word is PE*SIMD lanes of WB-bit two's complement weights (PE p's
// SIMD lanes at [p*SIMD*WB +: SIMD*WB], lane s at [s*WB +: WB] within them), and
// each PE's SIMD lanes are signed multiply-accumulate lanes:
//   fixed input  (FIXED = 1): acc += sum_s w_s * q_s   (q signed EW bits)
//   binary input (FIXED = 0): acc += sum_s (x_s ? w_s : -w_s)   (x = +1 for bit 1)
// On a fold's last word the PE word is emitted:
//   SCORES = 0: bit p = (acc >= t) when direction is +1, (acc <= t) when -1
//   SCORES = 1: int32 score = acc (the sum itself, never 2*acc - FANIN)
// Fold nf = 0 reads the vector from the input stream and keeps it in `ibuf`;
// folds 1..NF-1 replay it from there.  One (nf, sf) step per cycle (II = 1).
//
// Pipeline: issue (counters, ROM and buffer addresses) -> S1 (input word,
// weights and thresholds registered) -> S2 (accumulator / output register).
module bnn_mvtu_fw #(
    parameter int SIMD   = 1,
    parameter int PE     = 1,
    parameter int SF     = 1,   // input fold: fan-in / SIMD
    parameter int NF     = 1,   // output fold: channels / PE
    parameter int EW     = 1,   // bits per input element
    parameter int WB     = 8,   // bits per weight (two's complement)
    parameter int FIXED  = 0,
    parameter int SCORES = 0,
    parameter int AW     = 8,   // signed accumulator / threshold width
    parameter int FANIN  = 1,
    parameter int OBW    = (SCORES != 0) ? 32 : 1,  // bits per output element
    parameter int WADDR  = 1,   // weight ROM address bits
    parameter int TADDR  = 1    // threshold ROM address bits
) (
    input  logic                    clk,
    input  logic                    rst_n,
    input  logic [SIMD*EW-1:0]      in_data,
    input  logic                    in_valid,
    output logic                    in_ready,
    output logic [PE*OBW-1:0]       out_data,
    output logic                    out_valid,
    input  logic                    out_ready,
    // weight ROM: word nf*SF + sf, PE p's SIMD weights at [p*SIMD*WB +: SIMD*WB], read latency 1
    output logic                    rom_en,
    output logic [WADDR-1:0]        w_addr,
    input  logic [PE*SIMD*WB-1:0]   w_data,
    // threshold ROM: word nf, PE p's {direction_is_minus, t[AW-1:0]} at [p*(AW+1) +: AW+1]
    output logic [TADDR-1:0]        t_addr,
    input  logic [PE*(AW+1)-1:0]    t_data
);
    localparam int SFB = (SF > 1) ? $clog2(SF) : 1;
    localparam int NFB = (NF > 1) ? $clog2(NF) : 1;

    logic [SFB-1:0] sf;
    logic [NFB-1:0] nf;
    logic [WADDR-1:0] waddr;

    wire en      = !out_valid || out_ready;
    wire need_in = (nf == '0);
    wire fire    = en && (!need_in || in_valid);
    wire sf_last = (sf == SFB'(SF - 1));
    wire nf_last = (nf == NFB'(NF - 1));
    assign in_ready = en && need_in;

    assign rom_en = en;
    assign w_addr = waddr;
    assign t_addr = TADDR'(nf);

    // ---------------------------------------------------------- issue stage
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            sf    <= '0;
            nf    <= '0;
            waddr <= '0;
        end else if (fire) begin
            sf    <= sf_last ? '0 : sf + 1'b1;
            waddr <= (sf_last && nf_last) ? '0 : waddr + 1'b1;
            if (sf_last) nf <= nf_last ? '0 : nf + 1'b1;
        end
    end

    logic [SIMD*EW-1:0] ibuf [SF];
    always_ff @(posedge clk) begin
        if (fire && need_in) ibuf[sf] <= in_data;
    end

    // ---------------------------------------------------------- S1
    logic               v1, first1, last1;
    logic [SIMD*EW-1:0] x1;
    always_ff @(posedge clk) begin
        if (!rst_n) v1 <= 1'b0;
        else if (en) v1 <= fire;
    end
    always_ff @(posedge clk) begin
        if (en) begin
            x1     <= need_in ? in_data : ibuf[sf];
            first1 <= (sf == '0);
            last1  <= sf_last;
        end
    end

    // ---------------------------------------------------------- S2
    logic signed [AW-1:0] acc [PE];
    logic signed [AW-1:0] acc_next [PE];
    always_comb begin
        for (int p = 0; p < PE; p++) begin
            logic signed [AW-1:0] sum;
            sum = '0;
            for (int s = 0; s < SIMD; s++) begin
                if (FIXED != 0)  // a WB x EW signed multiplier per lane
                    sum = sum + AW'($signed(w_data[(p*SIMD + s)*WB +: WB]) * $signed(x1[s*EW +: EW]));
                else             // +-1 input: add or subtract the weight
                    sum = x1[s*EW] ? sum + AW'($signed(w_data[(p*SIMD + s)*WB +: WB]))
                                   : sum - AW'($signed(w_data[(p*SIMD + s)*WB +: WB]));
            end
            acc_next[p] = (first1 ? '0 : acc[p]) + sum;
        end
    end

    logic [PE*OBW-1:0] result;
    always_comb begin
        for (int p = 0; p < PE; p++) begin
            if (SCORES != 0) begin
                result[p*OBW +: OBW] = OBW'(32'(acc_next[p]));
            end else begin
                logic signed [AW-1:0] t;
                t = $signed(t_data[p*(AW+1) +: AW]);
                if (t_data[p*(AW+1) + AW]) result[p*OBW +: OBW] = OBW'(acc_next[p] <= t);
                else                       result[p*OBW +: OBW] = OBW'(acc_next[p] >= t);
            end
        end
    end

    always_ff @(posedge clk) begin
        if (en && v1) begin
            for (int p = 0; p < PE; p++) acc[p] <= acc_next[p];
        end
        if (en && v1 && last1) out_data <= result;
    end
    always_ff @(posedge clk) begin
        if (!rst_n) out_valid <= 1'b0;
        else if (en) out_valid <= v1 && last1;
    end
endmodule
