// bnn_tlast_run: groups the accelerator's per-frame output packets into one
// packet per run, for the AXI DMA's S2MM channel.
//
// bnn_top sets TLAST on the last word of every frame (docs/interface.md). In
// direct-register mode the AXI DMA ends an S2MM transfer at the first TLAST, so
// a batch of N frames would need N transfers. This pass-through keeps TDATA,
// TVALID and TREADY as they are and forwards TLAST only on the last word of
// every `frames_per_packet`-th frame (0 or 1: every frame, as bnn_top does).
// The driver writes frames_per_packet (an AXI GPIO output) before each run.
// Combinational path only; one 32-bit frame counter.
`timescale 1ns / 1ps
`default_nettype none

module bnn_tlast_run (
    (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 ap_clk CLK" *)
    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axis:m_axis, ASSOCIATED_RESET ap_rst_n" *)
    input  wire        ap_clk,
    (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 ap_rst_n RST" *)
    (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
    input  wire        ap_rst_n,
    input  wire [31:0] frames_per_packet,

    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 s_axis TDATA" *)
    input  wire [31:0] s_axis_tdata,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 s_axis TVALID" *)
    input  wire        s_axis_tvalid,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 s_axis TREADY" *)
    output wire        s_axis_tready,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 s_axis TLAST" *)
    input  wire        s_axis_tlast,

    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 m_axis TDATA" *)
    output wire [31:0] m_axis_tdata,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 m_axis TVALID" *)
    output wire        m_axis_tvalid,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 m_axis TREADY" *)
    input  wire        m_axis_tready,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 m_axis TLAST" *)
    output wire        m_axis_tlast
);
    reg  [31:0] frames_done;  // frames of the current packet already passed
    wire        packet_end = (frames_per_packet <= 32'd1) || (frames_done == frames_per_packet - 32'd1);
    wire        frame_end  = s_axis_tvalid && m_axis_tready && s_axis_tlast;

    assign m_axis_tdata  = s_axis_tdata;
    assign m_axis_tvalid = s_axis_tvalid;
    assign s_axis_tready = m_axis_tready;
    assign m_axis_tlast  = s_axis_tlast && packet_end;

    always @(posedge ap_clk) begin
        if (!ap_rst_n)
            frames_done <= 32'd0;
        else if (frame_end)
            frames_done <= packet_end ? 32'd0 : frames_done + 32'd1;
    end
endmodule

`default_nettype wire
