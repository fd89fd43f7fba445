"""RTL of the shared-filter datapath (``LayerFold(..., share=True)``; bnnfpga.filter_share).

A shared convolution layer's module (``rtl_templates/layer_shared.sv.j2``) is a
drop-in for its standard one: the same SIMD-bit window words in, the same PE
outputs out.  Inside, ``bnn_share_gather`` regroups the window by channel group
and ``bnn_mvtu_shared`` computes the class popcounts once per channel and
shares them among the output channels; the pattern and selection ROMs are
``$readmemh`` files next to the weight files of the standard layers.
"""
from __future__ import annotations

from typing import Dict, List

from .. import filter_share

STATIC_MODULES = ["bnn_share_gather.sv", "bnn_mvtu_shared.sv"]


def _clog2(n: int) -> int:
    return max(1, int(n - 1).bit_length())


def context(L, layer, fold, runtime_params: bool = False) -> dict:
    """The template context of a shared layer (its tables included)."""
    if runtime_params:
        from .backend import RTLError

        raise RTLError(f"layer '{layer.name}': the shared-filter datapath (share) holds constant pattern tables "
                       "and cannot load parameters at run time; drop share or runtime_params")
    from .backend import RTLError, _hex, signed_bits

    if layer.thresholds is None:
        raise RTLError(f"layer '{layer.name}': the shared-filter datapath (share) needs a thresholded layer")
    t = filter_share.tables(layer, fold.pe, fold.simd)
    nwords = t.nf * t.cg
    # thresholds on the raw accumulator (bnnfpga.filter_share: raw = acc + D * nflip)
    aw = signed_bits(-1, t.raw_max + 1)
    tr = t.adjusted_thresholds(layer.thresholds.t)
    d = layer.thresholds.direction
    nflip = t.nflip()
    words = []
    for n in range(t.nf):
        val, text = 0, []
        for p in range(t.pe):
            c = n * t.pe + p
            val |= ((int(tr[c]) & ((1 << aw) - 1)) | ((1 << aw) if d[c] < 0 else 0)) << (p * (aw + 1))
            text.append(f"c{c} {'<=' if d[c] < 0 else '>='} {int(layer.thresholds.t[c])}+{t.d}*{int(nflip[c])}")
        words.append((_hex(val, t.pe * (aw + 1)), ", ".join(text)))
    unique = int(t.unique_per_channel.sum())
    filters = layer.out_channels * layer.in_channels
    return dict(tables=t, aw=aw, threshold_words=words, d=t.d,
                pattern_const=_hex(t.pattern_words()[0], t.pattern_word_bits) if t.cg == 1 else "",
                select_const=_hex(t.select_words()[0], t.select_word_bits) if nwords == 1 else "",
                threshold_const=words[0][0] if t.nf == 1 else "",
                k2=t.k2, cg=t.cg, u=t.u, ub=t.ub, nwords=nwords, paddr=_clog2(t.cg), saddr=_clog2(nwords),
                pattern_bits=t.pattern_word_bits, select_bits=t.select_word_bits,
                pattern_file=f"mem/{L.module}_patterns.mem", select_file=f"mem/{L.module}_select.mem",
                unique_total=unique, filters=filters, ratio=100.0 * unique / filters,
                cycles=filter_share.shared_window_cycles(layer, fold))


def render(env, L) -> str:
    return env.get_template("layer_shared.sv.j2").render(L=L, S=L.share)


def _hexw(v: int, bits: int) -> str:
    return f"{v:0{(bits + 3) // 4}x}"


