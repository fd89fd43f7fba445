#!/usr/bin/env python3
"""Folding optimizer and resource model figures.

    .venv/bin/python benchmarks/bench_folding.py            # model tables + optimizer results
    .venv/bin/python benchmarks/bench_folding.py --cosim    # also RTL co-simulation of a chosen folding
    .venv/bin/python benchmarks/bench_folding.py --cosim-lfc  # RTL co-simulation of the binarized LFC (slow)

Prints: the resource model's error against yosys on held-out configurations;
CNV-W1A1 under BNN-PYNQ's 2,272 lanes (SIMD may divide K*K*C_in) and under the
LUT/BRAM of BNN-PYNQ's own folding; CNV and LFC on the PYNQ-Z2 budget at 100 MHz,
with the binding resource; the LFC shape with binarized input (BNN-PYNQ's) at
356,633 frames/s.  --cosim: optimizer cycles vs RTL-measured cycles;
--cosim-lfc: the same for the binarized LFC's chosen folding (slow).
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402

import calibrate_resources as cal  # noqa: E402
from bnnfpga import folding as fold_mod, optimizer as O, random_net  # noqa: E402
from bnnfpga.folding import LayerFold  # noqa: E402
from bnnfpga.resources import ResourceModel  # noqa: E402


def fmt_fold(f):
    return " ".join(f"({v.pe},{v.simd})" for v in f.values())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cosim", action="store_true", help="co-simulate a chosen folding on the RTL")
    ap.add_argument("--cosim-lfc", action="store_true", help="co-simulate the binarized LFC's chosen folding (slow)")
    ap.add_argument("--cosim-cnv", action="store_true", help="co-simulate CNV's folding under 2,272 lanes (slow)")
    a = ap.parse_args()
    model = ResourceModel.load()
    print("== resource model vs yosys synth_xilinx -family xc7, HOLD-OUT configurations (not used to fit)")
    rows = cal.error_table(cal.load_data(), model)
    cal.print_table(rows, "holdout")
    for kind in ("mvtu", "swg", "fifo", "maxpool", "dwc"):
        hs = [r for r in rows if r["split"] == "holdout" and r["point"].startswith(kind)]
        if hs:
            print(f"  {kind:8s} LUT error max {max(r['lut_err'] for r in hs):6.1%} mean {np.mean([r['lut_err'] for r in hs]):6.1%}; "
                  f"BRAM error max {max(r['bram_err'] for r in hs):6.1%}  ({len(hs)} points)")
    cals = [r for r in rows if r["split"] == "cal"]
    print(f"  calibration points: {len(cals)}, hold-out points: {len(rows) - len(cals)}")

    cnv, lfc = O.bnn_pynq_network("cnv"), O.bnn_pynq_network("lfc")
    print("\n== CNV-W1A1 shape, BNN-PYNQ lane budget (2,272 PE x SIMD)")
    bp = {l.name: LayerFold(*pf) for l, pf in zip(cnv.compute_layers(), O.BNN_PYNQ_FOLDING["cnv"][:-1] + [(2, 1)])}
    ref = O.evaluate(cnv, bp, "pynq-z1")
    print(f"  BNN-PYNQ folding {fmt_fold(bp)} (last layer (2,1): 10 outputs): {ref.cycles:,} cycles, "
          f"{ref.lanes:,} lanes, model LUT {ref.resources.lut:,.0f} BRAM36 {ref.resources.bram36:.1f}")
    t = time.perf_counter()
    r = O.optimize(cnv, lanes=2272)
    print(f"  optimizer ({time.perf_counter() - t:.2f} s): {fmt_fold(r.folding)}: {r.cycles:,} cycles, {r.lanes:,} lanes; {r.message}")
    win = [f"{n} (SIMD {r.folding[n].simd} | {l.fan_in}, C_in {l.in_channels})" for n, l in
           ((l.name, l) for l in cnv.compute_layers()) if hasattr(l, "kernel") and l.in_channels % r.folding[n].simd]
    print(f"  -> ours {r.cycles:,} cycles/frame with {r.lanes:,} lanes vs BNN-PYNQ 32,768 with 2,272 lanes "
          f"({32768 / r.cycles:.3f}x faster); SIMD across kernel positions in: {', '.join(win) or 'none'}")
    print(f"  stages: {', '.join(f'{n} {c:,}' for n, _, c in r.stage_cycles)}")
    r3 = O.optimize(cnv, budget=O.Budget(lut=ref.resources.lut, bram36=ref.resources.bram36))
    print(f"  same LUT/BRAM as BNN-PYNQ's folding: {r3.cycles:,} cycles ({32768 / r3.cycles:.2f}x faster), "
          f"LUT {r3.resources.lut:,.0f}, BRAM36 {r3.resources.bram36:.1f}, {r3.lanes:,} lanes: {fmt_fold(r3.folding)}")

    print("\n== PYNQ-Z2 (xc7z020: 53,200 LUT, 140 BRAM36; 85% / 90% margins), 100 MHz")
    for name, net, target in (("CNV-W1A1", cnv, 9150), ("LFC-W1A1", lfc, 356633)):
        t = time.perf_counter()
        r = O.optimize(net, "pynq-z2")
        print(f"  {name}: fastest that fits ({time.perf_counter() - t:.2f} s): {r.summary()}")
        print(f"    folding {fmt_fold(r.folding)}")
        rt = O.optimize(net, "pynq-z2", target_fps=target)
        print(f"  {name} target {target:,} frames/s: {'MET' if rt.feasible else 'NOT MET'}: {rt.message}")
        if rt.feasible:
            print(f"    {rt.summary()}")
    lfcb = O.bnn_pynq_network("lfc", binarize_threshold=128)
    print("\n== LFC-W1A1 shape (784-1024-1024-1024-10), BINARIZED input (pixel >= 128, as BNN-PYNQ), PYNQ-Z2 at 100 MHz")
    print("   LUT/BRAM figures are the resource model's ESTIMATES (calibrated on yosys), not place-and-route results")
    print("   356,633 frames/s at 100 MHz = at most 280 cycles/frame")
    for lm, bm in ((0.85, 0.90), (0.90, 0.90), (1.0, 1.0)):
        t = time.perf_counter()
        r = O.optimize(lfcb, "pynq-z2", lut_margin=lm, bram_margin=bm)
        ok = r.frames_per_second >= 356633
        print(f"  margins LUT {lm:.0%} BRAM {bm:.0%} ({time.perf_counter() - t:.2f} s): {r.cycles:,} cycles/frame, "
              f"{r.frames_per_second:,.0f} frames/s ({'>=' if ok else '<'} 356,633); est. LUT {r.resources.lut:,.0f} of "
              f"53,200 ({r.resources.lut / 53200:.1%}), BRAM36 {r.resources.bram36:.1f} of 140 "
              f"({r.resources.bram36 / 140:.1%}), {r.lanes:,} lanes; {r.message}")
        print("    folding " + " ".join(f"{n}:(PE {f.pe}, SIMD {f.simd}" + (f", {f.lut_pe} PEs' weights in LUT ROM)" if f.lut_pe else ")")
                                      for n, f in r.folding.items()))
    print("  weight bandwidth: 256 cycles/frame read 11,368 weight bits per cycle; a RAMB36 gives at most 72 (140 x 72 = 10,080),")
    print("  so part of the weights must sit in LUT ROM (LayerFold.lut_pe, rom_style \"logic\" in the RTL)")

    if a.cosim:
        from bnnfpga.rtl import cosim

        print("\n== optimizer cycles vs RTL co-simulation")
        for seed in range(3):
            net = random_net.random_network(np.random.default_rng(100 + seed), "cnn")
            r = O.optimize(net, "pynq-z2")
            res = cosim.cosimulate(net, random_net.random_images(np.random.default_rng(seed), net, 8), r.folding)
            print(f"  random cnn {seed}: optimizer {r.cycles} cycles/frame, RTL measured {res.cycles_per_frame}, "
                  f"latency {res.latency_cycles} (bound {r.latency_cycles}), bit-exact")
        sys.path.insert(0, str(ROOT / "tests"))
        from fold_models import conv_net

        net = conv_net(1, 3, hw=8, channels=(8, 5), binarize=100)
        r = O.optimize(net, lanes=32)
        res = cosim.cosimulate(net, random_net.random_images(np.random.default_rng(0), net, 8), r.folding)
        print(f"  binarized cnn, SIMD across kernel positions {fmt_fold(r.folding)}: optimizer {r.cycles} cycles/frame, "
              f"RTL measured {res.cycles_per_frame}, bit-exact")
    if a.cosim_cnv:
        from bnnfpga.rtl import cosim

        r = O.optimize(cnv, lanes=2272)
        t = time.perf_counter()
        imgs = random_net.random_images(np.random.default_rng(0), cnv, 4)
        res = cosim.cosimulate(cnv, imgs, r.folding)
        print(f"\n== CNV under 2,272 lanes, chosen folding {fmt_fold(r.folding)}: optimizer {r.cycles} cycles/frame, "
              f"RTL measured {res.cycles_per_frame}, bit-exact ({time.perf_counter() - t:.0f} s)")
    if a.cosim_lfc:
        from bnnfpga.rtl import cosim

        r = O.optimize(lfcb, "pynq-z2", lut_margin=0.9, bram_margin=0.9)
        t = time.perf_counter()
        res = cosim.cosimulate(lfcb, random_net.random_images(np.random.default_rng(0), lfcb, 6), r.folding)
        print(f"\n== LFC binarized, chosen folding {fmt_fold(r.folding)}: optimizer {r.cycles} cycles/frame, RTL measured "
              f"{res.cycles_per_frame}, bit-exact ({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
