"""Off-chip (DRAM) weights with fixed-point weights (docs/offchip-weights.md, "Fixed-point
weights"): yosys synth_xilinx (xc7) of bnn_mvtu_dram with WB-bit lanes against the resource
model's estimate (unit only, the weight DMA excluded), next to the binary unit of the same shape.

    python benchmarks/bench_offchip_fixed.py
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bnnfpga import offchip  # noqa: E402

UNITS = [  # binary input, 8-bit weights, scores (a wu13-fc1-like last layer), batch 1 and 4; its binary twin
    dict(SIMD=8, PE=4, SF=16, NF=8, EW=1, FIXED=0, SCORES=1, AW=16, FANIN=128, TADDR=3, B=1, WB=8),
    dict(SIMD=8, PE=4, SF=16, NF=8, EW=1, FIXED=0, SCORES=1, AW=16, FANIN=128, TADDR=3, B=4, WB=8),
    dict(SIMD=8, PE=4, SF=16, NF=8, EW=1, FIXED=0, SCORES=1, AW=9, FANIN=128, TADDR=3, B=1, WB=1),
    # fixed-point input (8-bit) x 4-bit weights, thresholds: DSP lanes
    dict(SIMD=4, PE=2, SF=16, NF=8, EW=8, FIXED=1, SCORES=0, AW=18, FANIN=64, TADDR=3, B=2, WB=4),
]


def main():
    from bnnfpga.resources import ResourceModel, cells_to_resources, synthesize, yosys_available
    from bnnfpga.rtl.backend import TEMPLATE_DIR

    if not yosys_available():
        print("yosys not found: skipped")
        return
    model = ResourceModel.load()
    src = {"bnn_mvtu_dram.sv": (TEMPLATE_DIR / "bnn_mvtu_dram.sv").read_text()}
    print("yosys synth_xilinx (xc7) of bnn_mvtu_dram vs the resource model (unit only, DMA excluded)")
    for p in UNITS:
        t = time.time()
        got = cells_to_resources(synthesize(src, "bnn_mvtu_dram", p))
        est, _ = offchip.dram_mvtu_resources(model, {**p, "DRAM": 1})
        lut, ff, bram = est.lut - offchip.DMA_LUT, est.ff - offchip.DMA_FF, est.bram36 - offchip.DMA_BRAM36
        print(f"  WB={p['WB']} FIXED={p['FIXED']} SCORES={p['SCORES']} PE={p['PE']} SIMD={p['SIMD']} B={p['B']}: "
              f"yosys LUT {got.lut:.0f} FF {got.ff:.0f} BRAM36 {got.bram36:.1f} DSP {got.dsp:.0f}; "
              f"model LUT {lut:.0f} FF {ff:.0f} BRAM36 {bram:.1f} DSP {est.dsp:.0f} ({time.time() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