def mem_files(L) -> Dict[str, str]:
    S = L.share
    t = S["tables"]
    head = f"// Layer '{L.name}': shared-filter datapath, {L.in_shape} -> {L.out_shape}"
    pat = [head, f"// pattern ROM: {t.cg} words x {S['pattern_bits']} bits; word g, slot (s, u) at "
                 f"[(s*{t.u} + u)*{t.k2} +: {t.k2}] (unused slots 0)"]
    for g, w in enumerate(t.pattern_words()):
        pat.append(f"// channels {g * t.simd}..{g * t.simd + t.simd - 1}: "
                   f"{', '.join(str(int(n)) for n in t.unique_per_channel[g * t.simd:(g + 1) * t.simd])} classes")
        pat.append(_hexw(w, S["pattern_bits"]))
    sel = [head, f"// selection ROM: {S['nwords']} words x {S['select_bits']} bits; word nf*{t.cg} + g, lane (p, s) "
                 f"at [(p*{t.simd} + s)*{t.ub + 1} +: {t.ub + 1}] = {{complement, slot}}"]
    for i, w in enumerate(t.select_words()):
        if i % t.cg == 0:
            sel.append(f"// nf {i // t.cg}: output channels {i // t.cg * t.pe}..{i // t.cg * t.pe + t.pe - 1}")
        sel.append(_hexw(w, S["select_bits"]))
    return {S["pattern_file"]: "\n".join(pat) + "\n", S["select_file"]: "\n".join(sel) + "\n"}


def static_modules(layers: List) -> List[str]:
    return list(STATIC_MODULES) if any(getattr(L, "share", None) for L in layers) else []


UNIT_SCRIPT = "unit.ys"


def unit_files(files: Dict[str, str], layer_name: str):
    """The files yosys needs to synthesize one compute layer's module alone (flattened, so that constants
    propagate into its units): (module name, {relative path: text}) with the script ``unit.ys``
    (run it as ``yosys -q -l unit.log -s unit.ys`` in that folder; it writes ``stat.json``)."""
    import json

    from . import backend

    module = json.loads(files["design.json"])["layer_modules"][layer_name]
    mine = [f"rtl/{n}" for n in backend.STATIC_MODULES + STATIC_MODULES]
    srcs = [p for p in mine if p in files] + [f"rtl/{module}.sv"]
    out = {p: files[p] for p in srcs}
    out.update({p: t for p, t in files.items() if p.startswith(f"mem/{module}_")})
    out[UNIT_SCRIPT] = "\n".join(["read_verilog -sv " + " ".join(srcs),
                                  f"synth_xilinx -family xc7 -top {module} -noiopad -flatten",
                                  "tee -q -o stat.json stat -json"]) + "\n"
    return module, out


def unit_counts(stat_text: str, module: str) -> dict:
    """yosys ``stat -json`` text -> {"LUT", "LUTRAM", "FF", "BRAM", "DSP"} of ``module`` and its sub-modules."""
    from . import yosys

    return dict(yosys._counts(yosys._totals(yosys.parse_stat_json(stat_text))[module]))


def synth_layer_unit(files: Dict[str, str], layer_name: str, workdir, timeout: float = 3600.0) -> dict:
    """yosys ``synth_xilinx -flatten`` of one compute layer's module of a generated design (not the whole
    design; :func:`unit_files`).  Returns {"LUT", "LUTRAM", "FF", "BRAM", "DSP", "seconds"}."""
    import subprocess
    import time
    from pathlib import Path

    from ..outdir import write_tree
    from . import yosys

    exe = yosys.yosys_path()
    if exe is None:
        raise yosys.YosysMissing("yosys is not installed (apt-get install yosys)")
    module, ufiles = unit_files(files, layer_name)
    d = write_tree(ufiles, workdir, what="layer unit", error=RuntimeError)
    t0 = time.perf_counter()
    r = subprocess.run([exe, "-q", "-l", "unit.log", "-s", UNIT_SCRIPT], cwd=d, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        err = [l for l in (r.stderr + r.stdout).splitlines() if "ERROR" in l]
        raise RuntimeError(f"yosys failed on {d}: {err[0] if err else r.stderr.strip()[-300:]}")
    out = unit_counts((Path(d) / "stat.json").read_text(), module)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
