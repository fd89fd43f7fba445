// bnn_dwc: data-width converter for a stream of EW-bit elements, I elements per
// input word -> O elements per output word (element 0 at the low bits).
// A frame holds NIN input words; its last word carries only LASTN elements (the
// zero padding of the input stream's last beat); O divides the frame's element
// count, so output words never straddle frames.  The buffer holds I + O
// elements; it accepts a word in the same cycle as it emits one, so it moves a
// word per cycle on its slower side.
//
// Structure: the buffer is kept in units of U = gcd(I, O, LASTN) elements (the
// fill level is always a multiple of U).  An output word leaves from units
// 0..OU-1 and the rest moves down by OU units; an input word is written at the
// fill level left after that (`kept`, at most OU units since a word is accepted
// only when it fits), so unit j takes input unit j - kept.  Instead of a barrel
// shifter over the whole buffer, the input word is rotated once by kept mod IU
// units (rin[r] = input unit (r - kept) mod IU: at most min(IU, OU + 1) distinct
// rotations) and unit j takes rin[j mod IU] when its write enable says so:
// * units 0..IU-1 also take the unit OU above them on output: a 2:1 mux per bit;
// * units IU.. are only ever written by the input: flip-flops with clock enable.
// O a multiple of I (packing words, e.g. window words of g lanes into SIMD lanes)
// needs no rotation at all; I a multiple of O (unpacking) a 2:1 rotation.
// Elements above the fill level are never emitted, so they need no clearing.
// The handshake, the write enables and the rotation come from a small control
// module (bnn_dwc_ctl); as its own module (synthesis keeps the hierarchy) its
// logic is computed once, not duplicated into every buffer bit's LUT.
module bnn_dwc #(
    parameter int EW    = 1,
    parameter int I     = 8,
    parameter int O     = 8,
    parameter int NIN   = 1,  // input words per frame
    parameter int LASTN = I   // elements in the last input word of a frame
) (
    input  logic            clk,
    input  logic            rst_n,
    input  logic [I*EW-1:0] in_data,
    input  logic            in_valid,
    output logic            in_ready,
    output logic [O*EW-1:0] out_data,
    output logic            out_valid,
    input  logic            out_ready
);
    // unit: gcd(I, O, LASTN) elements (the fill level is always a multiple of it)
    function automatic int unit_of(input int a, input int b, input int c);
        unit_of = 1;
        for (int k = 1; k <= a; k++)
            if (a % k == 0 && b % k == 0 && c % k == 0) unit_of = k;
    endfunction
    // bits of the rotation: an accepted word needs at most min(IU, OU + 1) distinct rotations
    function automatic int sel_bits(input int iu, input int ou);
        sel_bits = 1;
        for (int k = 1; k < 31; k++)
            if ((1 << k) < ((iu < ou + 1) ? iu : ou + 1)) sel_bits = k + 1;
    endfunction

    localparam int U  = unit_of(I, O, LASTN);
    localparam int UW = U * EW;          // bits per unit
    localparam int IU = I / U;           // units per input word
    localparam int OU = O / U;           // units per output word
    localparam int CU = IU + OU;         // buffer capacity in units
    localparam int NR = (IU < OU + 1) ? IU : OU + 1;  // rotations an accepted word can need
    localparam int RW = sel_bits(IU, OU);             // bits of the rotation (kept mod IU)

    logic [CU*UW-1:0] buffer;            // unit j at bits [j*UW +: UW]
    logic [CU-1:0]    wr;                // unit j takes an input unit
    // Waiver: with one input unit per word (IU == 1) nothing rotates.
    /* verilator lint_off UNUSEDSIGNAL */
    logic [RW-1:0]    rot;               // kept mod IU
    /* verilator lint_on UNUSEDSIGNAL */
    logic [IU*UW-1:0] rin;               // the input word rotated by rot units
    logic             out_fire;

    bnn_dwc_ctl #(.IU(IU), .OU(OU), .LU(LASTN / U), .NIN(NIN), .RW(RW)) u_ctl (
        .clk, .rst_n, .in_valid, .in_ready, .out_valid, .out_ready, .out_fire, .wr, .rot);

    assign out_data = buffer[OU*UW-1:0];

    generate
        if (NR > 2) begin : g_rot  // its own module: not merged into the units' multiplexers
            bnn_dwc_rot #(.UW(UW), .IU(IU), .RW(RW)) u_rot (.in_data, .rot, .rin);
        end else if (NR == 2) begin : g_rot2  // rot is 0 or 1: merges with the units' 2:1 muxes
            for (genvar r = 0; r < IU; r++) begin : g_r
                assign rin[r*UW +: UW] = rot[0] ? in_data[((r + IU - 1) % IU)*UW +: UW] : in_data[r*UW +: UW];
            end
        end else begin : g_norot
            assign rin = in_data;
        end
        for (genvar j = 0; j < CU; j++) begin : g_unit
            wire [UW-1:0] din = rin[(j % IU)*UW +: UW];
            if (j < IU) begin : g_move  // unit j + OU moves down here on output
                always_ff @(posedge clk) begin
                    if (!rst_n)        buffer[j*UW +: UW] <= '0;
                    else if (wr[j])    buffer[j*UW +: UW] <= din;
                    else if (out_fire) buffer[j*UW +: UW] <= buffer[(j + OU)*UW +: UW];
                end
            end else begin : g_top      // only ever written by the input
                always_ff @(posedge clk) begin
                    if (!rst_n)     buffer[j*UW +: UW] <= '0;
                    else if (wr[j]) buffer[j*UW +: UW] <= din;
                end
            end
        end
    endgenerate
