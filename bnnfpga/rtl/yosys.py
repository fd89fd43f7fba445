"""Resource estimates of a generated RTL design with yosys ``synth_xilinx``.

Synthesises the whole design for the 7-series (the xc7z020 of PYNQ-Z1/Z2),
out of context (no I/O buffers), keeping the hierarchy, and counts per stage
(each top-level instance, its sub-modules included) and in total:

* LUT: logic LUTs plus LUTs used as memory (distributed RAM, shift registers),
* FF: flip-flops,
* BRAM: block RAM tiles (a RAMB36 is one tile, a RAMB18 half of one),
* DSP: DSP48E1 slices.

Writes ``resources.json`` and ``resources.txt`` next to the design.  yosys
estimates are not Vivado's: they are a consistent yardstick, not a promise.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional

from ..cli import UserError

PART = "xc7z020"
CAPACITY = {"LUT": 53200, "FF": 106400, "BRAM": 140, "DSP": 220}
# LUTs taken by each distributed-memory primitive (Xilinx UG474)
LUTRAM_LUTS = {"RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1S": 4,
               "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "SRL16E": 1, "SRLC32E": 1, "RAM32M16": 8, "RAM64M8": 8}
FF_TYPES = {"FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1"}


class YosysMissing(UserError):
    """yosys is not installed: estimates are skipped."""


def yosys_path() -> Optional[str]:
    return shutil.which("yosys")


def _counts(types: Dict[str, int]) -> Dict[str, float]:
    lut = sum(n for t, n in types.items() if re.fullmatch(r"LUT[1-6]", t))
    lutram = sum(n * LUTRAM_LUTS[t] for t, n in types.items() if t in LUTRAM_LUTS)
    return {
        "LUT": lut + lutram,
        "LUTRAM": lutram,
        "FF": sum(n for t, n in types.items() if t in FF_TYPES),
        "BRAM": types.get("RAMB36E1", 0) + 0.5 * types.get("RAMB18E1", 0),
        "DSP": types.get("DSP48E1", 0),
    }


def _totals(stat: dict) -> Dict[str, Dict[str, int]]:
    """Per module, primitive counts including every sub-module (recursively)."""
    mods = {k.lstrip("\\"): {"num_cells_by_type": {t.lstrip("\\"): n for t, n in v.get("num_cells_by_type", {}).items()}}
            for k, v in stat["modules"].items()}
    memo: Dict[str, Dict[str, int]] = {}

    def flat(name: str) -> Dict[str, int]:
        if name in memo:
            return memo[name]
        out: Dict[str, int] = {}
        for t, n in mods[name].get("num_cells_by_type", {}).items():
            if t in mods:
                for tt, nn in flat(t).items():
                    out[tt] = out.get(tt, 0) + n * nn
            else:
                out[t] = out.get(t, 0) + n
        memo[name] = out
        return out

    return {m: flat(m) for m in mods}


def parse_stat_json(text: str) -> dict:
    """yosys 0.23's ``stat -json`` prints the design hierarchy as plain lines inside
    the JSON (lines such as ``$paramod$...\\bnn_mvtu   1``); drop them."""
    keep = [l for l in text.splitlines() if l.strip()[:1] in ('"', "{", "}", "[", "]", "")]
    return json.loads("\n".join(keep))


def _top_instances(dump: str) -> Dict[str, str]:
    """RTLIL dump of the top module -> {instance name: module name}."""
    out = {}
    for m in re.finditer(r"^\s*cell\s+(\S+)\s+(\S+)\s*$", dump, re.M):
        typ, inst = m.group(1), m.group(2)
        out[inst.lstrip("\\")] = typ.lstrip("\\")
    return out


def estimate(design_dir, timeout: Optional[float] = None, log: bool = False) -> dict:
    """Synthesise ``design_dir`` (written by bnnfpga.rtl.backend.write_design);
    returns the report and writes resources.json / resources.txt there."""
    exe = yosys_path()
    if exe is None:
        raise YosysMissing("yosys is not installed (apt-get install yosys): resource estimates skipped")
    d = Path(design_dir)
    try:
        meta = json.loads((d / "design.json").read_text())
        srcs = [l for l in (d / "files.f").read_text().splitlines() if l]
    except FileNotFoundError as e:
        raise UserError(f"{d}: not a generated RTL design ({Path(e.filename).name} missing)") from None
    top = meta["top"]
    work = d / ".yosys"
    work.mkdir(exist_ok=True)
    script = "\n".join([
        "read_verilog -sv " + " ".join(srcs),
        f"synth_xilinx -family xc7 -top {top} -noiopad",
        f"tee -q -o {work / 'stat.json'} stat -json",
        f"tee -q -o {work / 'top.il'} dump {top}/*",
    ]) + "\n"
    (work / "synth.ys").write_text(script)
    t0 = time.perf_counter()
    try:
        r = subprocess.run([exe, "-q", "-l", str(work / "yosys.log"), "-s", str(work / "synth.ys")], cwd=d,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"yosys did not finish within {timeout:.0f} s on {d}") from None
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        err = [l for l in (r.stderr + r.stdout).splitlines() if "ERROR" in l]
        raise UserError(f"yosys failed on {d}: {err[0] if err else r.stderr.strip()[-300:]}")
    stat = parse_stat_json((work / "stat.json").read_text())
    totals = _totals(stat)
    insts = _top_instances((work / "top.il").read_text())
    comments = {s["instance"]: s["comment"] for s in meta["stages"]}
    comments.update({f"u_fifo_s{f['stream']}": f"FIFO {f['producer']} -> {f['consumer']}, depth {f['depth']} {f['role']}".strip()
                     for f in meta.get("fifos", [])})  # graph designs (bnnfpga.rtl.graph)
    stages = []
    for inst, mod in insts.items():
        if mod not in totals:
            continue
        c = _counts(totals[mod])
        stages.append({"instance": inst, "module": mod.split("\\")[-1], "what": comments.get(inst, ""), **c})
    order = {s["instance"]: i for i, s in enumerate(meta["stages"])}

    def key(s):
        inst = s["instance"]
        if inst in order:
            return (order[inst], 1)
        m = re.match(r"u_fifo_(\d+)$", inst)
        return (int(m.group(1)), 0) if m else (-1, 0)

    stages.sort(key=key)
    top_types = {k.lstrip("\\"): v for k, v in stat["modules"].items()}[top].get("num_cells_by_type", {})
    glue = _counts({t.lstrip("\\"): n for t, n in top_types.items() if t.lstrip("\\") not in totals})
    stages.append({"instance": "(top-level glue)", "module": top, "what": "handshake gating, stream wiring", **glue})
    total = _counts(totals[top])
    report = {"tool": stat.get("creator", "yosys"), "part": PART, "command": f"synth_xilinx -family xc7 -top {top} -noiopad",
              "seconds": round(seconds, 1), "total": total,
              "utilisation": {k: round(total[k] / CAPACITY[k], 4) for k in CAPACITY},
              "capacity": CAPACITY, "stages": stages, "network": meta.get("network"),
              "folding": meta.get("folding")}
    (d / "resources.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (d / "resources.txt").write_text(format_report(report))
    if not log:
        shutil.rmtree(work, ignore_errors=True)
    return report


def format_report(rep: dict) -> str:
    lines = [f"Resource estimate ({rep['tool']}, {rep['command']}, target {rep['part']})",
             f"{'stage':28s} {'LUT':>8s} {'(LUTRAM)':>9s} {'FF':>8s} {'BRAM':>6s} {'DSP':>5s}  what"]
    for s in rep["stages"]:
        lines.append(f"{s['instance']:28s} {s['LUT']:8d} {s['LUTRAM']:9d} {s['FF']:8d} {s['BRAM']:6g} {s['DSP']:5d}  {s['what']}")
    t = rep["total"]
    lines.append(f"{'total':28s} {t['LUT']:8d} {t['LUTRAM']:9d} {t['FF']:8d} {t['BRAM']:6g} {t['DSP']:5d}")
    u = rep["utilisation"]
    lines.append(f"{rep['part']} utilisation: LUT {u['LUT']:.1%}, FF {u['FF']:.1%}, BRAM {u['BRAM']:.1%}, DSP {u['DSP']:.1%}")
    return "\n".join(lines) + "\n"
