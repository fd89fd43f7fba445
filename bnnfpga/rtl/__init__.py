"""SystemVerilog backend, Verilator/cocotb co-simulation and yosys resource estimates.

* :mod:`.backend`: IR + folding -> ``{relative path: text}`` (pure), written
  atomically by ``write_design``.  Static stage modules live in
  ``rtl_templates/*.sv``; per-layer modules (weight/threshold ROMs, or RAMs with
  ``runtime_params``) and the top level ``bnn_top`` come from jinja2 templates.
  The top level has exactly the ports and register map of docs/interface.md.
* :mod:`.cosim`: builds a design with Verilator through ``cocotb_tools.runner``
  (cached by a hash of the sources) and runs ``sim/bnn_bench.py``:
  ``cosimulate(...) -> CosimResult`` (scores, labels, cycles per frame,
  latency) and ``simulate(net, images, folding, top_k=1, **opts) -> scores``.
* :mod:`.yosys`: ``synth_xilinx -family xc7`` per stage and in total ->
  ``resources.json`` / ``resources.txt`` next to the design.
* :mod:`.cli`: ``bnnfpga rtl MODEL -o OUT [--folding F | --target-cycles N]
  [--top-k K] [--runtime-params] [--lint] [--yosys]``.

Architecture (one stage per line, FIFOs between all of them, valid/ready
handshakes everywhere, every stage one word per cycle):

    s_axis (64-bit) -> bnn_input (q = pixel - zero_point, 8 per beat)
      -> bnn_dwc (width converter, frame-aware for the padded last beat)
      -> per convolution: bnn_swg (line buffer ring of R >= 2K+1 rows, "same"
         padding as zero words) -> layer_<name> (bnn_mvtu + ROMs)
      -> per max-pool: bnn_dwc (to whole pixels) -> bnn_maxpool (OR)
      -> per dense layer: bnn_dwc (to SIMD words) -> layer_<name>
      -> bnn_dwc (PE scores -> one per word) -> bnn_output (scores, top-k)
    -> m_axis (32-bit);  s_axi_control -> bnn_control (ap_ctrl_hs registers)

``bnn_mvtu`` runs one (neuron fold, synapse fold) step per cycle, across
vector and frame boundaries, so the slowest stage sets the frame rate:
measured cycles per frame equal ``bnnfpga.folding.pipeline_cycles``.

Graph networks (binary ResNet / DenseNet): :mod:`.graph` (``generate``
dispatches there) adds fork duplicators, integer adds, concats, threshold
stages and integer-output MVUs, with shortcut FIFOs sized by
``bnnfpga.fifo_depth`` on the RTL's own cycle programs (docs/shortcut-networks.md).
"""
