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
    t = filter_share.tables(layer, fold.pe, fold.simd)
    nwords = t.nf * t.cg
    unique = int(t.unique_per_channel.sum())
    filters = layer.out_channels * layer.in_channels
    return dict(tables=t, k2=t.k2, cg=t.cg, u=t.u, ub=t.ub, nwords=nwords, paddr=_clog2(t.cg), saddr=_clog2(nwords),
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
