"""Per-stage ("hierarchical") yosys figure of a generated RTL design.

A whole CNV-size graph design is too big for one yosys run here (the CNV-size
binary DenseNet did not finish in 45 minutes).  Since ``synth_xilinx`` keeps the
hierarchy (no ``-flatten``), the flat run's total is the sum of its top-level
instances plus a few glue cells, and each instance is synthesised exactly as it
would be on its own.  So this module

* reads the top level (``rtl/bnn_top.sv``) of a design written by
  ``bnnfpga.rtl.backend.write_design`` and lists its instances with their
  parameter overrides (``bnn_fifo #(.W(624), .DEPTH(131)) u_fifo_s5``),
* synthesises each *distinct* stage once (``hierarchy -top <module> -chparam
  ...; synth_xilinx -family xc7``, the calibration's script), caching the cell
  counts under a key made of the module, its parameters and the text of every
  source it is read with (its ROM files included): identical FIFOs, converters
  and duplicators cost one run, and a second design that shares stages reuses
  them,
* sums the instances (LUT, LUTRAM, FF, BRAM36, DSP as ``bnnfpga.rtl.yosys``
  counts them).

The top level's own glue (a handful of LUTs in the flat run) is not included.

    python -m bnnfpga.rtl.stage_yosys DESIGN_DIR [--cache DIR] [-j 2] [--timeout 1800]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

from .. import resources as R
from .yosys import _counts

_INST = re.compile(r"^\s*([A-Za-z_]\w*)\s*(#\s*\((?P<params>[^;]*?)\))?\s+(?P<inst>u_\w+)\s*\(", re.M)
_PARAM = re.compile(r"\.(\w+)\s*\(\s*(-?\d+)\s*\)")
_MEM = re.compile(r"\$readmem[hb]\s*\(\s*\"([^\"]+)\"")


def top_instances(top_text: str) -> List[dict]:
    """[{instance, module, params}] of the top level's module instances, in file order."""
    out = []
    for m in _INST.finditer(top_text):
        mod = m.group(1)
        if mod in ("module", "assign", "wire", "logic", "input", "output"):
            continue
        ptxt = m.group("params") or ""
        params = {k: int(v) for k, v in _PARAM.findall(ptxt)}
        if ptxt.strip() and len(params) != ptxt.count("."):
            raise ValueError(f"instance {m.group('inst')}: parameters not all integer literals: {ptxt[:120]}")
        out.append({"instance": m.group("inst"), "module": mod, "params": params})
    return out


def stage_sources(design_dir: Path, module: str) -> Dict[str, str]:
    """The sources one stage is synthesised with: its own file, the generic bnn_* library (``hierarchy``
    drops what it does not use) and the ROM files its file reads."""
    rtl = design_dir / "rtl"
    own = rtl / f"{module}.sv"
    if not own.exists():
        raise FileNotFoundError(f"{own}: no source for module '{module}'")
    srcs = {f"{module}.sv": own.read_text()}
    for p in sorted(rtl.glob("bnn_*.sv")):
        if p.name != "bnn_top.sv" and p.name not in srcs:
            srcs[p.name] = p.read_text()
    for mem in _MEM.findall(srcs[f"{module}.sv"]):
        srcs[mem] = (design_dir / mem).read_text()
    return srcs


def stage_key(module: str, params: Dict[str, int], srcs: Dict[str, str]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([module, sorted(params.items())]).encode())
    for name in sorted(srcs):
        h.update(name.encode() + b"\0" + srcs[name].encode() + b"\0")
    return h.hexdigest()[:20]


