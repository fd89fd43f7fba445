// bnn_add: integer add of two streams of LANES signed lanes (a residual join):
// out = (a << SA) + (b << SB), lane by lane, sign-extended to OW bits (the
// IR's Add; OW holds the whole range of the sum, so it never overflows).
// A word is taken from both inputs at once; one register stage.
module bnn_add #(
    parameter int LANES = 1,
    parameter int AW    = 8,   // bits per lane of input a
    parameter int BW    = 8,   // bits per lane of input b
    parameter int OW    = 9,   // bits per lane of the sum
    parameter int SA    = 0,
    parameter int SB    = 0
) (
    input  logic                clk,
    input  logic                rst_n,
    input  logic [LANES*AW-1:0] a_data,
    input  logic                a_valid,
    output logic                a_ready,
    input  logic [LANES*BW-1:0] b_data,
    input  logic                b_valid,
    output logic                b_ready,
    output logic [LANES*OW-1:0] out_data,
    output logic                out_valid,
    input  logic                out_ready
);
    wire en   = !out_valid || out_ready;
    wire fire = en && a_valid && b_valid;
    assign a_ready = en && b_valid;
    assign b_ready = en && a_valid;

    logic [LANES*OW-1:0] sum;
    always_comb begin
        for (int l = 0; l < LANES; l++) begin
            logic signed [OW-1:0] x, y;
            x = OW'($signed(a_data[l*AW +: AW]));
            y = OW'($signed(b_data[l*BW +: BW]));
            sum[l*OW +: OW] = (x <<< SA) + (y <<< SB);
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) out_valid <= 1'b0;
        else if (en) out_valid <= a_valid && b_valid;
    end
    always_ff @(posedge clk) begin
        if (fire) out_data <= sum;
    end
endmodule
