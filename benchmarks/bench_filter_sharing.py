"""The shared-filter datapath against the standard MVTU on trained convolutions: yosys LUTs and cycles.

For every binary 3x3 convolution of a trained CNV-shaped network (a checkpoint / model file given
with --model, or trained here like benchmarks/bench_filter_repetition.py), it generates the RTL of
the layer twice, standard (bnn_mvtu) and shared (bnn_share_gather + bnn_mvtu_shared, folding
``share: true``), synthesizes ONLY that layer's module with yosys ``synth_xilinx`` (xc7, out of
context; weight, pattern and selection ROMs included) and prints per fold point:

    layer, unique ratio, fold, standard LUTs / FFs, shared LUTs / FFs, cycles per frame each,
    LUT x cycles (area-time) of each, bit-exact (C-sim and RTL sim)

Fold points (per layer, C_in -> C_out):
  same      the same PE and SIMD (--pe, --simd) for both (the shared unit is then min(K*K, NF)
            times faster);
  balanced  the shared unit at SIMD = --simd with the smallest PE that keeps NF <= K*K (its compute
            keeps pace with its gather: K*K*CG cycles per pixel), and the standard unit with the
            fewest PE x SIMD lanes that is at least as fast (usually PE = C_out, the same SIMD);
  full      PE = C_out, SIMD = C_in for both (layers with C_in x C_out <= --full-max only): both take
            K*K cycles per pixel (the shared unit's gather) and the shared unit's tables are
            constants that synthesis folds into wiring.
Synthesis is flattened (``synth_xilinx -flatten``) for both units, so constants propagate.

Bit-exactness: each trained layer is put into a small chain (a 1x1 fixed-point stem with C_in
outputs, the trained layer with its trained thresholds, max-pool, a dense head) on 4x4 inputs
and run with the shared fold in HLS C-sim (g++) and RTL co-simulation (Verilator) against the
golden model.

    python benchmarks/bench_filter_sharing.py --model runs/share_cnv/ck/best.pt [--points same,balanced,full]

The syntheses can run elsewhere (a machine with more cores): ``--emit DIR`` writes one folder per
synthesis (the layer's sources, ROM files and ``unit.ys``) plus ``run_all.sh``; run that there
(``sh run_all.sh JOBS``), bring DIR back and print the table with ``--stats DIR``.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from bnnfpga import filter_share as fs  # noqa: E402
from bnnfpga import folding as fo  # noqa: E402
from bnnfpga.filter_repetition import analyze_layer, repetition_table  # noqa: E402
from bnnfpga.folding import LayerFold  # noqa: E402
from bnnfpga.golden import GoldenModel  # noqa: E402
from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network, Thresholds, infer_shapes  # noqa: E402
from bnnfpga.rtl import backend as rtl_backend  # noqa: E402
from bnnfpga.outdir import write_tree  # noqa: E402
from bnnfpga.rtl.shared import synth_layer_unit, unit_counts, unit_files  # noqa: E402

PAPER = 0.42


def load_or_train(args):
    if args.model:
        from bnnfpga.filter_cli import load_network

        return load_network(args.model)
    import bench_filter_repetition

    out = Path(args.out) / "train"
    bench_filter_repetition.main(["--data-root", args.data_root, "--width", str(args.width), "--epochs",
                                  str(args.epochs), "--out", str(out), "--check-images", "50"])
    from bnnfpga.filter_cli import load_network

    return load_network(out / "ck" / "best.pt")


def standard_for(layer, pixels, cycles):
    """The standard fold with the fewest PE x SIMD lanes that takes at most ``cycles`` per frame."""
    best = None
    for pe in fo.divisors(layer.out_channels):
        for simd in fo.divisors(layer.in_channels):
            c = pixels * layer.fan_in // simd * layer.out_channels // pe
            if c <= cycles:
                key = (pe * simd, -c, simd)
                if best is None or key < best[0]:
                    best = (key, LayerFold(pe, simd), c)
    return best[1]


def _clamp(d, n):
    return max(v for v in fo.divisors(n) if v <= d)


def design(net, layer, fold):
    return rtl_backend.generate(net, {**fo.minimal(net), layer.name: fold})


RUN_ALL = """#!/bin/sh
# run every synthesis folder's unit.ys with yosys, JOBS at a time (default: the number of CPUs)
cd "$(dirname "$0")"
JOBS=${1:-$(nproc)}
ls -d */ | sed 's#/$##' | xargs -P "$JOBS" -I{} sh -c 'cd {} && ${YOSYS:-yosys} -q -l unit.log -s unit.ys > /dev/null 2>&1; echo "{} $?"'
"""


def plan_points(net, convs, shapes, args):
    jobs = []
    for layer in convs:
        pixels = shapes[layer.name][1][0] * shapes[layer.name][1][1]
        pe, simd = _clamp(args.pe, layer.out_channels), _clamp(args.simd, layer.in_channels)
        for point in args.points.split(","):
            if point == "same":
                sh, st = LayerFold(pe, simd, share=True), LayerFold(pe, simd)
            elif point == "balanced":
                bpe = min(d for d in fo.divisors(layer.out_channels) if layer.out_channels // d <= layer.kernel ** 2)
                sh = LayerFold(bpe, simd, share=True)
                st = standard_for(layer, pixels, fo.layer_cycles(net, layer, sh))
            elif point == "full":
                if layer.in_channels * layer.out_channels > args.full_max:
                    continue
                sh = LayerFold(layer.out_channels, layer.in_channels, share=True)
                st = LayerFold(layer.out_channels, layer.in_channels)
            else:
                raise SystemExit(f"unknown point {point!r} (same, balanced, full)")
            jobs.append((layer, point, st, sh, f"{len(jobs):02d}_{layer.name}_{point}"))
    return jobs


def check_net(layer, seed=0):
    """A small chain around a trained layer: 1x1 fixed stem (C_in) -> the layer -> pool -> dense (4)."""
    rng = np.random.default_rng(seed)
    cin = layer.in_channels
    hw = 4
    stem = Conv2D("stem", 1, cin, 1, "valid", rng.integers(0, 2, (cin, 1), dtype=np.uint8), input_kind="fixed",
                  thresholds=Thresholds(rng.integers(-60, 60, cin).astype(np.int64), np.ones(cin, np.int8)))
    conv = Conv2D(layer.name, cin, layer.out_channels, layer.kernel, "same", layer.weights,
                  thresholds=layer.thresholds)
    n = (hw // 2) ** 2 * layer.out_channels
    fc = Dense("fc", n, 4, rng.integers(0, 2, (4, n), dtype=np.uint8))
    return Network(f"check_{layer.name}", InputSpec(hw, hw, 1), [stem, conv, MaxPool2D("pool"), fc]).validate()


def bit_exact(layer, fold, frames, workdir):
    from bnnfpga.hls import csim
    from bnnfpga.rtl import cosim

    net = check_net(layer)
    f = {"stem": LayerFold(layer.in_channels, 1), layer.name: fold, "fc": LayerFold(4, layer.out_channels)}
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (frames, 4, 4, 1), dtype=np.uint8)
    gold = GoldenModel(net).run(images)
    c = csim.simulate(net, images, f, workdir=Path(workdir) / "csim")
    r = cosim.cosimulate(net, images, f, check=False)
    return bool((c == gold).all()), bool((r.scores == gold).all())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="trained model (.bnn) or checkpoint (.pt); default: train one")
    ap.add_argument("--data-root", default="/work/shared/data")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--pe", type=int, default=4, help="shared unit's PE at the 'same' and 'equal' points")
    ap.add_argument("--simd", type=int, default=4, help="shared unit's SIMD (input channels per cycle)")
    ap.add_argument("--points", default="same,balanced,full")
    ap.add_argument("--full-max", type=int, default=2048, help="largest C_in x C_out synthesized fully parallel")
    ap.add_argument("--layers", default=None, help="comma-separated layer names (default: every binary 3x3 conv)")
    ap.add_argument("--frames", type=int, default=4, help="frames of the bit-exact check (0: skip it)")
    ap.add_argument("--out", default="runs/bench_filter_sharing")
    ap.add_argument("--emit", default=None, metavar="DIR", help="write the synthesis folders to DIR and stop")
    ap.add_argument("--stats", default=None, metavar="DIR", help="read the syntheses' stat.json from DIR (--emit)")
    args = ap.parse_args(argv)

    net = load_or_train(args)
    print(repetition_table(net))
    print()
    shapes = {l.name: s for l, s in zip(net.layers, infer_shapes(net))}
    convs = [l for l in net.layers if isinstance(l, Conv2D) and l.input_kind == "binary" and l.kernel > 1]
    if args.layers:
        want = args.layers.split(",")
        convs = [l for l in convs if l.name in want]
    jobs = plan_points(net, convs, shapes, args)
    if args.emit:
        files = {"run_all.sh": RUN_ALL}
        for layer, point, st, sh, tag in jobs:
            for kind, fold in (("std", st), ("sh", sh)):
                _, uf = unit_files(design(net, layer, fold), layer.name)
                files.update({f"{tag}_{kind}/{p}": t for p, t in uf.items()})
        write_tree(files, args.emit, what="synthesis jobs", executables=["run_all.sh"])
        print(f"wrote {2 * len(jobs)} synthesis folders to {args.emit}: run `sh {args.emit}/run_all.sh`, then --stats")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    head = (f"{'layer':7s} {'CinxCout':>9s} {'unique':>7s} {'U':>4s} {'point':8s} {'std PExSIMD':>11s} "
            f"{'std LUT':>8s} {'std FF':>7s} {'std cyc/frame':>13s} {'sh PExSIMD':>10s} {'sh LUT':>8s} {'sh FF':>7s} "
            f"{'sh cyc/frame':>12s} {'LUT sh/std':>10s} {'LUTxcyc sh/std':>14s} {'C-sim':>5s} {'RTL':>5s}")
    exact = {}
    with tempfile.TemporaryDirectory(prefix="bench_share_") as tmp:
        if args.frames:
            for layer in convs:
                pe, simd = _clamp(args.pe, layer.out_channels), _clamp(args.simd, layer.in_channels)
                t0 = time.perf_counter()
                exact[layer.name] = tuple("yes" if v else "NO" for v in bit_exact(
                    layer, LayerFold(pe, simd, share=True), args.frames, Path(tmp) / f"x_{layer.name}"))
                print(f"  ({layer.name}: bit-exact check, shared PE={pe} SIMD={simd}: C-sim {exact[layer.name][0]}, "
                      f"RTL {exact[layer.name][1]}, {time.perf_counter() - t0:.0f} s)", flush=True)
        print(head)
        print("-" * len(head))
        for layer, point, st, sh, tag in jobs:
            pixels = shapes[layer.name][1][0] * shapes[layer.name][1][1]
            rep = analyze_layer(layer, pixels)
            res = []
            for kind, fold in (("std", st), ("sh", sh)):
                files = design(net, layer, fold)
                if args.stats:
                    module = json.loads(files["design.json"])["layer_modules"][layer.name]
                    stat = Path(args.stats) / f"{tag}_{kind}" / "stat.json"
                    res.append(unit_counts(stat.read_text(), module) if stat.exists() else None)
                else:
                    res.append(synth_layer_unit(files, layer.name, Path(tmp) / f"{tag}_{kind}"))
            rs, rh = res
            if rs is None or rh is None:
                print(f"{layer.name:7s} {point:8s} (no synthesis result in {args.stats})")
                continue
            cs, ch = fo.layer_cycles(net, layer, st), fo.layer_cycles(net, layer, sh)
            u = fs.tables(layer, sh.pe, sh.simd).u
            ex = exact.get(layer.name, ("-", "-"))
            row = {"layer": layer.name, "in": layer.in_channels, "out": layer.out_channels,
                   "unique_ratio": rep.unique_ratio, "u": u, "point": point,
                   "standard": {"pe": st.pe, "simd": st.simd, "cycles": cs, **rs},
                   "shared": {"pe": sh.pe, "simd": sh.simd, "cycles": ch, **rh},
                   "csim_exact": ex[0], "rtl_exact": ex[1]}
            rows.append(row)
            print(f"{layer.name:7s} {f'{layer.in_channels}x{layer.out_channels}':>9s} "
                  f"{100 * rep.unique_ratio:6.1f}% {u:4d} {point:8s} {f'{st.pe}x{st.simd}':>11s} {rs['LUT']:8d} "
                  f"{rs['FF']:7d} {cs:13,d} {f'{sh.pe}x{sh.simd}':>10s} {rh['LUT']:8d} {rh['FF']:7d} {ch:12,d} "
                  f"{rh['LUT'] / max(1, rs['LUT']):9.2f}x {rh['LUT'] * ch / max(1, rs['LUT'] * cs):13.2f}x "
                  f"{ex[0]:>5s} {ex[1]:>5s}", flush=True)
            (out / "results.json").write_text(json.dumps({"network": net.name, "rows": rows}, indent=2) + "\n")
    print()
    print("LUT sh/std < 1 or LUTxcyc sh/std < 1: the shared datapath wins; > 1: the standard MVTU wins.")
    print(f"paper: 42% unique filters per layer on its CIFAR-10 ConvNet, about 3x fewer XNOR-popcounts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
