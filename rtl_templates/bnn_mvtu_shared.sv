// bnn_mvtu_shared: the shared-filter matrix-vector(-threshold) unit of a binary
// K x K convolution (filter repetitions; bnnfpga.filter_share).
//
// Input: per window, CG channel-group words of K2*SIMD bits from
// bnn_share_gather (bit pos*SIMD + s = kernel position pos of channel
// g*SIMD + s).  Like bnn_mvtu it runs NF neuron folds per window, one
// (nf, g) step per cycle; fold nf = 0 reads the group words from the input and
// keeps them in `ibuf`, folds 1..NF-1 replay them.  In a step:
//   * for each of the SIMD channels s of group g and each of its U filter
//     classes u (pattern ROM word g, slot (s, u) at [(s*U + u)*K2 +: K2]):
//       pc[s][u] = popcount(xnor(window of channel s, pattern))   -- once
//   * for each PE p (output channel nf*PE + p), per channel s, the selection
//     ROM word nf*CG + g gives {flip, index} at [(p*SIMD + s)*(UB+1) +: UB+1]:
//       acc[p] += pc[s][index] XOR {PCW{flip}}
// A complemented class should add K2 - pc = (pc XOR all-ones) - D, D = 2^PCW - 1 - K2:
// the constant D * (complemented filters of the channel) is folded into the
// channel's threshold by the generator, so the raw sum thresholded here equals
// popcount(xnor(window, w)) of the standard unit thresholded at t.
//
// Pipeline: issue (counters, ROM and buffer addresses) -> S1 (group word,
// patterns, selections, thresholds registered) -> S2 (accumulator / output).
module bnn_mvtu_shared #(
    parameter int SIMD   = 1,   // channels per group word
    parameter int K2     = 9,   // kernel positions
    parameter int PE     = 1,
    parameter int CG     = 1,   // channel groups: C_in / SIMD
    parameter int NF     = 1,   // neuron folds: C_out / PE
    parameter int U      = 1,   // pattern slots per channel
    parameter int UB     = 1,   // bits of a slot index
    parameter int AW     = 8,   // signed raw accumulator / threshold width
    parameter int PADDR  = 1,   // pattern ROM address bits
    parameter int SADDR  = 1,   // selection ROM address bits
    parameter int TADDR  = 1
) (
    input  logic                       clk,
    input  logic                       rst_n,
    input  logic [K2*SIMD-1:0]         in_data,
    input  logic                       in_valid,
    output logic                       in_ready,
    output logic [PE-1:0]              out_data,
    output logic                       out_valid,
    input  logic                       out_ready,
    output logic                       rom_en,
    output logic [PADDR-1:0]           p_addr,
    input  logic [SIMD*U*K2-1:0]       p_data,
    output logic [SADDR-1:0]           s_addr,
    input  logic [PE*SIMD*(UB+1)-1:0]  s_data,
    output logic [TADDR-1:0]           t_addr,
    input  logic [PE*(AW+1)-1:0]       t_data
);
    localparam int GB  = (CG > 1) ? $clog2(CG) : 1;
    localparam int NFB = (NF > 1) ? $clog2(NF) : 1;
    localparam int PCW = $clog2(K2 + 1);

    logic [GB-1:0] g;
    logic [NFB-1:0] nf;
    logic [SADDR-1:0] saddr;

    wire en      = !out_valid || out_ready;
    wire need_in = (nf == '0);
    wire fire    = en && (!need_in || in_valid);
    wire g_last  = (g == GB'(CG - 1));
    wire nf_last = (nf == NFB'(NF - 1));
    assign in_ready = en && need_in;

    assign rom_en = en;
    assign p_addr = PADDR'(g);
    assign s_addr = saddr;
    assign t_addr = TADDR'(nf);

    // ---------------------------------------------------------- issue stage
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            g     <= '0;
            nf    <= '0;
            saddr <= '0;
        end else if (fire) begin
            g     <= g_last ? '0 : g + 1'b1;
            saddr <= (g_last && nf_last) ? '0 : saddr + 1'b1;
            if (g_last) nf <= nf_last ? '0 : nf + 1'b1;
        end
    end

    logic [K2*SIMD-1:0] ibuf [CG];
    always_ff @(posedge clk) begin
        if (fire && need_in) ibuf[g] <= in_data;
    end

    // ---------------------------------------------------------- S1
    logic               v1, first1, last1;
    logic [K2*SIMD-1:0] x1;
    always_ff @(posedge clk) begin
        if (!rst_n) v1 <= 1'b0;
        else if (en) v1 <= fire;
    end
    always_ff @(posedge clk) begin
        if (en) begin
            x1     <= need_in ? in_data : ibuf[g];
            first1 <= (g == '0);
            last1  <= g_last;
        end
    end

    // ---------------------------------------------------------- S2
    // class popcounts, shared by every PE: slot (s, u) at pc[(s*U + u)*PCW +: PCW]
    logic [SIMD*U*PCW-1:0] pc;
    always_comb begin
        for (int s = 0; s < SIMD; s++) begin
            logic [K2-1:0] xs;
            for (int p = 0; p < K2; p++) xs[p] = x1[p*SIMD + s];
            for (int u = 0; u < U; u++) pc[(s*U + u)*PCW +: PCW] = PCW'($countones(~(xs ^ p_data[(s*U + u)*K2 +: K2])));
        end
    end

    logic signed [AW-1:0] acc [PE];
    logic signed [AW-1:0] acc_next [PE];
    always_comb begin
        for (int p = 0; p < PE; p++) begin
            logic signed [AW-1:0] sum;
            sum = '0;
            for (int s = 0; s < SIMD; s++) begin
                logic [UB:0]    e;
                logic [PCW-1:0] v;
                e = s_data[(p*SIMD + s)*(UB+1) +: UB+1];
                v = '0;  // U:1 multiplexer of channel s's class popcounts
                for (int u = 0; u < U; u++) begin
                    if (e[UB-1:0] == UB'(u)) v = v | pc[(s*U + u)*PCW +: PCW];
                end
                sum = sum + AW'(v ^ {PCW{e[UB]}});
            end
            acc_next[p] = (first1 ? '0 : acc[p]) + sum;
        end
    end

    logic [PE-1:0] result;
    always_comb begin
        for (int p = 0; p < PE; p++) begin
            logic signed [AW-1:0] t;
            t = $signed(t_data[p*(AW+1) +: AW]);
            if (t_data[p*(AW+1) + AW]) result[p] = (acc_next[p] <= t);
            else                       result[p] = (acc_next[p] >= t);
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
