"""Off-chip (DRAM) weights (docs/offchip-weights.md): measured figures.

1. RTL co-simulation (cocotb + Verilator) of the MLP 64-32-32-10 with its hidden layer
   streamed from an emulated DRAM, against the same folding on chip: cycles per frame,
   bit-exactness, DRAM bytes; and the effect of a slow DRAM (a beat held back with
   probability p) for batch 1 vs batch 2 (batch B needs one beat per B cycles).
2. yosys synth_xilinx of one off-chip MVTU against the resource model's estimate.
3. The folding optimizer on a CNV-like network with large dense layers
   (bnnfpga.offchip.cnv_dense_network: dense 16384-4096-4096-1000, 11 MB of weights)
   for the ZCU104 and others: on chip only, off-chip allowed, and batch 1 only.

    python benchmarks/bench_offchip.py [--skip-rtl] [--skip-yosys]
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402

from bnnfpga import offchip  # noqa: E402
from bnnfpga import optimizer as O  # noqa: E402
from bnnfpga import random_net as rn  # noqa: E402
from bnnfpga.folding import LayerFold  # noqa: E402
from bnnfpga.golden import GoldenModel  # noqa: E402


def rtl():
    from bnnfpga.rtl import cosim
    from test_offchip import dram_mlp

    net = dram_mlp()
    images = rn.random_images(np.random.default_rng(1), net, 24)
    gold = GoldenModel(net).run(images)
    base = {"fc0": LayerFold(4, 8), "fc_out": LayerFold(2, 4)}
    print("1. RTL co-simulation, MLP 64-32-32-10, fc1 PE=4 SIMD=4 (64 weight words of 16 bits per pass), 24 frames")
    print(f"   {'fc1 weights':22s} {'DRAM stall p':>12s} {'cycles/frame':>12s} {'analytical':>10s} "
          f"{'latency':>8s} {'DRAM bytes':>10s} {'bit-exact':>9s}")
    for label, f1, pause in [("on chip", LayerFold(4, 4), 0.0), ("DRAM batch 1", LayerFold(4, 4, weights="dram", batch=1), 0.0),
                             ("DRAM batch 2", LayerFold(4, 4, weights="dram", batch=2), 0.0),
                             ("DRAM batch 3", LayerFold(4, 4, weights="dram", batch=3), 0.0),
                             ("DRAM batch 1", LayerFold(4, 4, weights="dram", batch=1), 0.5),
                             ("DRAM batch 2", LayerFold(4, 4, weights="dram", batch=2), 0.5),
                             ("DRAM batch 4", LayerFold(4, 4, weights="dram", batch=4), 0.5)]:
        fold = dict(base, fc1=f1)
        # 24 frames: a multiple of every batch, so the measured window spans whole batches
        r = cosim.cosimulate(net, images, fold, check=False, dram_pause=pause)
        ok = np.array_equal(r.scores, gold)
        by = sum(d["bytes"] for d in r.info.get("dram", []))
        print(f"   {label:22s} {pause:12.1f} {r.cycles_per_frame:12.1f} {r.analytical_cycles:10d} "
              f"{r.latency_cycles:8d} {by:10d} {str(ok):>9s}")


def yosys():
    from bnnfpga.resources import ResourceModel, synthesize, cells_to_resources, yosys_available
    from bnnfpga.rtl.backend import TEMPLATE_DIR

    if not yosys_available():
        print("2. yosys not found: skipped")
        return
    model = ResourceModel.load()
    print("2. yosys synth_xilinx (xc7) of bnn_mvtu_dram vs the resource model (unit only, DMA excluded)")
    src = {"bnn_mvtu_dram.sv": (TEMPLATE_DIR / "bnn_mvtu_dram.sv").read_text()}
    for p in [dict(SIMD=32, PE=4, SF=8, NF=8, EW=1, FIXED=0, SCORES=0, AW=10, FANIN=256, TADDR=3, B=4),
              dict(SIMD=64, PE=8, SF=16, NF=16, EW=1, FIXED=0, SCORES=0, AW=12, FANIN=1024, TADDR=4, B=8)]:
        t = time.time()
        cells = synthesize(src, "bnn_mvtu_dram", p)
        got = cells_to_resources(cells)
        est, _ = offchip.dram_mvtu_resources(model, {**p, "DRAM": 1})
        est_unit = est.lut - offchip.DMA_LUT, est.ff - offchip.DMA_FF, est.bram36 - offchip.DMA_BRAM36
        print(f"   PE={p['PE']} SIMD={p['SIMD']} SF={p['SF']} NF={p['NF']} B={p['B']}: yosys LUT {got.lut:.0f} FF {got.ff:.0f} "
              f"BRAM36 {got.bram36:.1f}; model LUT {est_unit[0]:.0f} FF {est_unit[1]:.0f} BRAM36 {est_unit[2]:.1f} "
              f"({time.time() - t:.0f} s)")


def fold():
    print("3. Folding optimizer, CNV-like network with dense 16384-4096-4096-1000 (bnnfpga.offchip.cnv_dense_network)")
    net = offchip.cnv_dense_network()
    dense_bits = sum(l.weights.size for l in net.compute_layers() if l.kind == "dense")
    print(f"   dense weights: {dense_bits / 1e6:.1f} Mbit = {dense_bits / 8e6:.1f} MB")
    for board, mode, mb in [("zcu104", "never", None), ("zcu104", "auto", None), ("zcu104", "auto", 8),
                            ("zcu104", "always", 1), ("ultra96-v2", "auto", None), ("pynq-z2", "auto", None)]:
        t = time.time()
        r = O.optimize(net, board, offchip=mode, max_batch=mb)
        fcs = ", ".join(f"{n} PE={f.pe} SIMD={f.simd} {f.weights}" + (f" B={f.batch}" if f.weights == "dram" else "")
                        for n, f in r.folding.items() if n.startswith("fc"))
        print(f"   {board} offchip={mode}{'' if mb is None else f' max_batch={mb}'} ({time.time() - t:.1f} s): "
              f"{'fits' if r.feasible else 'DOES NOT FIT'}, {r.frames_per_second:,.0f} frames/s, LUT {r.resources.lut:,.0f}, "
              f"BRAM36 {r.resources.bram36:,.1f}, DRAM {r.dram_bytes_per_cycle:,.2f} B/cycle ({r.dram_gbytes_per_s:.2f} GB/s)"
              + (f" of {r.budget.dram:.1f}" if r.budget.dram else ""))
        print(f"      {fcs}")
        print(f"      {r.message}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-rtl", action="store_true")
    ap.add_argument("--skip-yosys", action="store_true")
    args = ap.parse_args()
    if not args.skip_rtl:
        rtl()
    if not args.skip_yosys:
        yosys()
    fold()


if __name__ == "__main__":
    main()