def synth_stage(module: str, params: Dict[str, int], srcs: Dict[str, str], cache_dir: Optional[Path],
                timeout: float = 1800) -> dict:
    """{cells, seconds, cached} of one stage (cached by stage_key under cache_dir)."""
    key = stage_key(module, params, srcs)
    path = cache_dir / f"{key}.json" if cache_dir else None
    if path is not None and path.exists():
        return {**json.loads(path.read_text()), "cached": True}
    t0 = time.perf_counter()
    cells = R.synthesize(srcs, module, params or None, timeout=timeout)
    res = {"module": module, "params": params, "cells": cells, "seconds": round(time.perf_counter() - t0, 1)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
        tmp.replace(path)
    return {**res, "cached": False}


def estimate_per_stage(design_dir, cache_dir=None, jobs: int = 1, timeout: float = 1800, log=None,
                       small_first: bool = False) -> dict:
    """Per-stage yosys figure of a design directory: {total, stages, distinct, synthesised, seconds}.
    ``seconds`` is the yosys time of the stages synthesised in this call (cached ones cost none)."""
    d = Path(design_dir)
    cache = Path(cache_dir) if cache_dir else d / ".stage_yosys"
    insts = top_instances((d / "rtl" / "bnn_top.sv").read_text())
    work = {}
    for it in insts:
        srcs = stage_sources(d, it["module"])
        k = stage_key(it["module"], it["params"], srcs)
        it["key"] = k
        work.setdefault(k, (it["module"], it["params"], srcs))
    # biggest sources first, so that a long layer does not start last (``small_first``: the other way
    # round, for a second process sharing the cache: the two meet in the middle)
    order = sorted(work, key=lambda k: -sum(len(t) for t in work[k][2].values()))
    if small_first:
        order.reverse()
    results: Dict[str, dict] = {}
    t0 = time.perf_counter()
    cache.mkdir(parents=True, exist_ok=True)

    def claim(k) -> bool:
        """Several processes may share a cache: a stage is synthesised by the one that claims it."""
        try:
            os.close(os.open(cache / f"{k}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            return False

    def job(k):
        mod, prm, srcs = work[k]
        claimed = False
        if not (cache / f"{k}.json").exists():
            claimed = claim(k)
            if not claimed:
                return None  # another process has it: collected below
        try:
            r = synth_stage(mod, prm, srcs, cache, timeout)
        finally:
            if claimed:
                (cache / f"{k}.lock").unlink(missing_ok=True)
        results[k] = r
        if log is not None and not r["cached"]:
            c = _counts(r["cells"])
            print(f"  {mod:24s} {json.dumps(prm)[:60]:60s} {r['seconds']:7.1f} s  LUT {c['LUT']:6} BRAM {c['BRAM']:5g}",
                  file=log, flush=True)
        return r

    with ThreadPoolExecutor(max(1, jobs)) as ex:
        list(ex.map(job, order))
    while len(results) < len(work):  # stages claimed by other processes
        for k in [k for k in order if k not in results]:
            if (cache / f"{k}.json").exists():
                results[k] = synth_stage(*work[k], cache, timeout)
            elif not (cache / f"{k}.lock").exists():
                job(k)
        if len(results) < len(work):
            time.sleep(5)
    stages = []
    total = {"LUT": 0, "LUTRAM": 0, "FF": 0, "BRAM": 0.0, "DSP": 0}
    for it in insts:
        c = _counts(results[it["key"]]["cells"])
        stages.append({"instance": it["instance"], "module": it["module"], "params": it["params"], **c})
        for k in total:
            total[k] += c[k]
    synth = [r for r in results.values() if not r["cached"]]
    return {"total": total, "stages": stages, "instances": len(insts), "distinct": len(work),
            "synthesised": len(synth), "seconds": round(sum(r["seconds"] for r in synth), 1),
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "command": "per stage: hierarchy -top <module> -chparam ...; synth_xilinx -family xc7"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("design_dir")
    ap.add_argument("--cache", default=None, help="stage cache folder (default DESIGN_DIR/.stage_yosys)")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per stage")
    ap.add_argument("--out", default=None, help="write the report as JSON here")
    ap.add_argument("--small-first", action="store_true",
                    help="smallest stages first (a second process on the same cache works from the other end)")
    a = ap.parse_args(argv)
    rep = estimate_per_stage(a.design_dir, a.cache, a.jobs, a.timeout, log=sys.stdout, small_first=a.small_first)
    for s in rep["stages"]:
        print(f"{s['instance']:28s} {s['LUT']:8d} {s['LUTRAM']:8d} {s['FF']:8d} {s['BRAM']:6g} {s['DSP']:4d}  {s['module']}")
    t = rep["total"]
    print(f"{'total':28s} {t['LUT']:8d} {t['LUTRAM']:8d} {t['FF']:8d} {t['BRAM']:6g} {t['DSP']:4d}  "
          f"({rep['instances']} instances, {rep['distinct']} distinct, {rep['synthesised']} synthesised in {rep['seconds']} s)")
    if a.out:
        Path(a.out).write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
