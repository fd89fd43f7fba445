"""HLS backend benchmark on the CNV shape (BNN-PYNQ's CNV-W1A1 folding).

Prints: generation seconds, g++ build seconds (no cache), C-simulation images/s
(one thread, -O2), next to BNN-PYNQ's own C simulation of CNV (2.33 images/s,
/work/shared/ANCHORS.md), and checks every score against the golden model.

    .venv/bin/python benchmarks/bench_hls_csim.py [--images 100] [--mlp]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bnnfpga.folding import LayerFold  # noqa: E402
from bnnfpga.hls import backend, csim, shapes  # noqa: E402

BNN_PYNQ_CSIM = {"cnv": 2.33, "lfc": 48.0}  # images/s, ANCHORS.md


def bench(name, net, fold, n, anchor, runs=3):
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as td:
        t0 = time.perf_counter()
        files = backend.generate(net, fold)
        gen = time.perf_counter() - t0
        backend.write_project(files, Path(td) / "proj")
        exe, build_s = csim.build(Path(td) / "proj", Path(td) / "tb", cache=False)
        imgs = rng.integers(0, 256, (n,) + net.input.shape, dtype=np.uint8)
        best = None
        for _ in range(runs):
            res = csim.run_bench(exe, net, imgs, workdir=Path(td) / "run")
            best = res.seconds if best is None else min(best, res.seconds)
            assert res.matches, res.log
    plan = backend.plan(net, fold)
    print(f"{name}: {len(files)} files generated in {gen:.2f} s; g++ -O2 build {build_s:.1f} s; "
          f"C simulation {n / best:.1f} images/s ({n} images, best of {runs}; BNN-PYNQ C-sim: {anchor} images/s, "
          f"x{n / best / anchor:.0f}); bit-exact with the golden model; "
          f"{plan.pipeline_cycles} cycles/frame analytically")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--mlp", action="store_true", help="also an LFC-shaped MLP (784-1024x3-10)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; one C-simulation thread")
    rng = np.random.default_rng(0)
    bench("CNV", shapes.cnv(rng), shapes.CNV_FOLDING, args.images, BNN_PYNQ_CSIM["cnv"])
    if args.mlp:
        net = shapes.mlp(rng, 1024)
        # BNN-PYNQ's LFC folding, with SIMD 49 on the 784 inputs (it pads them to 832) and PE 2 on 10 classes
        fold = {"fc0": LayerFold(32, 49), "fc1": LayerFold(64, 32), "fc2": LayerFold(32, 64), "fc_out": LayerFold(2, 8)}
        bench("LFC-shaped MLP", net, fold, args.images * 10, BNN_PYNQ_CSIM["lfc"])


if __name__ == "__main__":
    main()
