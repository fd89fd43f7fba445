"""`bnnfpga rtl MODEL -o OUT [--folding F | --target-cycles N] [--top-k K] [--yosys] [--lint]`:
generate the SystemVerilog accelerator of a model file (and optionally lint it
with Verilator and estimate its resources with yosys)."""
from __future__ import annotations

import subprocess
import time


def register(sub) -> None:
    from ..sim_cli import add_folding_args

    p = sub.add_parser("rtl", help="generate the SystemVerilog accelerator of a model (optionally: yosys resources)")
    p.add_argument("model", help="model file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="design folder to write (replaced atomically)")
    add_folding_args(p)
    p.add_argument("--top-k", type=int, default=1, help="labels emitted after the scores (default 1)")
    p.add_argument("--fifo-depth", type=int, default=None, help="depth of every inter-stage FIFO (default: sized per stage)")
    p.add_argument("--runtime-params", action="store_true",
                   help="weights/thresholds in RAMs loadable through the do_init registers")
    p.add_argument("--yosys", action="store_true", help="estimate LUT/FF/BRAM/DSP with yosys synth_xilinx (xc7z020)")
    p.add_argument("--lint", action="store_true", help="run verilator --lint-only -Wall on the result")
    p.set_defaults(func=_rtl)


def _rtl(args) -> int:
    from ..cli import UserError
    from ..folding import stage_cycles
    from ..sim_cli import load_model, resolve_folding
    from . import backend

    net = load_model(args.model)
    fold = resolve_folding(net, args)
    t0 = time.perf_counter()
    files = backend.generate(net, fold, top_k=args.top_k, fifo_depth=args.fifo_depth,
                             runtime_params=args.runtime_params)
    out = backend.write_design(files, args.output)
    stages = stage_cycles(net, fold, args.top_k)
    if net.is_graph:  # the RTL plan's own stages and cycles (bnnfpga.rtl.graph)
        import json

        from ..folding import StageCycles

        stages = [StageCycles(s["name"], s["kind"], s["cycles"], "") for s in json.loads(files["design.json"])["stage_cycles"]]
    width = max(len(s.name) for s in stages)
    for s in stages:
        print(f"  {s.name:{width}s} {s.kind:8s} {s.cycles:>9d} cycles/frame  {s.detail}")
    bound = max(s.cycles for s in stages)
    print(f"wrote {out} ({len(backend.sources(files))} SystemVerilog files, top '{backend.TOP}') in "
          f"{time.perf_counter() - t0:.2f} s; analytical {bound} cycles per frame")
    if args.lint:
        from .cosim import verilator_bin

        exe = verilator_bin() / "verilator"
        r = subprocess.run([str(exe), "--lint-only", "-Wall", "--top-module", backend.TOP] + backend.sources(files),
                           cwd=out, capture_output=True, text=True)
        if r.returncode != 0:
            raise UserError("verilator lint failed: " + (r.stderr.strip().splitlines() or ["?"])[0])
        print("verilator --lint-only -Wall: clean")
    if args.yosys:
        from . import yosys

        if yosys.yosys_path() is None:
            print("note: yosys is not installed (apt-get install yosys): resource estimates skipped")
            return 0
        rep = yosys.estimate(out)
        print(yosys.format_report(rep), end="")
        print(f"wrote {out / 'resources.json'} and resources.txt (yosys {rep['seconds']} s)")
    return 0
