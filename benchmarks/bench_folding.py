#!/usr/bin/env python3
"""Folding optimizer and resource model figures.

    .venv/bin/python benchmarks/bench_folding.py            # model tables + optimizer results
    .venv/bin/python benchmarks/bench_folding.py --cosim    # also RTL co-simulation of a chosen folding

Prints: the resource model's error against yosys on held-out configurations;
CNV-W1A1 under BNN-PYNQ's 2,272 lanes and under the LUT/BRAM of BNN-PYNQ's own
folding; CNV and LFC on the PYNQ-Z2 budget at 100 MHz, with the binding resource.
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
    r2 = O.optimize(cnv, lanes=2281)
    print(f"  with 2,281 lanes (+0.4%): {r2.cycles:,} cycles ({fmt_fold(r2.folding)})")
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
    if a.cosim:
        from bnnfpga.rtl import cosim

        print("\n== optimizer cycles vs RTL co-simulation")
        for seed in range(3):
            net = random_net.random_network(np.random.default_rng(100 + seed), "cnn")
            r = O.optimize(net, "pynq-z2")
            res = cosim.cosimulate(net, random_net.random_images(np.random.default_rng(seed), net, 8), r.folding)
            print(f"  random cnn {seed}: optimizer {r.cycles} cycles/frame, RTL measured {res.cycles_per_frame}, "
                  f"latency {res.latency_cycles} (bound {r.latency_cycles}), bit-exact")


if __name__ == "__main__":
    main()
