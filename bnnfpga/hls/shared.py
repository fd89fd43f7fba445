"""HLS of the shared-filter datapath (``LayerFold(..., share=True)``; bnnfpga.filter_share).

A shared convolution becomes two dataflow stages after its sliding-window
generator: ``bnn_share_gather`` (K*K*CG cycles per window) and
``bnn_mvtu_shared`` (CG*NF cycles per window), both in
``hls_templates/bnn_shared.h``.  The layer's parameter header gets the
pattern, selection and complement tables appended.
"""
from __future__ import annotations

from typing import List

from .. import filter_share

HEADER = "bnn_shared.h"


def stages(Stage, layer, ident: str, li: int, cur: str, pe: int, simd: int, pix: int, abits: int, shape: str):
    """The gather and shared-MVTU stages of a shared layer: (stages, output stream)."""
    from .backend import safe_text

    k2, cg, nf = layer.kernel ** 2, layer.in_channels // simd, layer.out_channels // pe
    t = filter_share.tables(layer, pe, simd)
    lname = safe_text(layer.name)
    gout, out = f"s{li}_{ident}_grp", f"s{li}_{ident}"
    unique = int(t.unique_per_channel.sum())
    g = Stage("gather", layer.name, f"channel-group gather of '{lname}' (shared filters)",
              [f"{k2 * cg} window words of {simd} channels -> {cg} words of {k2}x{simd} bits per window: "
               f"{pix * k2 * cg} cycles"],
              f"bnn_share_gather<{k2}, {cg}, {simd}, {pix}>({cur}, {gout}, frames)",
              gout, f"ap_uint<{k2 * simd}>", pix * k2 * cg, shape, "", str(simd))
    m = Stage("shared", layer.name, f"conv '{lname}' (shared filters)",
              [f"{shape}, fan-in {layer.fan_in}; {unique} unique 2D filters up to sign of "
               f"{layer.out_channels * layer.in_channels}, at most U = {t.u} per input channel",
               f"PE = {pe}, SIMD = {simd} channels: CG = {cg} x NF = {nf} steps x {pix} pixels = {pix * cg * nf} cycles",
               f"threshold on the last channel group ({abits}-bit accumulator); {pe} bits per word"],
              f"bnn_mvtu_shared<{simd}, {k2}, {pe}, {cg}, {nf}, {pix}, {t.u}, {abits}>"
              f"({gout}, {out}, {ident}_pat, {ident}_sel, {ident}_flip, {ident}_t, {ident}_neg, frames)",
              out, f"ap_uint<{pe}>", pix * cg * nf, shape, str(pe), str(simd))
    return [g, m], out


def _block(lines: List[str], items: List[str], indent: str, width: int = 100):
    cur = ""
    for it in items:
        piece = it + ","
        if cur and len(cur) + 1 + len(piece) > width:
            lines.append(indent + cur)
            cur = piece
        else:
            cur = f"{cur} {piece}" if cur else piece
    if cur:
        lines.append(indent + cur)


def tables_text(layer, ident: str, pe: int, simd: int, storage: str = "static const") -> str:
    """C++ tables of a shared layer (appended to its params header)."""
    t = filter_share.tables(layer, pe, simd)
    lines = ["", f'#include "{HEADER}"', "",
             f"// Shared-filter tables: {int(t.unique_per_channel.sum())} unique 2D filters (up to sign) of "
             f"{layer.out_channels * layer.in_channels}; U = {t.u} slots per channel.",
             f"// {ident}_pat[g][s][u]: class u of input channel g*{simd} + s, kernel position ky*K + kx at bit ky*K + kx.",
             f"{storage} bnn_rom<{t.k2}>::word {ident}_pat[{t.cg}][{simd}][{t.u}] = {{"]
    for g in range(t.cg):
        lines.append(f"  {{  // channels {g * simd}..{g * simd + simd - 1}")
        for s in range(simd):
            codes = [str(int(sum(int(b) << i for i, b in enumerate(t.patterns[g, s, u])))) for u in range(t.u)]
            lines.append("    {")
            _block(lines, codes, "      ")
            lines.append("    },")
        lines.append("  },")
    lines.append("};")
    for name, arr, ctype in (("sel", t.index, "uint16_t"), ("flip", t.flip, "ap_uint<1>")):
        what = ("slot index" if name == "sel" else "1: complement") + " of output nf*PE + pe on channel g*SIMD + s"
        lines += ["", f"// {ident}_{name}[nf*{t.cg} + g][pe][s]: {what}.",
                  f"{storage} {ctype} {ident}_{name}[{t.nf * t.cg}][{pe}][{simd}] = {{"]
        for n in range(t.nf):
            for g in range(t.cg):
                lines.append(f"  {{  // nf {n}, g {g}")
                for p in range(pe):
                    lines.append("    {")
                    _block(lines, [str(int(v)) for v in arr[n, g, p]], "      ")
                    lines.append("    },")
                lines.append("  },")
        lines.append("};")
    return "\n".join(lines) + "\n"
