"""`bnnfpga fold` (choose PE/SIMD per layer for a board or a rate) and `bnnfpga report`
(per-layer table and HTML page with plots for a chosen or given folding)."""
from __future__ import annotations

from pathlib import Path

from . import folding as fold_mod


def _net(path):
    from .modelfile import load

    return load(path)


def _add_common(p):
    p.add_argument("model", help="model file (.bnn)")
    p.add_argument("--board", default=None, help="board whose LUT/BRAM budget and clock apply (e.g. pynq-z2)")
    p.add_argument("--clock-mhz", type=float, default=None, help="clock frequency (default: the board's, else 100)")
    p.add_argument("--lanes", type=int, default=None, help="cap on the total PE x SIMD lanes")
    p.add_argument("--lut-margin", type=float, default=0.85, help="share of the board's LUTs to use (default 0.85)")
    p.add_argument("--bram-margin", type=float, default=0.90, help="share of the board's BRAMs to use (default 0.90)")
    p.add_argument("--top-k", type=int, default=1, help="labels the accelerator returns (default 1)")
    p.add_argument("--no-lut-rom", action="store_true",
                   help="never move weights to LUT ROM (lut_pe) when block RAM binds (LUT-ROM weights cannot be loaded at run time)")
    p.add_argument("--offchip", choices=("never", "auto", "always"), default="auto",
                   help="layers may stream their weights from DRAM (docs/offchip-weights.md): auto (when "
                        "faster or when nothing fits on chip; default), never, always (every dense layer)")
    p.add_argument("--max-batch", type=int, default=None,
                   help="largest batch of frames (output pixels for a convolution) an off-chip layer may share one "
                        "weight read over")
    p.add_argument("--uram", choices=("never", "auto", "always"), default="auto",
                   help="weight memories in UltraRAM on boards that have it (bnnfpga.uram; loaded at run time): auto "
                        "(when block RAM binds; default), never, always")


def _budget(args):
    from .cli import UserError
    from .optimizer import Budget

    for name in ("lut_margin", "bram_margin"):
        v = getattr(args, name)
        if not 0 < v <= 1:
            raise UserError(f"--{name.replace('_', '-')} must be in (0, 1], got {v}")
    if args.lanes is not None and args.lanes < 1:
        raise UserError(f"--lanes must be positive, got {args.lanes}")
    if args.board:
        return Budget.for_board(args.board, args.lut_margin, args.bram_margin, args.lanes)
    return Budget(lanes=args.lanes)


def _optimize(args, net):
    from .cli import UserError
    from .optimizer import optimize

    if args.board is None and args.lanes is None and args.target_fps is None:
        raise UserError("give --board, --lanes or --target-fps (nothing to optimise against)")
    return optimize(net, args.board, target_fps=args.target_fps, clock_mhz=args.clock_mhz, budget=_budget(args),
                    top_k=args.top_k, lut_rom=not getattr(args, "no_lut_rom", False),
                    offchip=getattr(args, "offchip", "never"), max_batch=getattr(args, "max_batch", None),
                    uram=getattr(args, "uram", "auto"))


def cmd_fold(args):
    net = _net(args.model)
    r = _optimize(args, net)
    from .offchip import dram_weight_note
    from .uram import uram_weight_note

    layers = {l.name: l for l in net.layers}
    for name, kind, cyc in r.stage_cycles:
        f = r.folding.get(name)
        print(f"  {name:16s} {kind:8s} {cyc:10,d} cycles" + (f"  PE={f.pe} SIMD={f.simd}" if f else "")
              + (f" ({f.lut_pe} PEs' weights in LUT ROM)" if f and f.lut_pe else "")
              + (dram_weight_note(layers[name], f, net) + uram_weight_note(layers[name], f) if f else ""))
    print(("OK: " if r.feasible else "NOT MET: ") + r.summary())
    if args.output:
        Path(args.output).write_text(fold_mod.to_json(r.folding))
        print(f"wrote {args.output}")
    return 0 if r.feasible else 1


def cmd_report(args):
    from .optimizer import evaluate
    from .report import write_report

    net = _net(args.model)
    if args.folding:
        r = evaluate(net, fold_mod.load(args.folding, net), args.board, clock_mhz=args.clock_mhz,
                     budget=_budget(args), top_k=args.top_k)
    else:
        if args.board is None and args.lanes is None and args.target_fps is None:
            args.board = "pynq-z2"
        r = _optimize(args, net)
    files = write_report(net, r, args.output, top_k=args.top_k)
    print(files["text"].read_text(), end="")
    print(f"wrote {', '.join(str(p) for p in files.values())}")
    return 0


def register(sub):
    p = sub.add_parser("fold", help="choose PE/SIMD per layer: fastest folding that fits a board, or cheapest meeting a rate")
    _add_common(p)
    p.add_argument("--target-fps", type=float, default=None, help="frames per second to meet with the fewest resources")
    p.add_argument("-o", "--output", default=None, help="write the folding JSON here")
    p.set_defaults(func=cmd_fold)
    p = sub.add_parser("report", help="per-layer table and HTML page (plots) of a folding: cycles, resources, frames/s")
    _add_common(p)
    p.add_argument("--target-fps", type=float, default=None, help="report the cheapest folding meeting this rate")
    p.add_argument("--folding", default=None, help="folding JSON to report (default: the optimizer's choice)")
    p.add_argument("-o", "--output", required=True, help="report folder (report.txt, report.html, folding.json)")
    p.set_defaults(func=cmd_report)
