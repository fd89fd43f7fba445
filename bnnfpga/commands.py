"""Sub-commands of the foundation: train, export, predict, evaluate, info, demo."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("info", help="print a model file's layers, shapes and thresholds summary")
    p.add_argument("model")
    p.set_defaults(func=_info)


def _info(args) -> int:
    from .modelfile import load

    net = load(args.model)
    print(f"{net.name}: input {net.input.shape} zero_point={net.input.zero_point} frac_bits={net.input.frac_bits}")
    for layer, (i, o) in zip(net.layers, net.shapes()):
        print(f"  {layer.kind:8s} {layer.name:20s} {str(i):16s} -> {o}")
    return 0
