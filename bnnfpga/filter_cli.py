"""`bnnfpga filter-stats`: unique 2D filters per binary convolution (filter repetitions, Hubara et al.)."""
from __future__ import annotations

import json
from pathlib import Path

from .cli import UserError


def register(sub) -> None:
    p = sub.add_parser("filter-stats", help="unique 2D filters (up to sign) per binary convolution and the "
                                            "XNOR-popcount operations sharing them would save")
    p.add_argument("model", help="model file (.bnn) or training checkpoint (.pt)")
    p.add_argument("--include-first", action="store_true", help="also count the pixel-input convolution")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the per-layer figures as JSON")
    p.set_defaults(func=_filter_stats)


def load_network(path):
    """An IR network from a model file, or from a checkpoint (exported in memory)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: model not found")
    if p.suffix == ".pt":
        from . import export
        from .train import load_checkpoint

        try:
            model, ck = load_checkpoint(p)
        except ValueError as e:
            raise UserError(str(e)) from None
        return export.to_ir(model, tuple(ck["kwargs"]["input_shape"]), name=p.stem)
    from . import modelfile

    return modelfile.load(p)


def _filter_stats(args) -> int:
    from .filter_repetition import analyze, repetition_table, summary

    net = load_network(args.model)
    print(repetition_table(net, include_fixed=args.include_first))
    if args.json:
        stats = analyze(net, args.include_first)
        data = {"network": net.name, "summary": summary(stats), "layers": [
            {"name": s.name, "kernel": s.kernel, "in": s.in_channels, "out": s.out_channels, "filters": s.filters,
             "unique": s.unique, "unique_ratio": s.unique_ratio, "random_ratio": s.random_ratio,
             "layer_wide_unique": s.unique_layer, "xnor_reduction": s.xnor_reduction,
             "ops_standard": s.ops_standard, "ops_shared": s.ops_shared} for s in stats]}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    return 0
