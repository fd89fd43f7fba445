// Reference for tests/test_dwc.py: bnn_dwc as it was before the unit-mux rewrite (a buffer
// shifted by O elements on output, the input inserted at the fill level by a barrel shifter).
// The rewrite must match it cycle by cycle: in_ready, out_valid, and out_data whenever out_valid.
// bnn_dwc: data-width converter for a stream of EW-bit elements, I elements per
// input word -> O elements per output word (element 0 at the low bits).
// A frame holds NIN input words; its last word carries only LASTN elements (the
// zero padding of the input stream's last beat); O divides the frame's element
// count, so output words never straddle frames.  The buffer holds I + O
// elements; it accepts a word in the same cycle as it emits one, so it moves a
// word per cycle on its slower side.
module bnn_dwc_ref #(
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
    localparam int CAP = I + O;
    localparam int NW  = $clog2(CAP + 1);

    logic [CAP*EW-1:0] buffer;
    logic [NW-1:0]     count;
    logic [NW-1:0]     n_in;       // elements carried by the current input word
    logic [I*EW-1:0]   in_masked;  // elements beyond n_in forced to zero

    generate
        if (LASTN == I) begin : g_full
            assign n_in      = NW'(I);
            assign in_masked = in_data;
        end else begin : g_partial
            localparam int WCW = (NIN > 1) ? $clog2(NIN) : 1;
            localparam logic [I*EW-1:0] LASTMASK = {{((I - LASTN) * EW){1'b0}}, {(LASTN * EW){1'b1}}};
            logic [WCW-1:0] word;
            wire last_word = (word == WCW'(NIN - 1));
            assign n_in      = last_word ? NW'(LASTN) : NW'(I);
            assign in_masked = last_word ? (in_data & LASTMASK) : in_data;
            always_ff @(posedge clk) begin
                if (!rst_n) word <= '0;
                else if (in_valid && in_ready) word <= last_word ? '0 : word + 1'b1;
            end
        end
    endgenerate

    wire           out_fire = out_valid && out_ready;
    wire [NW-1:0]  kept     = out_fire ? count - NW'(O) : count;
    wire           in_fire  = in_valid && in_ready;

    assign out_valid = (count >= NW'(O));
    assign out_data  = buffer[O*EW-1:0];
    assign in_ready  = (kept <= NW'(CAP - I));

    // Elements above `count` are always zero, so an OR inserts the new word.
    wire [CAP*EW-1:0] shifted  = out_fire ? (buffer >> (O * EW)) : buffer;
    wire [CAP*EW-1:0] inserted = {{(CAP - I) * EW{1'b0}}, in_masked} << (32'(kept) * EW);

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            buffer <= '0;
            count  <= '0;
        end else begin
            buffer <= in_fire ? (shifted | inserted) : shifted;
            count  <= in_fire ? kept + n_in : kept;
        end
    end
endmodule
