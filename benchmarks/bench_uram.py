"""Folding optimizer with and without UltraRAM weights (bnnfpga.uram) on the full-size Wu et al.
network (zoo 'wu13', 224x224 input, width 1) for a ZCU104: per layer the weight place
(onchip / uram / dram), then frames/s, LUT / BRAM36 / URAM, DRAM traffic and what binds.

    python benchmarks/bench_uram.py [--first-last fixed|binary|both] [--board zcu104] [--model FILE]

The weights are random (exported from an untrained model): the optimizer's figures do not
depend on their values.  docs/results/uram.md has the figures of one run.
"""
from __future__ import annotations

import argparse
import time


def wu13(first_last: str):
    import torch

    from bnnfpga import zoo
    from bnnfpga.export import to_ir

    torch.manual_seed(0)
    return to_ir(zoo.build("wu13", first_last=first_last).eval(), (3, 224, 224), name=f"wu13-{first_last}")


def place(f) -> str:
    if f.weights == "dram":
        return f"dram B={f.batch}"
    if f.weights == "uram":
        return "uram"
    return "onchip" + (f" ({f.lut_pe} PE LUT ROM)" if f.lut_pe else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first-last", choices=("fixed", "binary", "both"), default="both")
    ap.add_argument("--board", default="zcu104")
    ap.add_argument("--model", default=None, help="a model file instead of building wu13")
    args = ap.parse_args()
    from bnnfpga.modelfile import load
    from bnnfpga.optimizer import optimize
    from bnnfpga.resources import ResourceModel
    from bnnfpga.uram import layer_uram_blocks

    model = ResourceModel.load()
    nets = [load(args.model)] if args.model else [wu13(fl) for fl in (("fixed", "binary") if args.first_last == "both"
                                                                    else (args.first_last,))]
    for net in nets:
        print(f"== {net.name} on {args.board}")
        res = {}
        for mode in ("never", "auto"):
            t0 = time.perf_counter()
            res[mode] = optimize(net, args.board, offchip="auto", uram=mode)
            print(f"  --uram {mode}: {time.perf_counter() - t0:.1f} s")
        per = {m: model.per_layer(net, r.folding) for m, r in res.items()}
        print(f"  {'layer':8s} {'weight bits':>12s} | {'never: PE x SIMD':>16s} {'place':>22s} {'BRAM36':>7s} | "
              f"{'auto: PE x SIMD':>15s} {'place':>22s} {'BRAM36':>7s} {'URAM':>5s}")
        from bnnfpga.ir import weight_bits

        for layer in net.compute_layers():
            row = f"  {layer.name:8s} {layer.weights.size * weight_bits(layer):12,d} |"
            for m in ("never", "auto"):
                f = res[m].folding[layer.name]
                r = per[m][layer.name]
                row += f" {f'{f.pe} x {f.simd}':>16s} {place(f):>22s} {r.bram36:7.1f}" + (
                    f" {layer_uram_blocks(layer, f) if f.weights == 'uram' else 0:5d}" if m == "auto" else " |")
            print(row)
        for m, r in res.items():
            print(f"  {m:5s}: {'fits' if r.feasible else 'DOES NOT FIT'}; {r.frames_per_second:,.2f} frames/s "
                  f"({r.cycles:,} cycles/frame, slowest '{r.bottleneck}'); LUT {r.resources.lut:,.0f}, "
                  f"BRAM36 {r.resources.bram36:,.1f}, URAM {r.resources.uram:,.0f}; DRAM {r.dram_bytes_per_cycle:,.2f} "
                  f"bytes/cycle ({r.dram_gbytes_per_s:,.2f} GB/s); binds: {r.binding}: {r.message}")


if __name__ == "__main__":
    main()
