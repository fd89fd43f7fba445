"""`bnnfpga sim`: run images through a generated accelerator in simulation.

One command for both backends; each backend provides
``simulate(net, images, folding, top_k=1, workdir=None, verbose=False)``
returning int32 scores (N, classes):

* ``--backend hls`` -> :func:`bnnfpga.hls.csim.simulate` (C simulation, g++)
* ``--backend rtl`` -> :func:`bnnfpga.rtl.cosim.simulate` (RTL simulation)

The scores are compared with the golden model and the command says whether
they matched (exit status 1 when they did not).
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np

BACKENDS = {
    "hls": "bnnfpga.hls.csim",
    "rtl": "bnnfpga.rtl.cosim",
}


def add_folding_args(p) -> None:
    """--folding FILE | --target-cycles N | --target-fps F, and --board (shared by compile/rtl/sim/build).

    Without --folding or --target-cycles, the folding optimizer (bnnfpga.optimizer) picks the
    fastest folding that fits the board (or the cheapest meeting --target-fps)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--folding", metavar="FILE", help="JSON file {layer: {pe, simd}}")
    g.add_argument("--target-cycles", type=int, metavar="N",
                   help="derive the folding: fewest lanes meeting N cycles per frame per layer")
    g.add_argument("--target-fps", type=float, metavar="F",
                   help="the optimizer's cheapest folding reaching F frames/s at the board clock")
    if not any(a.dest == "board" for a in p._actions):
        p.add_argument("--board", default="pynq-z2", help="board whose LUT/BRAM budget the optimizer respects (default pynq-z2)")


# The overlay's `sim` runtime folds a bare model (no overlay metadata) to this many cycles per
# frame: a small, quick-to-build Verilator model; `build` records the optimizer's folding instead.
DEFAULT_TARGET_CYCLES = 32768


def resolve_folding(net, args):
    """The folding the user asked for: a file, a per-layer cycle target, or the optimizer's choice."""
    from . import folding as fo

    if getattr(args, "folding", None):
        return fo.load(args.folding, net)
    target = getattr(args, "target_cycles", None)
    if target is not None:
        return fo.check(net, fo.for_target(net, target))
    if net.is_graph:  # a quick default: the optimizer (bnnfpga fold) runs the RTL plan per candidate
        print(f"note: '{net.name}' is a graph network; the folding meets {DEFAULT_TARGET_CYCLES} cycles per frame per "
              f"layer (bnnfpga fold MODEL --board B writes the optimizer's folding; use --folding to choose)")
        return fo.check(net, fo.for_target(net, DEFAULT_TARGET_CYCLES))
    from .optimizer import default_folding

    return fo.check(net, default_folding(net, board=getattr(args, "board", None) or "pynq-z2",
                                         target_fps=getattr(args, "target_fps", None)))


def load_model(path):
    from .cli import UserError

    try:
        from .modelfile import load
    except ImportError:
        raise UserError("model files cannot be read yet (bnnfpga.modelfile is missing)") from None
    if not Path(path).exists():
        raise UserError(f"{path}: model file not found")
    return load(path)


def load_images(net, args) -> np.ndarray:
    from .cli import UserError

    if args.input:
        try:
            x = np.load(args.input, allow_pickle=False)
        except FileNotFoundError:
            raise UserError(f"{args.input}: input file not found") from None
        except (ValueError, OSError) as e:
            raise UserError(f"{args.input}: not a .npy array ({e})") from None
        if args.images is not None:
            x = x[: args.images]
    else:
        from .random_net import random_images

        n = args.images if args.images is not None else 8
        x = random_images(np.random.default_rng(args.seed), net, n)
    net.input.quantize(x[:1])  # IRError naming the expected shape / dtype
    if len(x) == 0:
        raise UserError("no images to simulate")
    return x


def register(sub) -> None:
    p = sub.add_parser("sim", help="simulate a generated accelerator (HLS C-sim or RTL) and compare with the golden model")
    p.add_argument("model", help="model file")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="hls")
    p.add_argument("--input", metavar="X.npy", help="raw uint8 images (N,H,W) or (N,H,W,C); random images when absent")
    p.add_argument("--output", metavar="S.npy", help="write the int32 scores (N, classes) here")
    p.add_argument("--images", type=int, metavar="N", help="simulate only the first N images (default: all, or 8 random)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random images")
    p.add_argument("--top-k", type=int, default=1)
    p.add_argument("--workdir", help="keep the generated project and build here")
    add_folding_args(p)
    p.set_defaults(func=_sim)


def _sim(args) -> int:
    from .cli import UserError
    from .golden import GoldenModel

    net = load_model(args.model)
    fold = resolve_folding(net, args)
    images = load_images(net, args)
    if args.top_k < 1 or args.top_k > net.num_classes:
        raise UserError(f"--top-k must be in [1, {net.num_classes}], got {args.top_k}")
    mod = importlib.import_module(BACKENDS[args.backend])
    t0 = time.perf_counter()
    extra = {"result": {}} if args.backend == "rtl" else {}
    scores = mod.simulate(net, images, fold, top_k=args.top_k, workdir=args.workdir, **extra)
    dt = time.perf_counter() - t0
    golden = GoldenModel(net).run(images)
    ok = scores.shape == golden.shape and bool(np.array_equal(scores, golden))
    if args.output:
        np.save(args.output, np.asarray(scores, dtype=np.int32))
    bad = int((scores != golden).any(axis=1).sum()) if scores.shape == golden.shape else len(images)
    print(f"sim {args.backend}: {len(images)} images of {net.name} in {dt:.2f} s; "
          + ("matches the golden model (every score)" if ok else f"MISMATCH with the golden model on {bad} images"))
    m = extra.get("result")
    if m:
        cpf = m.get("cycles_per_frame")
        measured = f"{cpf:.1f}" if cpf is not None else "n/a (fewer than 3 frames)"
        print(f"cycles per frame: measured {measured}, analytical {m.get('analytical_cycles')}; "
              f"first-frame latency {m.get('latency_cycles')} cycles")
    return 0 if ok else 1
