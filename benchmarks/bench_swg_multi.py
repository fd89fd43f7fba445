"""Multi-position sliding-window generator (bnnfpga.swg_multi): window-stage cycles before/after.

* Full-size wu13 first layer (224x224x3, 7x7 stride 2 "same", 128 outputs): the window stage and
  the MVTU at PE = 128 for several SIMD values, before (one kernel position per cycle, then a
  width converter: max(H*W*C/g, OH*OW*K*K*C/g), g = gcd(SIMD, C)) and now (P = SIMD/C positions
  per cycle: max(H*W, OH*OW*K*K/P)), from bnnfpga.folding.
* Full-size wu13 at its fastest folding (every layer at full PE; SIMD = C_in, the old fastest
  window, vs SIMD = K*K*C_in for the first layer): the slowest stages (shape-only IR, no weights).
* --rtl: the reduced wu13 (tests/test_strided_sim.py zoo_net('wu13', 32, 1/16)) at folding.for_target
  targets, whose first layer then reads 7 or 49 kernel positions per word: RTL co-simulation on
  10 images, bit-exact check, measured vs analytical cycles per frame.
* --yosys: bnn_swg_multi under yosys synth_xilinx against bnnfpga.swg_multi.estimate.

    python benchmarks/bench_swg_multi.py [--rtl] [--targets 2000,1024] [--yosys]
"""
import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from bnnfpga import folding as fo  # noqa: E402
from bnnfpga.folding import LayerFold  # noqa: E402
from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network  # noqa: E402


def _bits(out, fan_in):
    return np.broadcast_to(np.uint8(0), (out, fan_in))  # shapes only: no memory


def wu13_shapes(size=224, classes=1000) -> Network:
    """Wu et al.'s 13-layer network's geometry (bnnfpga.zoo.wu13, width 1) with weightless layers."""
    layers, c = [], 3

    def conv(name, out, k, s=1, kind="binary"):
        nonlocal c
        layers.append(Conv2D(name, c, out, k, "same", _bits(out, k * k * c), input_kind=kind, stride=s))
        c = out

    conv("conv0", 128, 7, 2, "fixed")
    layers.append(MaxPool2D("pool0", 3, 2))
    for i in range(1, 4):
        conv(f"conv{i}", 384, 3)
    layers.append(MaxPool2D("pool1", 2, 2))
    for i in range(4, 10):
        conv(f"conv{i}", 512, 3)
    layers.append(MaxPool2D("pool2", 2, 2))
    net = Network("wu13_shapes", InputSpec(size, size, 3), layers)
    from bnnfpga.ir import infer_shapes

    n = int(np.prod(infer_shapes(net)[-1][1]))
    layers += [Dense("fc0", n, 4096, _bits(4096, n)), Dense("fc1", 4096, classes, _bits(classes, 4096))]
    return net


def old_window(h, w, oh, ow, k, c, simd):
    """The single-position generator + converter (before): max(H*W*C/g, OH*OW*K*K*C/g)."""
    cf = c // math.gcd(simd, c)
    return max(h * w * cf, oh * ow * k * k * cf)


def first_layer_table():
    net = wu13_shapes()
    conv = net.layers[0]
    print("wu13 first layer, 224x224x3, 7x7 stride 2 'same' -> 112x112x128 (PE = 128):")
    print(f"{'SIMD':>5} {'P':>3} {'window before':>14} {'window now':>11} {'MVTU':>9} {'layer before':>13} {'layer now':>10} {'speed-up':>9}")
    base = {l.name: LayerFold(l.out_channels, l.in_channels if isinstance(l, Conv2D) else l.in_features)
            for l in net.compute_layers()}
    for simd in (3, 21, 49, 147):
        f = dict(base, conv0=LayerFold(128, simd))
        st = {s.name: s.cycles for s in fo.stage_cycles(net, f)}
        now, mvtu = st.get("conv0 window", 0), st["conv0"]
        before = old_window(224, 224, 112, 112, 7, 3, simd)
        p = fo.swg_positions(conv, f["conv0"])
        print(f"{simd:>5} {p:>3} {before:>14,} {now:>11,} {mvtu:>9,} {max(before, mvtu):>13,} {max(now, mvtu):>10,} "
              f"{max(before, mvtu) / max(now, mvtu):>8.1f}x")


