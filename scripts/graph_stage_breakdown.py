#!/usr/bin/env python3
"""Where a graph design's LUTs go: per stage kind, yosys (the flat run's per-instance figures, and/or
the per-stage figures of bnnfpga.rtl.stage_yosys from its stage cache) next to the resource model
now (bnnfpga.graph_resources, calibrated) and before its graph calibration (the chain models for
converters, FIFOs and integer-output MVTUs, first-principles formulas for add / threshold / concat /
dup).

    python scripts/graph_stage_breakdown.py --model resnet --flat DESIGN/resources.json \\
        --design DESIGN --cache STAGE_CACHE [--stages]

The network is rebuilt as benchmarks/bench_graph_rtl.py builds it (untrained, torch seed 0,
``fo.for_target(net, 32768)``); the design hash must match the design folder's.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bnnfpga import graph_resources as G  # noqa: E402
from bnnfpga.resources import Resources, ResourceModel, place_rom  # noqa: E402
from bnnfpga.rtl import backend  # noqa: E402
from bnnfpga.rtl.backend import _clog2  # noqa: E402

MODELS = {"cnv": ("cnv", dict(t_clip=0.5)),
          "resnet": ("binary_resnet", dict(stages=[2, 2, 2], base=48, t_clip=0.5)),
          "densenet": ("binary_densenet", dict(layers_per_unit=[4, 4, 4], growth=48, reduction=2.0, t_clip=0.5))}


def build(key, target=32768):
    import torch

    from bnnfpga import export, zoo
    from bnnfpga import folding as fo

    arch, kw = MODELS[key]
    torch.manual_seed(0)
    m = zoo.build(arch, input_shape=[3, 32, 32], classes=10, **kw).eval()
    net = export.to_ir(m, (3, 32, 32), name=key)
    return net, fo.for_target(net, target)


def before(model, e):
    """The estimate before the graph calibration (the code this calibration replaced)."""
    p = e.params
    if e.kind in ("conv", "dense"):
        return model.mvtu(p)[0]
    if e.kind == "dwc":
        return model.dwc(p)[0]
    if e.kind == "fifo":
        return model.fifo(p["W"], p["DEPTH"])[0]
    if e.kind == "dup":
        return Resources(lut=1.0)
    if e.kind == "add":
        bits = p["LANES"] * p["OW"]
        return Resources(lut=float(bits), ff=float(bits + 1))
    if e.kind == "concat":
        kb = _clog2(p["AWORDS"] + p["BWORDS"])
        return Resources(lut=float(p["L"] + kb + 2), ff=float(p["L"] + kb + 1))
    if e.kind == "threshold":
        rom = place_rom("thresholds", p["CF"], p["LANES"] * (p["TB"] + 1))
        cb = max(p["IB"], p["TB"]) + 1
        return Resources(lut=float(p["LANES"] * cb + _clog2(p["CF"]) + 2) + rom.luts, bram36=rom.bram36)
    return e.res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--flat", help="the flat yosys run's resources.json (bnnfpga.rtl.yosys)")
    ap.add_argument("--design", help="the design folder (for the per-stage figures from --cache)")
    ap.add_argument("--cache", help="stage cache of bnnfpga.rtl.stage_yosys")
    ap.add_argument("--stages", action="store_true", help="print every stage, not only the sums per kind")
    ap.add_argument("--json", help="write the table here")
    a = ap.parse_args(argv)
    from bnnfpga.rtl import stage_yosys as SY
    from bnnfpga.rtl.yosys import _counts

    net, fold = build(a.model)
    files = backend.generate(net, fold)
    print(f"{a.model}: design {backend.design_hash(files)}")
    model = ResourceModel.load()
    est = G.graph_network(model, net, fold)
    flat = {}
    if a.flat:
        flat = {s["instance"]: s for s in json.loads(Path(a.flat).read_text())["stages"]}
    per = {}
    if a.design and a.cache:
        d = Path(a.design)
        for it in SY.top_instances((d / "rtl" / "bnn_top.sv").read_text()):
            k = SY.stage_key(it["module"], it["params"], SY.stage_sources(d, it["module"]))
            f = Path(a.cache) / f"{k}.json"
            if f.exists():
                per[it["instance"]] = _counts(json.loads(f.read_text())["cells"])
    rows = []
    for e in est:
        inst = "u_control" if e.name == "control" else ("u_fifo_" + e.name.split()[1] if e.kind == "fifo" else e.name)
        kind = e.kind
        if kind in ("conv", "dense"):
            kind = "mvtu (int out)" if e.params.get("SCORES") else "mvtu (thresholded)"
        b = before(model, e)
        rows.append({"instance": inst, "kind": kind, "params": e.params,
                     "flat": flat.get(inst, {}).get("LUT"), "per_stage": per.get(inst, {}).get("LUT"),
                     "flat_bram": flat.get(inst, {}).get("BRAM"), "per_stage_bram": per.get(inst, {}).get("BRAM"),
                     "model": round(e.res.lut), "model_bram": e.res.bram36, "before": round(b.lut)})
    if a.stages:
        for r in rows:
            print(f"{r['instance']:26s} {r['kind']:20s} {str(r['flat']):>8} {str(r['per_stage']):>8} {r['model']:8} "
                  f"{r['before']:8}  {str(r['params'])[:70]}")
    kinds = {}
    for r in rows:
        k = kinds.setdefault(r["kind"], {"n": 0, "flat": 0, "per_stage": 0, "model": 0, "before": 0, "flat_n": 0, "ps_n": 0})
        k["n"] += 1
        k["model"] += r["model"]
        k["before"] += r["before"]
        if r["flat"] is not None:
            k["flat"] += r["flat"]
            k["flat_n"] += 1
        if r["per_stage"] is not None:
            k["per_stage"] += r["per_stage"]
            k["ps_n"] += 1
    print(f"\n{'stage kind':20s} {'stages':>6} {'yosys flat':>10} {'per-stage':>10} {'model':>8} {'err':>6} "
          f"{'before':>8} {'err':>6}")
    tot = {"flat": 0, "per_stage": 0, "model": 0, "before": 0}
    for kind, k in sorted(kinds.items(), key=lambda kv: -kv[1]["flat"]):
        ref = k["flat"] if k["flat_n"] == k["n"] else (k["per_stage"] if k["ps_n"] == k["n"] else None)
        err = lambda v: f"{(v - ref) / ref:+.0%}" if ref else "-"  # noqa: E731
        ps = f"{k['per_stage']}" + ("" if k["ps_n"] == k["n"] else f" ({k['ps_n']}/{k['n']})")
        print(f"{kind:20s} {k['n']:6} {k['flat'] if k['flat_n'] else '-':>10} {ps:>10} {k['model']:8} "
              f"{err(k['model']):>6} {k['before']:8} {err(k['before']):>6}")
        for t in tot:
            tot[t] += k[t]
    print(f"{'total':20s} {len(rows):6} {tot['flat']:>10} {tot['per_stage']:>10} {tot['model']:8} {'':6} {tot['before']:8}")
    if per:
        done = [r for r in rows if r["per_stage"] is not None]
        rest = [r for r in rows if r["per_stage"] is None]
        hyb_lut = sum(r["per_stage"] for r in done) + sum(r["model"] for r in rest)
        hyb_bram = sum(r["per_stage_bram"] for r in done) + sum(r["model_bram"] for r in rest)
        tot["hybrid"] = {"LUT": hyb_lut, "BRAM": hyb_bram, "synthesised": len(done), "modelled": len(rest),
                         "modelled_lut": sum(r["model"] for r in rest),
                         "modelled_instances": [r["instance"] for r in rest]}
        print(f"per-stage yosys on {len(done)} of {len(rows)} instances ({sum(r['per_stage'] for r in done)} LUT, "
              f"{sum(r['per_stage_bram'] for r in done):g} BRAM36), the model on the other {len(rest)} "
              f"({tot['hybrid']['modelled_lut']} LUT): {hyb_lut} LUT, {hyb_bram:g} BRAM36")
        if rest:
            print("  modelled: " + ", ".join(r["instance"] for r in rest if not r["instance"].startswith("u_fifo"))
                  + f" and {sum(r['instance'].startswith('u_fifo') for r in rest)} FIFOs")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "kinds": kinds, "total": tot}, indent=1) + "\n")


if __name__ == "__main__":
    main()
