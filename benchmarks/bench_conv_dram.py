"""Off-chip (DRAM) weights for convolutions (docs/offchip-weights.md, "Convolutions"): figures.

A convolution's DRAM unit handles one vector per output pixel; a batch is B consecutive
output pixels, so a run of N frames reads the weights ceil(N * OH*OW / B) times.

1. RTL co-simulation (cocotb + Verilator) of the small network of tests/test_conv_dram.py
   (6x6x1 -> conv 3x3 4 ch -> conv 3x3 8 ch (4x4 output pixels) -> pool -> dense 3):
   conv1 on chip or streamed at several batch sizes, with a DRAM that keeps up and a slow
   one (a beat held back with probability p): cycles/frame against the analytical
   figure, DRAM bytes per frame measured against the formula, bit-exactness.
2. A CNV-shaped network (32x32x3, valid 3x3 convs 64-64-MP-128-128-MP-256-256): per conv
   layer, DRAM bytes per frame at several batch sizes, bytes per cycle at the pace of a
   folding, and the resource model's estimate of the DRAM unit against the on-chip MVTU.
3. RTL co-simulation of a reduced CNV (channels / 4: 16-16-MP-32-32-MP-64-64) with its
   last four convolutions streamed: cycles/frame and DRAM bytes measured.
4. The folding optimizer on bnnfpga.offchip.cnv_dense_network (ZCU104), which may now move
   convolutions off chip as well as dense layers.
5. yosys synth_xilinx of bnn_mvtu_dram with a convolution's vector counter (CW > 32) at the
   shape of CNV's conv3 (PE=16 SIMD=32 SF=36 NF=8), and a smaller unit, batches 1 to 64,
   against the resource model.

    python benchmarks/bench_conv_dram.py [--skip-rtl] [--skip-fold] [--skip-yosys]
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402

from bnnfpga import folding as fo  # noqa: E402
from bnnfpga import offchip  # noqa: E402
from bnnfpga import optimizer as O  # noqa: E402
from bnnfpga import random_net as rn  # noqa: E402
from bnnfpga.folding import LayerFold  # noqa: E402
from bnnfpga.golden import GoldenModel  # noqa: E402
from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network  # noqa: E402
from bnnfpga.resources import ResourceModel, stage_specs  # noqa: E402


def _measured_bytes(r, frames):
    return sum(d["bytes"] for d in r.info.get("dram", [])) / frames


def small_rtl():
    from bnnfpga.rtl import cosim
    from test_conv_dram import conv_net

    net = conv_net()
    n = 20  # 160 and 320 pixels: the measured window (frames 10..20) spans whole groups for every B below
    images = rn.random_images(np.random.default_rng(1), net, n)
    gold = GoldenModel(net).run(images)
    base = {"conv0": LayerFold(2, 3), "fc_out": LayerFold(1, 8)}
    print(f"1. RTL co-simulation, {net.name}: conv1 (4,4,4)->(4,4,8) PE=2 SIMD=4, 36 weight words of 8 bits per pass, "
          f"16 output pixels per frame, {n} frames")
    print(f"   | conv1 weights | DRAM stall p | cycles/frame | analytical | first-frame latency | DRAM bytes/frame "
          f"(measured) | formula | bit-exact |")
    for label, f1, pause in [("on chip", LayerFold(2, 4), 0.0)]                                                 \
            + [(f"DRAM, batch {b}", LayerFold(2, 4, weights="dram", batch=b), 0.0) for b in (1, 2, 5, 8, 16, 32)] \
            + [(f"DRAM, batch {b}", LayerFold(2, 4, weights="dram", batch=b), 0.5) for b in (1, 4, 16)]:
        fold = dict(base, conv1=f1)
        r = cosim.cosimulate(net, images, fold, check=False, dram_pause=pause)
        ok = np.array_equal(r.scores, gold)
        formula = offchip.network_dram_bytes_per_frame(net, fold)
        print(f"   | {label} | {pause:.1f} | {r.cycles_per_frame:.1f} | {r.analytical_cycles} | {r.latency_cycles} | "
              f"{_measured_bytes(r, n):.1f} | {formula:.1f} | {ok} |")


def cnv_shaped(width=1.0, seed=0):
    rng = np.random.default_rng(seed)
    ch = [int(c * width) for c in (64, 64, 128, 128, 256, 256)]
    layers, c, h = [], 3, 32
    for i, oc in enumerate(ch):
        layers.append(Conv2D(f"conv{i}", c, oc, 3, "valid", rng.integers(0, 2, (oc, 9 * c), dtype=np.uint8),
                             input_kind="fixed" if i == 0 else "binary"))
        c, h = oc, h - 2
        if i in (1, 3):
            layers.append(MaxPool2D(f"pool{i}", 2, 2))
            h //= 2
    n = h * h * c
    for i, m in enumerate([int(512 * width), int(512 * width), 10]):
        layers.append(Dense(f"fc{i}" if i < 2 else "fc_out", n, m, rng.integers(0, 2, (m, n), dtype=np.uint8)))
        n = m
    net = Network(f"cnv-shaped-x{width:g}", InputSpec(32, 32, 3), layers, classes=[str(i) for i in range(10)])
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = rn._thresholds(rng, net, layer)
    return net.validate()


# FINN's CNV folding (cnv-w1a1 on PYNQ: conv PE 16,32,16,16,4,1 SIMD 3,32,32,32,32,32), dense on chip
FINN_CNV = {"conv0": (16, 3), "conv1": (32, 32), "conv2": (16, 32), "conv3": (16, 32), "conv4": (4, 32),
            "conv5": (1, 32), "fc0": (1, 4), "fc1": (1, 8), "fc_out": (5, 1)}


def cnv_table():
    net = cnv_shaped()
    model = ResourceModel.load()
    fold = {k: LayerFold(*v) for k, v in FINN_CNV.items()}
    cyc = fo.pipeline_cycles(net, fold)
    print(f"\n2. CNV-shaped network (32x32x3, valid 3x3 convs), FINN's CNV folding: {cyc:,} cycles/frame")
    batches = (1, 16, 64, 256)
    print("   | layer | OHxOW | weights (bytes) | PE x SIMD | " + " | ".join(f"B={b} bytes/frame (bytes/cycle)" for b in batches)
          + " | on chip LUT / BRAM36 | DRAM B=16: LUT / BRAM36 | DRAM B=64: LUT / BRAM36 |")
    for layer in [l for l in net.compute_layers() if isinstance(l, Conv2D)]:
        f = fold[layer.name]
        v = offchip.vectors_per_frame(net, layer)
        cells = []
        for b in batches:
            by = offchip.dram_bytes_per_frame(layer, LayerFold(f.pe, f.simd, weights="dram", batch=b), net)
            cells.append(f"{by:,.0f} ({by / cyc:.2f})")
        res = {}
        for tag, ff in (("on", f), ("d16", LayerFold(f.pe, f.simd, weights="dram", batch=16)),
                        ("d64", LayerFold(f.pe, f.simd, weights="dram", batch=64))):
            spec = [s for s in stage_specs(net, {**fold, layer.name: ff}) if s.layer == layer.name and s.kind == "conv"][0]
            res[tag], _ = model.stage(spec)
        wbytes = layer.weights.size // 8
        print(f"   | {layer.name} | {int(np.sqrt(v))}x{int(np.sqrt(v))} | {wbytes:,} | {f.pe} x {f.simd} | " + " | ".join(cells)
              + "".join(f" | {res[t].lut:,.0f} / {res[t].bram36:.1f}" for t in ("on", "d16", "d64")) + " |")
    print("   (DRAM columns include the weight DMA: ~1,000 LUT and 1 BRAM36 per layer)")


def reduced_cnv_rtl():
    from bnnfpga.rtl import cosim

    net = cnv_shaped(width=0.25, seed=1)
    fold = O.optimize(net, lanes=1024).folding
    off = ("conv2", "conv3", "conv4", "conv5")
    n = 32  # frames 16 and 32 end on group boundaries of every layer for B = 4 and 16 (1, 9, 100, 144 pixels per frame)
    images = rn.random_images(np.random.default_rng(2), net, n)
    gold = GoldenModel(net).run(images)
    print(f"\n3. RTL co-simulation of {net.name} (16-16-MP-32-32-MP-64-64, dense 128-128-10), {n} frames, "
          f"folding by the optimizer (1,024 lanes): "
          + ", ".join(f"{k} {v.pe}x{v.simd}" for k, v in fold.items()))
    print("   | convs 2-5 | batch | cycles/frame | analytical | first-frame latency | DRAM bytes/frame measured | formula | bit-exact | sim s |")
    for b in (None, 4, 16):
        ff = dict(fold)
        if b:
            for k in off:
                ff[k] = LayerFold(fold[k].pe, fold[k].simd, weights="dram", batch=b)
        t = time.time()
        r = cosim.cosimulate(net, images, ff, check=False)
        ok = np.array_equal(r.scores, gold)
        print(f"   | {'DRAM' if b else 'on chip'} | {b or '-'} | {r.cycles_per_frame:,.1f} | {r.analytical_cycles:,} | "
              f"{r.latency_cycles:,} | {_measured_bytes(r, n):,.1f} | {offchip.network_dram_bytes_per_frame(net, ff):,.1f} | "
              f"{ok} | {time.time() - t:.0f} |")


def fold():
    print("\n4. Folding optimizer, bnnfpga.offchip.cnv_dense_network() (64x64x3, same convs, dense 16384-4096-4096-1000), ZCU104")
    net = offchip.cnv_dense_network()
    for mode, mb in [("auto", None), ("auto", 8), ("always", 1)]:
        t = time.time()
        r = O.optimize(net, "zcu104", offchip=mode, max_batch=mb)
        offl = ", ".join(f"{n} B={f.batch}" for n, f in r.folding.items() if f.weights == "dram")
        print(f"   offchip={mode}{'' if mb is None else f' max_batch={mb}'} ({time.time() - t:.1f} s): "
              f"{'fits' if r.feasible else 'DOES NOT FIT'}, {r.frames_per_second:,.0f} frames/s, LUT {r.resources.lut:,.0f}, "
              f"BRAM36 {r.resources.bram36:,.1f}, DRAM {r.dram_bytes_per_cycle:,.2f} of {r.budget.dram:.1f} B/cycle; "
              f"off chip: {offl}")


def yosys_units(batches=(1, 4, 8, 16, 32, 64)):
    from bnnfpga.resources import cells_to_resources, synthesize, yosys_available
    from bnnfpga.rtl.backend import TEMPLATE_DIR

    if not yosys_available():
        print("\n5. yosys not found: skipped")
        return
    model = ResourceModel.load()
    print("\n5. yosys synth_xilinx (xc7) of bnn_mvtu_dram against the model (unit only, DMA excluded); the model's "
          "accumulator-multiplexer term (offchip.ACC_MUX_LUT, B > 8) shown separately")
    print("   | shape | B | yosys LUT / FF / BRAM36 | model LUT / FF / BRAM36 | model LUT without the B > 8 term |")
    src = {"bnn_mvtu_dram.sv": (TEMPLATE_DIR / "bnn_mvtu_dram.sv").read_text()}
    shapes = [("CNV conv3: PE=16 SIMD=32 SF=36 NF=8, CW=39 (100 pixels/frame)",
               dict(SIMD=32, PE=16, SF=36, NF=8, EW=1, FIXED=0, SCORES=0, AW=12, FANIN=1152, TADDR=3, CW=39)),
              ("PE=4 SIMD=32 SF=8 NF=8", dict(SIMD=32, PE=4, SF=8, NF=8, EW=1, FIXED=0, SCORES=0, AW=10, FANIN=256, TADDR=3))]
    for label, sh in shapes:
        for b in batches:
            p = dict(sh, B=b)
            got = cells_to_resources(synthesize(src, "bnn_mvtu_dram", p))
            est, _ = offchip.dram_mvtu_resources(model, {k: v for k, v in p.items() if k != "CW"} | {"DRAM": 1})
            lut = est.lut - offchip.DMA_LUT
            mux = offchip.ACC_MUX_LUT * p["PE"] * p["AW"] * max(0, b - 8)
            print(f"   | {label} | {b} | {got.lut:,.0f} / {got.ff:,.0f} / {got.bram36:.1f} | {lut:,.0f} / "
                  f"{est.ff - offchip.DMA_FF:,.0f} / {est.bram36 - offchip.DMA_BRAM36:.1f} ({lut / got.lut - 1:+.0%} LUT) | "
                  f"{lut - mux:,.0f} ({(lut - mux) / got.lut - 1:+.0%}) |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-rtl", action="store_true")
    ap.add_argument("--skip-fold", action="store_true")
    ap.add_argument("--skip-yosys", action="store_true")
    args = ap.parse_args()
    if not args.skip_rtl:
        small_rtl()
    cnv_table()
    if not args.skip_rtl:
        reduced_cnv_rtl()
    if not args.skip_fold:
        fold()
    if not args.skip_yosys:
        yosys_units()


if __name__ == "__main__":
    main()
