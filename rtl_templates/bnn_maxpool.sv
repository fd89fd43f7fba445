// bnn_maxpool: K x K / stride K max-pool of a binary feature map (OR of the
// window's bits), one input pixel of C bits per cycle, (H, W) raster order.
// A row buffer of W/K pixels holds the partial OR of the current window row.
module bnn_maxpool #(
    parameter int C = 8,  // channels (bits per pixel word)
    parameter int W = 8,  // input width
    parameter int K = 2   // window = stride
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
    localparam int OW  = W / K;
    localparam int KW  = (K > 1) ? $clog2(K) : 1;
    localparam int OXW = (OW > 1) ? $clog2(OW) : 1;

    logic [C-1:0]   rowacc [OW];  // OR over the window rows seen so far
    logic [C-1:0]   hacc;         // OR over the window columns seen so far
    logic [KW-1:0]  kx, ky;
    logic [OXW-1:0] ox;

    wire en   = !out_valid || out_ready;
    wire fire = in_valid && en;
    assign in_ready = en;

    wire          kx_last = (kx == KW'(K - 1));
    wire          ky_last = (ky == KW'(K - 1));
    wire          ox_last = (ox == OXW'(OW - 1));
    wire [C-1:0]  h       = (kx == '0) ? in_data : (hacc | in_data);
    wire [C-1:0]  v       = (ky == '0) ? h : (rowacc[ox] | h);

    always_ff @(posedge clk) begin
        if (fire) begin
            if (!kx_last) hacc <= h;
            else if (!ky_last) rowacc[ox] <= v;
        end
        if (fire && kx_last && ky_last) out_data <= v;
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            kx <= '0;
            ky <= '0;
            ox <= '0;
            out_valid <= 1'b0;
        end else begin
            if (en) out_valid <= fire && kx_last && ky_last;
            if (fire) begin
                kx <= kx_last ? '0 : kx + 1'b1;
                if (kx_last) begin
                    ox <= ox_last ? '0 : ox + 1'b1;
                    if (ox_last) ky <= ky_last ? '0 : ky + 1'b1;
                end
            end
        end
    end
endmodule
