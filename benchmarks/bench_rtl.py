"""RTL backend benchmark: LFC- and CNV-shaped networks at BNN-PYNQ's folding.

For each network: Verilator build seconds (a fresh build of the design; the
Verilator/cocotb runtime objects come from the shared cache), simulated frames
per second (cocotb + Verilator, wall clock, simulator start included), cycles
per frame measured (steady state, no back-pressure) vs analytical
(bnnfpga.folding.pipeline_cycles), first-frame latency, and yosys synth_xilinx
LUT/FF/BRAM/DSP totals for the xc7z020, next to BNN-PYNQ's published figures.

Foldings (bnnfpga.rtl.reference_nets): LFC (32,56) (64,32) (32,64) (5,8) —
BNN-PYNQ's (32,64) first layer needs the input padded to 832, ours keeps 784
inputs so SIMD 56; its last layer is padded to 64 outputs, ours has 10 so PE 5.
CNV (16,3) (32,32) (16,32) (16,32) (4,32) (1,32) (1,4) (1,8) (2,1) — BNN-PYNQ's,
the last layer (4,1) on 64 padded outputs becoming (2,1) on 10.

    .venv/bin/python benchmarks/bench_rtl.py [--networks lfc,cnv] [--no-yosys]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bnnfpga import folding as fold_mod  # noqa: E402
from bnnfpga import random_net  # noqa: E402
from bnnfpga.golden import GoldenModel  # noqa: E402
from bnnfpga.rtl import backend, cosim, reference_nets, yosys  # noqa: E402

# BNN-PYNQ on PYNQ-Z1/Z2 (Vivado 2018.2), /work/shared/ANCHORS.md
ANCHORS = {"lfc": {"LUT": 28360, "FF": 33470, "BRAM": 110, "DSP": 4, "cycles": 512},
           "cnv": {"LUT": 26072, "FF": 41312, "BRAM": 124, "DSP": 24, "cycles": 32768}}


def run(which: str, frames: int, do_yosys: bool, yosys_timeout: float, out_root: Path, fresh: bool) -> dict:
    net = getattr(reference_nets, which)()
    fold = getattr(reference_nets, f"{which}_folding")()
    files = backend.generate(net, fold)
    root = cosim.default_build_root()
    if fresh:
        shutil.rmtree(root / backend.design_hash(files), ignore_errors=True)
    images = random_net.random_images(np.random.default_rng(5), net, frames)
    r = cosim.cosimulate(net, images, fold, files=files)
    exact = bool(np.array_equal(r.scores, GoldenModel(net).run(images)))
    res = {
        "network": net.name, "folding": {k: [v.pe, v.simd] for k, v in fold.items()}, "frames": frames,
        "bit_exact": exact, "build_seconds": round(r.build_seconds, 1), "sim_seconds": round(r.sim_seconds, 1),
        "sim_frames_per_second": round(frames / r.sim_seconds, 2), "sim_cycles": r.sim_cycles,
        "sim_cycles_per_second": round(r.sim_cycles / r.sim_seconds), "cycles_measured": r.cycles_per_frame,
        "cycles_analytical": r.analytical_cycles, "latency_cycles": r.latency_cycles,
        "frames_per_second_at_100MHz": round(1e8 / r.cycles_per_frame) if r.cycles_per_frame else None,
    }
    design = backend.write_design(files, out_root / which)
    if do_yosys:
        res["yosys"] = resources(files, design, out_root, yosys_timeout)
    return res


def resources(files, design: Path, out_root: Path, timeout: float):
    """yosys totals of a design; synthesis is slow, so results are kept by design hash."""
    cache = out_root / "yosys_cache" / f"{backend.design_hash(files)}.json"
    if cache.exists():
        return dict(json.loads(cache.read_text()), cached=True)
    if yosys.yosys_path() is None:
        return "skipped: yosys not installed"
    try:
        rep = yosys.estimate(design, timeout=timeout)
    except Exception as e:  # a timeout or a yosys failure is reported, not fatal
        return f"failed: {e}"
    res = {**rep["total"], "seconds": rep["seconds"], "utilisation": rep["utilisation"]}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(res, indent=2) + "\n")
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", default="lfc,cnv")
    p.add_argument("--frames-lfc", type=int, default=200)
    p.add_argument("--frames-cnv", type=int, default=4)
    p.add_argument("--no-yosys", action="store_true")
    p.add_argument("--yosys-timeout", type=float, default=3600)
    p.add_argument("--reuse-build", action="store_true", help="do not force a fresh Verilator build")
    p.add_argument("--out", default=str(REPO / "runs" / "bench_rtl"))
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for which in [w.strip() for w in a.networks.split(",") if w.strip()]:
        t0 = time.perf_counter()
        frames = a.frames_lfc if which == "lfc" else a.frames_cnv
        res = run(which, frames, not a.no_yosys, a.yosys_timeout, out, not a.reuse_build)
        res["total_seconds"] = round(time.perf_counter() - t0, 1)
        results[which] = res
        anc = ANCHORS[which]
        print(f"\n== {res['network']} (folding {res['folding']})")
        print(f"  bit-exact vs golden model on {frames} frames: {res['bit_exact']}")
        print(f"  Verilator build: {res['build_seconds']} s; simulation: {res['sim_frames_per_second']} frames/s "
              f"({res['sim_cycles_per_second']} cycles/s, {res['sim_seconds']} s)")
        print(f"  cycles per frame: measured {res['cycles_measured']}, analytical {res['cycles_analytical']} "
              f"(BNN-PYNQ {anc['cycles']}); first-frame latency {res['latency_cycles']} cycles; "
              f"{res['frames_per_second_at_100MHz']} frames/s at 100 MHz")
        y = res.get("yosys")
        if isinstance(y, dict):
            print(f"  yosys xc7z020: LUT {y['LUT']} ({y['utilisation']['LUT']:.1%}), FF {y['FF']}, BRAM {y['BRAM']} tiles, "
                  f"DSP {y['DSP']} ({y['seconds']} s) — BNN-PYNQ/Vivado: LUT {anc['LUT']}, FF {anc['FF']}, "
                  f"BRAM {anc['BRAM']}, DSP {anc['DSP']}")
        elif y:
            print(f"  yosys: {y}")
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {out / 'results.json'}")
    return 0 if all(r["bit_exact"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
