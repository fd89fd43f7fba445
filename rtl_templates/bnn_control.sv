// bnn_control: AXI4-Lite slave with the ap_ctrl_hs-style register map of
// docs/interface.md, and the run bookkeeping: a run admits num_frames frames of
// IN_BEATS input beats and ends (ap_done) when num_frames * OUT_WORDS output
// words have been accepted.  A run with do_init = 1 moves no data: with
// RUNTIME = 1 it pulses param_we for one cycle (the layers write the parameter
// named by target_layer/target_mem/target_index/value), with RUNTIME = 0 (ROM
// parameters) it writes nothing; either way ap_done follows at once.
module bnn_control #(
    parameter int IN_BEATS  = 1,  // 64-bit input beats per frame
    parameter int OUT_WORDS = 1,  // output words per frame (classes + top_k)
    parameter int RUNTIME   = 0   // 1: parameters loadable at run time
) (
    input  logic        clk,
    input  logic        rst_n,
    // AXI4-Lite
    input  logic [6:0]  awaddr,
    input  logic        awvalid,
    output logic        awready,
    input  logic [31:0] wdata,
    input  logic [3:0]  wstrb,
    input  logic        wvalid,
    output logic        wready,
    output logic [1:0]  bresp,
    output logic        bvalid,
    input  logic        bready,
    input  logic [6:0]  araddr,
    input  logic        arvalid,
    output logic        arready,
    output logic [31:0] rdata,
    output logic [1:0]  rresp,
    output logic        rvalid,
    input  logic        rready,
    output logic        interrupt,
    // data path bookkeeping
    output logic        admit,     // input beats may enter the data path
    output logic        param_we,  // write one parameter (do_init run)
    output logic [31:0] param_layer,
    output logic [31:0] param_mem,
    output logic [31:0] param_index,
    output logic [63:0] param_value,
    output logic        run_start,  // a classification run starts (off-chip weight layers count its frames)
    output logic [31:0] run_frames, // its num_frames
    input  logic        in_beat,   // an input beat entered
    input  logic        out_word   // an output word was accepted downstream
);
    localparam int BB = (IN_BEATS > 1) ? $clog2(IN_BEATS) : 1;
    localparam int OB = (OUT_WORDS > 1) ? $clog2(OUT_WORDS) : 1;

    localparam logic [6:0] A_CTRL = 7'h00, A_GIE = 7'h04, A_IER = 7'h08, A_ISR = 7'h0C,
                           A_NFRAMES = 7'h10, A_DOINIT = 7'h18, A_LAYER = 7'h20,
                           A_MEM = 7'h28, A_INDEX = 7'h30, A_VLO = 7'h38, A_VHI = 7'h3C;

    // ------------------------------------------------------------ registers
    logic        ap_start, ap_done, ap_ready, auto_restart, gie, running;
    logic [1:0]  ier, isr;
    logic [31:0] num_frames, do_init, target_layer, target_mem, target_index, value_lo, value_hi;
    logic [31:0] frames_in, frames_out;   // frames still to admit / to emit in this run
    logic [BB-1:0] beat;
    logic [OB-1:0] word;

    // ------------------------------------------------------------ write channel
    logic       aw_have, w_have;
    logic [6:0] aw_q;
    logic [31:0] w_q;
    logic [3:0]  s_q;
    assign awready = !aw_have;
    assign wready  = !w_have;
    assign bresp   = 2'b00;
    wire do_write = aw_have && w_have && !bvalid;

    // byte-enable merge of a register write
    function automatic [31:0] merge(input [31:0] old_value, input [31:0] d, input [3:0] s);
        merge = old_value;
        for (int b = 0; b < 4; b++) if (s[b]) merge[b*8 +: 8] = d[b*8 +: 8];
    endfunction

    // ------------------------------------------------------------ read channel
    wire do_read = arvalid && arready;
    assign arready = !rvalid;
    assign rresp   = 2'b00;

    // ------------------------------------------------------------ run control
    wire start_run = ap_start && !running;
    wire in_last   = (beat == BB'(IN_BEATS - 1));
    wire out_last  = (word == OB'(OUT_WORDS - 1));
    wire finish    = running && (frames_out == '0);

    assign admit     = running && (frames_in != '0);
    assign param_layer = target_layer;
    assign param_mem   = target_mem;
    assign param_index = target_index;
    assign param_value = {value_hi, value_lo};
    assign interrupt = gie && |(isr & ier);
    assign run_start  = start_run && !do_init[0];
    assign run_frames = num_frames;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            aw_have <= 1'b0; w_have <= 1'b0; bvalid <= 1'b0; rvalid <= 1'b0;
            aw_q <= '0; w_q <= '0; s_q <= '0; rdata <= '0;
            ap_start <= 1'b0; ap_done <= 1'b0; ap_ready <= 1'b0; auto_restart <= 1'b0;
            gie <= 1'b0; ier <= '0; isr <= '0; running <= 1'b0;
            num_frames <= '0; do_init <= '0; target_layer <= '0; target_mem <= '0;
            target_index <= '0; value_lo <= '0; value_hi <= '0;
            frames_in <= '0; frames_out <= '0; beat <= '0; word <= '0;
            param_we <= 1'b0;
        end else begin
            param_we <= start_run && do_init[0] && (RUNTIME != 0);
            // ---- AXI-Lite write
            if (awvalid && awready) begin aw_have <= 1'b1; aw_q <= awaddr; end
            if (wvalid && wready)   begin w_have  <= 1'b1; w_q <= wdata; s_q <= wstrb; end
            if (bvalid && bready) bvalid <= 1'b0;
            if (do_write) begin
                aw_have <= 1'b0;
                w_have  <= 1'b0;
                bvalid  <= 1'b1;
                case (aw_q)
                    A_CTRL: if (s_q[0]) begin
                        if (w_q[0]) ap_start <= 1'b1;
                        auto_restart <= w_q[7];
                    end
                    A_GIE:     if (s_q[0]) gie <= w_q[0];
                    A_IER:     if (s_q[0]) ier <= w_q[1:0];
                    A_ISR:     if (s_q[0]) isr <= isr ^ w_q[1:0];
                    A_NFRAMES: num_frames   <= merge(num_frames, w_q, s_q);
                    A_DOINIT:  do_init      <= merge(do_init, w_q, s_q);
                    A_LAYER:   target_layer <= merge(target_layer, w_q, s_q);
                    A_MEM:     target_mem   <= merge(target_mem, w_q, s_q);
                    A_INDEX:   target_index <= merge(target_index, w_q, s_q);
                    A_VLO:     value_lo     <= merge(value_lo, w_q, s_q);
                    A_VHI:     value_hi     <= merge(value_hi, w_q, s_q);
                    default: ;
                endcase
            end
            // ---- AXI-Lite read (ap_done and ap_ready clear on read)
            if (rvalid && rready) rvalid <= 1'b0;
            if (do_read) begin
                rvalid <= 1'b1;
                case (araddr)
                    A_CTRL: begin
                        rdata <= {24'b0, auto_restart, 3'b0, ap_ready, !running, ap_done, ap_start};
                        ap_done  <= 1'b0;
                        ap_ready <= 1'b0;
                    end
                    A_GIE:     rdata <= {31'b0, gie};
                    A_IER:     rdata <= {30'b0, ier};
                    A_ISR:     rdata <= {30'b0, isr};
                    A_NFRAMES: rdata <= num_frames;
                    A_DOINIT:  rdata <= do_init;
                    A_LAYER:   rdata <= target_layer;
                    A_MEM:     rdata <= target_mem;
                    A_INDEX:   rdata <= target_index;
                    A_VLO:     rdata <= value_lo;
                    A_VHI:     rdata <= value_hi;
                    default:   rdata <= '0;
                endcase
            end
            // ---- runs
            if (start_run) begin
                running    <= 1'b1;
                ap_start   <= auto_restart;
                ap_ready   <= 1'b1;
                isr[1]     <= isr[1] | ier[1];
                beat       <= '0;
                word       <= '0;
                frames_in  <= (do_init[0]) ? '0 : num_frames;
                frames_out <= (do_init[0]) ? '0 : num_frames;
            end
            if (running && in_beat) begin
                beat <= in_last ? '0 : beat + 1'b1;
                if (in_last) frames_in <= frames_in - 1;
            end
            if (running && out_word) begin
                word <= out_last ? '0 : word + 1'b1;
                if (out_last) frames_out <= frames_out - 1;
            end
            if (finish) begin
                running <= 1'b0;
                ap_done <= 1'b1;
                isr[0]  <= isr[0] | ier[0];
            end
        end
    end
endmodule