endmodule

// Waiver: the converter's submodules live in the converter's file.
/* verilator lint_off DECLFILENAME */
// The input word rotated by rot units: rin[r] = input unit (r - rot) mod IU, as RW
// stages of 2:1 multiplexers (stage b rotates by 2^b units when rot[b] is set).
module bnn_dwc_rot #(
    parameter int UW = 1,
    parameter int IU = 1,
    parameter int RW = 1
) (
    input  logic [IU*UW-1:0] in_data,
    input  logic [RW-1:0]    rot,
    output logic [IU*UW-1:0] rin
);
    logic [IU*UW-1:0] st [RW + 1];
    assign st[0] = in_data;
    generate
        for (genvar b = 0; b < RW; b++) begin : g_stage
            localparam int SH = (1 << b) % IU;
            for (genvar r = 0; r < IU; r++) begin : g_r
                assign st[b + 1][r*UW +: UW] = rot[b] ? st[b][((r - SH + IU) % IU)*UW +: UW] : st[b][r*UW +: UW];
            end
        end
    endgenerate
    assign rin = st[RW];
endmodule

// The converter's fill level (in units) and handshake: a word out when OU units are
// held, a word in when it then fits (kept <= OU); the write enable of each unit (the
// input word lands at units kept..kept+IU-1) and the input's rotation, kept mod IU.
module bnn_dwc_ctl #(
    parameter int IU  = 1,
    parameter int OU  = 1,
    parameter int LU  = IU,   // units in a frame's last input word
    parameter int NIN = 1,
    parameter int RW  = 1
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic                 in_valid,
    output logic                 in_ready,
    output logic                 out_valid,
    input  logic                 out_ready,
    output logic                 out_fire,
    output logic [IU+OU-1:0]     wr,
    output logic [RW-1:0]        rot
);
    localparam int CU = IU + OU;
    localparam int NW = $clog2(CU + 1);

    logic [NW-1:0] count;        // fill level in units
    logic [NW-1:0] n_in;         // units carried by the current input word

    generate
        if (LU == IU) begin : g_full
            assign n_in = NW'(IU);
        end else begin : g_partial
            localparam int WCW = (NIN > 1) ? $clog2(NIN) : 1;
            logic [WCW-1:0] word;
            wire last_word = (word == WCW'(NIN - 1));
            assign n_in = last_word ? NW'(LU) : NW'(IU);
            always_ff @(posedge clk) begin
                if (!rst_n) word <= '0;
                else if (in_valid && in_ready) word <= last_word ? '0 : word + 1'b1;
            end
        end
    endgenerate

    wire [NW-1:0] kept    = out_fire ? count - NW'(OU) : count;
    wire          in_fire = in_valid && in_ready;

    assign out_valid = (count >= NW'(OU));
    assign out_fire  = out_valid && out_ready;
    assign in_ready  = (kept <= NW'(OU));  // CU - IU units free

    // Waiver: for IU == 1 the rotation is constant
    /* verilator lint_off WIDTHTRUNC */
    assign rot = RW'(kept % NW'(IU));
    /* verilator lint_on WIDTHTRUNC */
    generate
        for (genvar j = 0; j < CU; j++) begin : g_unit
            localparam int PLO = (j - IU + 1 > 0) ? j - IU + 1 : 0;
            localparam int PHI = (j < OU) ? j : OU;
            // an accepted word has kept <= OU: bounds at 0 or OU need no comparator
            assign wr[j] = in_fire && ((PLO == 0) || (kept >= NW'(PLO))) && ((PHI == OU) || (kept <= NW'(PHI)));
        end
    endgenerate

    always_ff @(posedge clk) begin
        if (!rst_n) count <= '0;
        else        count <= in_fire ? kept + n_in : kept;
    end
endmodule
/* verilator lint_on DECLFILENAME */
