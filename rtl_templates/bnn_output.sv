// bnn_output: the output stage.  Passes the frame's CLASSES int32 scores
// through (one per cycle) while keeping the TOPK best (score descending, ties to
// the lowest index) in a small sorted list, then emits the TOPK class indices.
// CLASSES + TOPK cycles per frame; `out_last` marks the frame's last word.
module bnn_output #(
    parameter int CLASSES = 10,
    parameter int TOPK    = 1
) (
    input  logic        clk,
    input  logic        rst_n,
    input  logic [31:0] in_data,
    input  logic        in_valid,
    output logic        in_ready,
    output logic [31:0] out_data,
    output logic        out_last,
    output logic        out_valid,
    input  logic        out_ready
);
    localparam int IB = (CLASSES > 1) ? $clog2(CLASSES) : 1;
    localparam int KB = (TOPK > 1) ? $clog2(TOPK) : 1;

    logic                labels;  // 0: passing scores, 1: emitting labels
    logic [IB-1:0]       cls;     // index of the next score
    logic [KB-1:0]       lab;     // index of the next label
    logic signed [31:0]  best_s [TOPK];
    logic [IB-1:0]       best_i [TOPK];
    logic signed [31:0]  new_s [TOPK];
    logic [IB-1:0]       new_i [TOPK];

    wire en   = !out_valid || out_ready;
    wire fire = en && !labels && in_valid;
    assign in_ready = en && !labels;
    wire cls_last = (cls == IB'(CLASSES - 1));
    wire lab_last = (lab == KB'(TOPK - 1));

    // Insert the incoming score: it goes after every kept entry with a score
    // >= its own (those have lower indices), entries past TOPK drop out.
    integer pos;  // where the incoming score goes in the sorted list
    always_comb begin
        pos = 0;
        for (int j = 0; j < TOPK; j++) begin
            if (j < $signed(32'(cls)) && best_s[j] >= $signed(in_data)) pos = j + 1;
        end
        for (int j = 0; j < TOPK; j++) begin
            if (j < pos) begin
                new_s[j] = best_s[j];
                new_i[j] = best_i[j];
            end else if (j == pos) begin
                new_s[j] = $signed(in_data);
                new_i[j] = cls;
            end else begin
                new_s[j] = best_s[(j > 0) ? j - 1 : 0];
                new_i[j] = best_i[(j > 0) ? j - 1 : 0];
            end
        end
    end

    always_ff @(posedge clk) begin
        if (fire) begin
            for (int j = 0; j < TOPK; j++) begin
                best_s[j] <= new_s[j];
                best_i[j] <= new_i[j];
            end
        end
        if (en) begin
            if (labels) begin
                out_data <= 32'(best_i[lab]);
                out_last <= lab_last;
            end else begin
                out_data <= in_data;
                out_last <= 1'b0;
            end
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            labels    <= 1'b0;
            cls       <= '0;
            lab       <= '0;
            out_valid <= 1'b0;
        end else if (en) begin
            out_valid <= labels || in_valid;
            if (labels) begin
                lab <= lab_last ? '0 : lab + 1'b1;
                if (lab_last) labels <= 1'b0;
            end else if (in_valid) begin
                cls <= cls_last ? '0 : cls + 1'b1;
                if (cls_last) labels <= 1'b1;
            end
        end
    end
endmodule
