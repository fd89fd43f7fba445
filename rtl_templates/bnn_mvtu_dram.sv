// bnn_mvtu_dram: matrix-vector(-threshold) unit whose weights stream in from DRAM
// (docs/offchip-weights.md).  Same arithmetic and the same weight-word order as
// bnn_mvtu (word nf*SF + sf; PE p's SIMD bits at [p*SIMD +: SIMD]), but there is no
// weight ROM: every weight word arrives once on the w_* stream (AXI4-Stream, fed
// by a DMA) and is applied to a batch of up to B frames before the next word is
// taken, so DRAM traffic per frame is (weight bits) / B.
// WB > 1: fixed-point weights (bnnfpga.fixed_weights), as bnn_mvtu_fw: a weight word
// is PE*SIMD lanes of WB-bit two's complement weights (PE p's SIMD lanes at
// [p*SIMD*WB +: SIMD*WB], lane s at [s*WB +: WB] within), each a signed
// multiply (fixed input) or add/subtract (binary input) lane; scores are the sum.
//
// Frames are handled in batches.  A batch is B frames, except the last batch of
// a run, which holds the frames left (run_frames mod B, when not 0): the unit
// takes the run's frame count from the control registers (run_start, run_frames)
// and the driver streams the layer's weights ceil(run_frames / B) times per run.
// A "frame" here is one input vector: a convolution's layer wrapper passes
// run_frames * OH*OW (one window per output pixel, CW bits wide), so a batch is B
// consecutive output pixels, which may span a frame boundary.
//
// Three processes joined by two-bank buffers, so that loading, computing and
// emitting overlap and a frame costs NF*SF compute cycles (one step per cycle
// while weights keep up):
//   loader : input words -> ibuf[bank][frame][sf]          (B*SF words per bank)
//   compute: for nf, for sf, for frame b of the batch: one step
//              (a weight word is taken from the stream at b = 0 and held for b > 0)
//            accumulators acc[b][p]; on sf = SF-1 the PE word of (b, nf) goes to obuf
//   emitter: obuf[bank][frame][nf] -> out, frame by frame (the order the next stage reads)
// Compute pipeline: issue (counters, buffer address, weight word) -> S1 (input
// word, weight word, thresholds registered) -> S2 (accumulators, obuf write).
module bnn_mvtu_dram #(
    parameter int SIMD   = 1,
    parameter int PE     = 1,
    parameter int SF     = 1,   // input fold: fan-in / SIMD
    parameter int NF     = 1,   // output fold: channels / PE
    parameter int EW     = 1,   // bits per input element
    parameter int FIXED  = 0,
    parameter int SCORES = 0,
    parameter int AW     = 8,   // signed accumulator / threshold width
    parameter int FANIN  = 1,
    parameter int OBW    = (SCORES != 0) ? 32 : 1,
    parameter int TADDR  = 1,   // threshold ROM address bits
    parameter int B      = 1,   // batch: frames per pass over the weights
    parameter int WB     = 1,   // bits per weight: 1 binary, > 1 two's complement
    parameter int CW     = 32   // width of the run's vector count (run_frames)
) (
    input  logic                    clk,
    input  logic                    rst_n,
    input  logic [SIMD*EW-1:0]      in_data,
    input  logic                    in_valid,
    output logic                    in_ready,
    output logic [PE*OBW-1:0]       out_data,
    output logic                    out_valid,
    input  logic                    out_ready,
    // weight stream: one PE*SIMD*WB-bit word per beat, words nf*SF + sf in order
    input  logic [PE*SIMD*WB-1:0]   w_data,
    input  logic                    w_valid,
    output logic                    w_ready,
    // threshold ROM: word nf, PE p's {direction_is_minus, t[AW-1:0]} at [p*(AW+1) +: AW+1], read latency 1
    output logic [TADDR-1:0]        t_addr,
    input  logic [PE*(AW+1)-1:0]    t_data,
    // run bookkeeping from the control block
    input  logic                    run_start,   // a classification run starts
    input  logic [CW-1:0]           run_frames   // its vector count (num_frames, times OH*OW for a convolution)
);
    localparam int SFB = (SF > 1) ? $clog2(SF) : 1;
    localparam int NFB = (NF > 1) ? $clog2(NF) : 1;
    localparam int BB  = (B > 1) ? $clog2(B) : 1;
    localparam int BSB = $clog2(B + 1);            // holds a batch size 1..B
    localparam int IDEPTH = 2 * B * SF;
    localparam int ODEPTH = 2 * B * NF;
    localparam int IAB = (IDEPTH > 1) ? $clog2(IDEPTH) : 1;
    localparam int OAB = (ODEPTH > 1) ? $clog2(ODEPTH) : 1;

    // bank state: ifull = input batch loaded; oocc = output bank in use (from the
    // batch's first compute step until it is emitted); ordy = results all written
    logic [1:0]     ifull, oocc, ordy;
    logic [BSB-1:0] isize [2];   // frames in the loaded input batch
    logic [BSB-1:0] osize [2];   // frames in the output batch

    // ============================================================ loader
    logic [CW-1:0]  rem_l;       // frames of the run not yet loaded
    logic           lbank;
    logic [BB-1:0]  lb;
    logic [SFB-1:0] lsf;
    wire  [CW-1:0]  bs_l     = (rem_l < CW'(B)) ? rem_l : CW'(B);
    wire            l_sf_last = (lsf == SFB'(SF - 1));
    wire            l_b_last  = (CW'(lb) == bs_l - CW'(1));
    assign in_ready = !ifull[lbank] && (rem_l != '0);
    wire            load = in_valid && in_ready;

    logic [SIMD*EW-1:0] ibuf [IDEPTH];
    wire  [IAB-1:0] l_addr = IAB'((32'(lbank) * B + 32'(lb)) * SF + 32'(lsf));
    always_ff @(posedge clk) begin
        if (load) ibuf[l_addr] <= in_data;
    end

    // ============================================================ compute: issue
    logic           cbank, active;
    logic [NFB-1:0] nf;
    logic [SFB-1:0] sf;
    logic [BB-1:0]  b;
    logic [PE*SIMD*WB-1:0] wreg;    // the weight word of the current (nf, sf), for frames b > 0
    wire  [BSB-1:0] cs       = isize[cbank];
    wire            b_last   = (BSB'(b) == cs - BSB'(1));
    wire            sf_last  = (sf == SFB'(SF - 1));
    wire            nf_last  = (nf == NFB'(NF - 1));
    wire            step_last = b_last && sf_last && nf_last;
    wire            can      = active || (ifull[cbank] && !oocc[cbank]);
    wire            need_w   = (b == '0);
    wire            fire     = can && (!need_w || w_valid);
    assign w_ready = can && need_w;
    assign t_addr  = TADDR'(nf);
    wire  [IAB-1:0] c_addr = IAB'((32'(cbank) * B + 32'(b)) * SF + 32'(sf));

    // ============================================================ S1
    logic               v1, first1, last1, end1, bank1;
    logic [BB-1:0]      b1;
    logic [NFB-1:0]     nf1;
    logic [SIMD*EW-1:0] x1;
    logic [PE*SIMD*WB-1:0] w1;
    always_ff @(posedge clk) begin
        if (!rst_n) v1 <= 1'b0;
        else v1 <= fire;
    end
    always_ff @(posedge clk) begin
        if (fire) begin
            x1     <= ibuf[c_addr];
            w1     <= need_w ? w_data : wreg;
            first1 <= (sf == '0);
            last1  <= sf_last;
            end1   <= step_last;
            bank1  <= cbank;
            b1     <= b;
            nf1    <= nf;
            if (need_w) wreg <= w_data;
        end
    end

    // ============================================================ S2
    logic signed [AW-1:0] acc [B][PE];
    logic signed [AW-1:0] acc_next [PE];
    logic [SIMD-1:0]      plane [EW];
    logic signed [AW-1:0] qsum;
    always_comb begin
        qsum = '0;
        for (int e = 0; e < EW; e++) begin
            for (int s = 0; s < SIMD; s++) plane[e][s] = x1[s*EW + e];
        end
        if (FIXED != 0) begin
            for (int s = 0; s < SIMD; s++) qsum = qsum + AW'($signed(x1[s*EW +: EW]));
        end
    end
    always_comb begin
        for (int p = 0; p < PE; p++) begin
            logic signed [AW-1:0] sum;
            if (WB > 1) begin
                // fixed-point weights: a signed lane per weight (bnn_mvtu_fw's arithmetic)
                sum = '0;
                for (int s = 0; s < SIMD; s++) begin
                    if (FIXED != 0)
                        sum = sum + AW'($signed(w1[(p*SIMD + s)*WB +: WB]) * $signed(x1[s*EW +: EW]));
                    else
                        sum = x1[s*EW] ? sum + AW'($signed(w1[(p*SIMD + s)*WB +: WB]))
                                       : sum - AW'($signed(w1[(p*SIMD + s)*WB +: WB]));
                end
            end else if (FIXED != 0) begin
                // sum_s (w_s ? q_s : -q_s) = 2 * sum_s w_s q_s - sum_s q_s, by bit planes of q
                sum = '0;
                for (int e = 0; e < EW; e++) begin
                    if (e == EW - 1) sum = sum - (AW'($countones(plane[e] & w1[p*SIMD +: SIMD])) <<< e);
                    else             sum = sum + (AW'($countones(plane[e] & w1[p*SIMD +: SIMD])) <<< e);
                end
                sum = 2 * sum - qsum;
            end else begin
                sum = AW'($countones(~(plane[0] ^ w1[p*SIMD +: SIMD])));
            end
            acc_next[p] = (first1 ? '0 : acc[b1][p]) + sum;
        end
    end

    logic [PE*OBW-1:0] result;
    always_comb begin
        for (int p = 0; p < PE; p++) begin
            if (SCORES != 0) begin
                if (FIXED != 0 || WB > 1) result[p*OBW +: OBW] = OBW'(32'(acc_next[p]));
                else            result[p*OBW +: OBW] = OBW'(32'(2 * 32'(acc_next[p]) - FANIN));
            end else begin
                logic signed [AW-1:0] t;
                t = $signed(t_data[p*(AW+1) +: AW]);
                if (t_data[p*(AW+1) + AW]) result[p*OBW +: OBW] = OBW'(acc_next[p] <= t);
                else                       result[p*OBW +: OBW] = OBW'(acc_next[p] >= t);
            end
        end
    end

    logic [PE*OBW-1:0] obuf [ODEPTH];
    wire  [OAB-1:0] w_oaddr = OAB'((32'(bank1) * B + 32'(b1)) * NF + 32'(nf1));
    always_ff @(posedge clk) begin
        if (v1) begin
            for (int p = 0; p < PE; p++) acc[b1][p] <= acc_next[p];
        end
        if (v1 && last1) obuf[w_oaddr] <= result;
    end

    // ============================================================ emitter
    logic           ebank;
    logic [BB-1:0]  eb;
    logic [NFB-1:0] enf;
    wire            e_nf_last = (enf == NFB'(NF - 1));
    wire            e_b_last  = (BSB'(eb) == osize[ebank] - BSB'(1));
    wire            e_go      = ordy[ebank] && (!out_valid || out_ready);
    wire  [OAB-1:0] r_oaddr   = OAB'((32'(ebank) * B + 32'(eb)) * NF + 32'(enf));
    always_ff @(posedge clk) begin
        if (e_go) out_data <= obuf[r_oaddr];
    end

    // ============================================================ state
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            ifull <= '0; oocc <= '0; ordy <= '0;
            isize[0] <= '0; isize[1] <= '0; osize[0] <= '0; osize[1] <= '0;
            rem_l <= '0; lbank <= 1'b0; lb <= '0; lsf <= '0;
            cbank <= 1'b0; active <= 1'b0; nf <= '0; sf <= '0; b <= '0;
            ebank <= 1'b0; eb <= '0; enf <= '0; out_valid <= 1'b0;
        end else begin
            // ---- loader
            if (run_start) begin
                rem_l <= run_frames;
                lb    <= '0;
                lsf   <= '0;
            end else if (load) begin
                lsf <= l_sf_last ? '0 : lsf + 1'b1;
                if (l_sf_last) begin
                    if (l_b_last) begin
                        lb           <= '0;
                        ifull[lbank] <= 1'b1;
                        isize[lbank] <= BSB'(bs_l);
                        lbank        <= !lbank;
                        rem_l        <= rem_l - bs_l;
                    end else begin
                        lb <= lb + 1'b1;
                    end
                end
            end
            // ---- compute
            if (fire) begin
                if (!active) begin
                    active       <= 1'b1;
                    oocc[cbank]  <= 1'b1;
                    osize[cbank] <= cs;
                end
                if (b_last) begin
                    b <= '0;
                    if (sf_last) begin
                        sf <= '0;
                        nf <= nf_last ? '0 : nf + 1'b1;
                    end else begin
                        sf <= sf + 1'b1;
                    end
                end else begin
                    b <= b + 1'b1;
                end
                if (step_last) begin
                    active       <= 1'b0;
                    ifull[cbank] <= 1'b0;   // the batch's last input word was read this cycle
                    cbank        <= !cbank;
                end
            end
            if (v1 && end1) ordy[bank1] <= 1'b1;
            // ---- emitter
            if (e_go) begin
                out_valid <= 1'b1;
                enf <= e_nf_last ? '0 : enf + 1'b1;
                if (e_nf_last) begin
                    if (e_b_last) begin
                        eb          <= '0;
                        ordy[ebank] <= 1'b0;
                        oocc[ebank] <= 1'b0;
                        ebank       <= !ebank;
                    end else begin
                        eb <= eb + 1'b1;
                    end
                end
            end else if (out_ready) begin
                out_valid <= 1'b0;
            end
        end
    end
endmodule
