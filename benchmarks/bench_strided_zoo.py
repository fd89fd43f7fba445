"""The ImageNet-class zoo networks (wu13, alexnet_bnn) through the pipeline: reduced versions
end to end, and the full-size geometry through the folding model.

Reduced versions (random data-driven BatchNorm statistics, 10 random images; --size, --width):
exports them, checks torch = golden, runs the HLS C simulation and the RTL co-simulation with
top-5 labels, and prints the wall-clock seconds, the lanes, and the measured and analytical cycles
per frame.  Full size (224x224, width 1): prints the slowest stages of the fastest folding
(everything at full PE and SIMD) and the window-generator bound of the strided first layer.

    python benchmarks/bench_strided_zoo.py [--size 64] [--width 0.25] [--skip-rtl] [--full]
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from bnnfpga import export, folding as fo, zoo  # noqa: E402
from bnnfpga.folding import LayerFold, simd_base  # noqa: E402


def reduced(name, size, width, target, skip_rtl):
    from test_strided_sim import zoo_net  # torch = golden is checked inside

    from bnnfpga.golden import GoldenModel
    from bnnfpga.hls import csim
    from bnnfpga.rtl import cosim

    net, images = zoo_net(name, size, width)
    fold = fo.for_target(net, target)
    gold = GoldenModel(net).run(images)
    t0 = time.perf_counter()
    ok_c = np.array_equal(csim.simulate(net, images, fold, top_k=5), gold)
    t1 = time.perf_counter()
    line = (f"{net.name:24} lanes {sum(f.pe * f.simd for f in fold.values()):5}  analytical "
            f"{fo.pipeline_cycles(net, fold, 5):7} cycles/frame  torch=golden yes  C-sim=golden "
            f"{'yes' if ok_c else 'NO'} ({t1 - t0:.0f} s)")
    if not skip_rtl:
        r = cosim.cosimulate(net, images, fold, top_k=5)
        ok_r = np.array_equal(r.scores, gold)
        line += (f"  RTL=golden {'yes' if ok_r else 'NO'} ({time.perf_counter() - t1:.0f} s), measured "
                 f"{r.cycles_per_frame:.0f} cycles/frame")
    print(line, flush=True)


def full(name):
    t = time.perf_counter()
    net = export.to_ir(zoo.build(name), (3, 224, 224), name=name)
    fast = {l.name: LayerFold(l.out_channels, simd_base(l)) for l in net.compute_layers()}
    st = sorted(fo.stage_cycles(net, fast), key=lambda s: -s.cycles)
    bits = sum(l.weights.size for l in net.compute_layers())
    print(f"{name} 224x224: {bits / 8e6:.1f} MB of weights, exported in {time.perf_counter() - t:.0f} s; "
          f"fastest folding: {st[0].cycles} cycles/frame ({st[0].name}); next: "
          + ", ".join(f"{s.name} {s.cycles}" for s in st[1:4]), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--skip-rtl", action="store_true")
    ap.add_argument("--full", action="store_true", help="also the full-size geometry (exports take about a minute)")
    a = ap.parse_args()
    for name, target in (("wu13", 50176), ("alexnet_bnn", 20000)):
        reduced(name, a.size, a.width, target, a.skip_rtl)
    if a.full:
        for name in ("wu13", "alexnet_bnn"):
            full(name)


if __name__ == "__main__":
    main()