def full_network():
    net = wu13_shapes()
    fast = {l.name: LayerFold(l.out_channels, l.in_channels if isinstance(l, Conv2D) else l.in_features)
            for l in net.compute_layers()}
    for what, simd in (("SIMD = C_in = 3 (the old fastest first layer)", 3), ("SIMD = 7x7x3 = 147 (P = 49)", 147)):
        f = dict(fast, conv0=LayerFold(128, simd))
        st = sorted(fo.stage_cycles(net, f), key=lambda s: -s.cycles)
        print(f"wu13 224x224, full PE, other convolutions SIMD = C_in, first layer {what}: {st[0].cycles:,} cycles/frame "
              f"({st[0].name}); next: " + ", ".join(f"{s.name} {s.cycles:,}" for s in st[1:4]))


def rtl(targets):
    from test_strided_sim import zoo_net  # torch = golden is checked inside

    from bnnfpga.golden import GoldenModel
    from bnnfpga.rtl import cosim

    net, images = zoo_net("wu13", 32, 1 / 16)
    gold = GoldenModel(net).run(images)
    conv = net.layers[0]
    best_old = min(old_window(32, 32, 16, 16, 7, 3, s) for s in (1, 3, 7, 21, 49, 147))
    print(f"{net.name}: the single-position generator bounds every folding at >= {best_old:,} cycles/frame (conv0 window)")
    for t in targets:
        f = fo.for_target(net, t)
        t0 = time.perf_counter()
        r = cosim.cosimulate(net, images, f, top_k=5)
        ok = np.array_equal(r.scores, gold)
        st = {s.name: s.cycles for s in fo.stage_cycles(net, f, 5)}
        print(f"  target {t:>6}: conv0 PE={f['conv0'].pe} SIMD={f['conv0'].simd} (P={fo.swg_positions(conv, f['conv0'])}), "
              f"conv0 window {st.get('conv0 window', 0):,}, lanes {sum(x.pe * x.simd for x in f.values()):,}, analytical "
              f"{fo.pipeline_cycles(net, f, 5):,}, RTL measured {r.cycles_per_frame:.1f} cycles/frame, bit-exact "
              f"{'yes' if ok else 'NO'} on {len(images)} images ({time.perf_counter() - t0:.0f} s)", flush=True)


def yosys_points():
    from bnnfpga import resources as R
    from bnnfpga import swg_multi as M

    src = {"bnn_swg_multi.sv": (ROOT / "rtl_templates" / "bnn_swg_multi.sv").read_text()}
    for (h, c, ew, k, pad, s, p) in ((32, 3, 8, 7, 3, 2, 7), (32, 8, 1, 3, 1, 1, 9), (16, 3, 8, 3, 1, 1, 3),
                                     (112, 3, 8, 7, 3, 2, 7), (224, 3, 8, 7, 3, 2, 7)):
        prm = M.rtl_params(h, h, c, ew, k, pad, s, p)
        t = time.perf_counter()
        r = R.cells_to_resources(R.synthesize(src, "bnn_swg_multi", prm, timeout=3600))
        lut, ff, mems = M.estimate(prm)
        print(f"H=W={h} C={c}x{ew}b K={k} S={s} P={p} banks {prm['NBR']}x{prm['NBC']}: yosys LUT {r.lut:.0f} FF {r.ff:.0f} "
              f"BRAM36 {r.bram36:g} LUTRAM {r.lutram:.0f}; estimate LUT {lut:.0f} FF {ff:.0f} "
              f"BRAM36 {sum(m.bram36 for m in mems):g} ({time.perf_counter() - t:.0f} s)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rtl", action="store_true", help="reduced wu13 RTL co-simulation (minutes)")
    ap.add_argument("--targets", default="2000,1024", help="for_target cycle targets for --rtl")
    ap.add_argument("--yosys", action="store_true", help="yosys points of bnn_swg_multi (minutes)")
    a = ap.parse_args()
    first_layer_table()
    full_network()
    if a.rtl:
        rtl([int(x) for x in a.targets.split(",")])
    if a.yosys:
        yosys_points()


if __name__ == "__main__":
    main()
