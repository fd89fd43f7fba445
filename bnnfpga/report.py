"""Folding reports: a per-layer table (text) and an HTML page with plots.

Per compute layer: shape, PE, SIMD, cycles per frame, weight bits, estimated
LUT / BRAM (its MVTU plus the converters, window generator and FIFOs feeding
it), and its share of the bottleneck (cycles / slowest stage).  The page adds
frames/s and latency at the clock, the budget and what binds, and matplotlib
plots (cycles per stage, resources per layer, use of the budget) embedded as
base64 PNGs, so the single file opens anywhere.
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from .folding import LayerFold
from .ir import Conv2D, Network, infer_shapes, weight_bits
from .optimizer import FoldResult
from .resources import Resources, ResourceModel

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Row:
    name: str
    kind: str
    shape: str
    pe: Optional[int]
    simd: Optional[int]
    cycles: int
    weight_bits: int
    res: Resources
    share: float  # cycles / bottleneck cycles
    weights: str = ""  # "dram B=8" for an off-chip layer (docs/offchip-weights.md)
    dram_bytes: float = 0.0  # DRAM weight bytes per frame


def rows(net: Network, result: FoldResult, model: ResourceModel, top_k: int = 1) -> List[Row]:
    per_layer = model.per_layer(net, result.folding, top_k)
    shapes = {l.name: s for l, s in zip(net.layers, infer_shapes(net))}
    layers = {l.name: l for l in net.layers}
    out = []
    for name, kind, cyc in result.stage_cycles:
        if name in layers:
            layer = layers[name]
            i, o = shapes[name]
            f: Optional[LayerFold] = result.folding.get(name)
            wb = int(layer.weights.size) * weight_bits(layer) if hasattr(layer, "weights") else 0
            shape = f"{'x'.join(map(str, i))} -> {'x'.join(map(str, o))}"
            if isinstance(layer, Conv2D):
                shape += f" (k{layer.kernel} {layer.padding})"
            out.append(Row(name, kind, shape, f.pe if f else None, f.simd if f else None, cyc, wb,
                           per_layer.get(name, Resources()), cyc / result.cycles))
            if f is not None and f.weights == "dram":
                from .offchip import dram_bytes_per_frame

                out[-1].weights, out[-1].dram_bytes = f"dram B={f.batch}", dram_bytes_per_frame(layer, f, net)
            if f is not None and f.weights == "uram":  # bnnfpga.uram
                out[-1].weights = "uram"
        else:
            out.append(Row(name, kind, "", None, None, cyc, 0,
                           per_layer.get("", Resources()) if name == "input" else Resources(), cyc / result.cycles))
    return out


def repetition_rows(net: Network, folding: Dict[str, LayerFold]) -> List[tuple]:
    """Filter repetitions (Hubara et al. supp. C) per binary K x K convolution:
    (layer, unique 2D filters up to sign, filters, unique ratio, uniformly-random ratio, shared datapath?)."""
    from .filter_repetition import analyze

    if net.is_graph:
        return []
    return [(s.name, s.unique, s.filters, s.unique_ratio, s.random_ratio,
             bool(getattr(folding.get(s.name), "share", False))) for s in analyze(net)]


def _repetition_text(net: Network, folding: Dict[str, LayerFold]) -> List[str]:
    rr = repetition_rows(net, folding)
    if not rr:
        return []
    lines = ["filter repetitions (unique 2D filters per input channel, up to sign; paper: 42% on its CIFAR-10 ConvNet):"]
    for name, u, n, ratio, rnd, shared in rr:
        lines.append(f"  {name[:14]:14s} {u:,} of {n:,} unique ({ratio:.1%}; random weights {rnd:.1%})"
                     + ("  shared-filter datapath" if shared else ""))
    return lines


def text_table(net: Network, result: FoldResult, model: ResourceModel, top_k: int = 1) -> str:
    rs = rows(net, result, model, top_k)
    offchip = any(r.weights for r in rs)
    ur = any(r.res.uram for r in rs)  # weights in URAM (bnnfpga.uram): a URAM column
    head = (f"{'stage':14s} {'kind':8s} {'shape':36s} {'PE':>5s} {'SIMD':>5s} {'cycles/frame':>12s} "
            f"{'weight bits':>11s} {'LUT':>8s} {'BRAM36':>7s}{' URAM' if ur else ''} {'share':>6s}"
            + (f" {'weights':>11s} {'DRAM B/frame':>12s}" if offchip else ""))
    lines = [f"network '{net.name}': {len(net.compute_layers())} compute layers", head, "-" * len(head)]
    for r in rs:
        lines.append(f"{r.name[:14]:14s} {r.kind:8s} {r.shape[:36]:36s} {r.pe if r.pe else '':>5} {r.simd if r.simd else '':>5} "
                     f"{r.cycles:12,d} {r.weight_bits:11,d} {r.res.lut:8,.0f} {r.res.bram36:7.1f}"
                     + (f" {r.res.uram:4.0f}" if ur else "") + f" {r.share:6.1%}"
                     + (f" {r.weights or ('onchip' if r.pe else ''):>11s} {r.dram_bytes:12,.0f}" if offchip else "")
                     + ("  <- bottleneck" if r.cycles == result.cycles else ""))
    tot = result.resources
    lines.append("-" * len(head))
    lines.append(f"total (all stages, FIFOs, control): LUT {tot.lut:,.0f}, FF {tot.ff:,.0f}, BRAM36 {tot.bram36:,.1f} "
                 + (f"URAM {tot.uram:,.0f} " if tot.uram else "") + f"(LUT RAM {tot.lutram:,.0f}), PE x SIMD lanes {result.lanes:,}")
    lines.append(f"cycles per frame {result.cycles:,} (stage '{result.bottleneck}'): {result.frames_per_second:,.0f} frames/s "
                 f"at {result.clock_mhz:g} MHz; latency <= {result.latency_cycles:,} cycles ({result.latency_us:,.1f} us)")
    if offchip or result.budget.dram is not None:
        lines.append(f"DRAM: {result.dram_bytes_per_frame:,.0f} weight bytes/frame + {result.io_bytes_per_frame:,.0f} "
                     f"image/score bytes/frame = {result.dram_bytes_per_cycle:,.2f} bytes/cycle "
                     f"({result.dram_gbytes_per_s:,.2f} GB/s at {result.frames_per_second:,.0f} frames/s)")
    lines.append(f"budget: {result.budget.describe()}; {'fits' if result.feasible else 'DOES NOT FIT'}")
    for name, (u, a) in result.budget.usage(tot, result.lanes, result.dram_use).items():
        lines.append(f"  {name}: {u:,.1f} of {a:,.1f} allowed ({u / a if a else float('inf'):.0%})")
    if result.message:
        lines.append(result.message)
    lines += _repetition_text(net, result.folding)
    return "\n".join(lines) + "\n"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def plots(net: Network, result: FoldResult, model: ResourceModel, top_k: int = 1) -> Dict[str, bytes]:
    """{title: PNG bytes}: cycles per stage, resources per layer, budget use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = rows(net, result, model, top_k)
    out = {}
    fig, ax = plt.subplots(figsize=(8, 3.2))
    names = [r.name for r in rs]
    ax.bar(names, [r.cycles for r in rs], color=["#c0392b" if r.cycles == result.cycles else "#2e86c1" for r in rs])
    ax.axhline(result.cycles, color="#c0392b", lw=0.8, ls="--")
    ax.set_ylabel("cycles per frame")
    ax.set_title(f"Cycles per frame per stage (bottleneck {result.bottleneck}: {result.cycles:,})")
    ax.tick_params(axis="x", rotation=45)
    out["Cycles per frame per stage"] = _png(fig)

    comp = [r for r in rs if r.pe is not None]
    fig, ax1 = plt.subplots(figsize=(8, 3.2))
    x = range(len(comp))
    ax1.bar([i - 0.2 for i in x], [r.res.lut for r in comp], width=0.4, label="LUT", color="#2e86c1")
    ax1.set_ylabel("LUT")
    ax2 = ax1.twinx()
    ax2.bar([i + 0.2 for i in x], [r.res.bram36 for r in comp], width=0.4, label="BRAM36", color="#e67e22")
    ax2.set_ylabel("BRAM36")
    ax1.set_xticks(list(x))
    ax1.set_xticklabels([r.name for r in comp], rotation=45)
    ax1.set_title("Estimated resources per layer")
    fig.legend(loc="upper right")
    out["Resources per layer"] = _png(fig)

    usage = result.budget.usage(result.resources, result.lanes, result.dram_use)
    if usage:
        fig, ax = plt.subplots(figsize=(6, 2.4))
        labels = list(usage)
        vals = [u / a * 100 if a else 1000.0 for u, a in usage.values()]
        ax.barh(labels, vals, color=["#c0392b" if v > 100 else "#27ae60" for v in vals])
        ax.axvline(100, color="black", lw=0.8)
        ax.set_xlabel("% of the allowed budget")
        ax.set_title("Use of the budget")
        out["Use of the budget"] = _png(fig)
    return out


def html_page(net: Network, result: FoldResult, model: ResourceModel, top_k: int = 1) -> str:
    rs = rows(net, result, model, top_k)
    ur = any(r.res.uram for r in rs)  # weights in URAM (bnnfpga.uram): a URAM column
    e = html.escape
    cells = []
    for r in rs:
        cls = ' class="bottleneck"' if r.cycles == result.cycles else ""
        cells.append(f"<tr{cls}><td>{e(r.name)}</td><td>{e(r.kind)}</td><td>{e(r.shape)}</td><td>{r.pe or ''}</td>"
                     f"<td>{r.simd or ''}</td><td>{r.cycles:,}</td><td>{r.weight_bits:,}</td><td>{r.res.lut:,.0f}</td>"
                     f"<td>{r.res.bram36:.1f}</td>" + (f"<td>{r.res.uram:.0f}</td>" if ur else "") + f"<td>{r.share:.1%}</td>"
                     + (f"<td>{e(r.weights or ('onchip' if r.pe else ''))}</td><td>{r.dram_bytes:,.0f}</td>"
                        if any(x.weights for x in rs) else "") + "</tr>")
    imgs = "".join(f'<figure><img alt="{e(t)}" src="data:image/png;base64,{base64.b64encode(p).decode()}">'
                   f"<figcaption>{e(t)}</figcaption></figure>\n" for t, p in plots(net, result, model, top_k).items())
    tot = result.resources
    usage = "".join(f"<li>{e(n)}: {u:,.1f} of {a:,.1f} allowed ({u / a if a else float('inf'):.0%})</li>"
                    for n, (u, a) in result.budget.usage(tot, result.lanes, result.dram_use).items())
    if any(r.weights for r in rs) or result.budget.dram is not None:
        usage += (f"<li>DRAM traffic: {result.dram_bytes_per_frame:,.0f} weight bytes/frame + "
                  f"{result.io_bytes_per_frame:,.0f} image/score bytes/frame = {result.dram_bytes_per_cycle:,.2f} "
                  f"bytes/cycle ({result.dram_gbytes_per_s:,.2f} GB/s)</li>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bnnfpga folding report: {e(net.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:2px 8px;text-align:right}} td:nth-child(-n+3){{text-align:left}}
tr.bottleneck{{background:#fde2e2}} figure{{display:inline-block;margin:1em}} .bad{{color:#c0392b}}</style></head>
<body>
<h1>Folding report: {e(net.name)}</h1>
<p><b>{result.frames_per_second:,.0f} frames/s</b> at {result.clock_mhz:g} MHz: {result.cycles:,} cycles per frame
(bottleneck stage <code>{e(result.bottleneck)}</code>); latency at most {result.latency_cycles:,} cycles
({result.latency_us:,.1f} us).</p>
<p>Estimated total: LUT {tot.lut:,.0f}, FF {tot.ff:,.0f}, BRAM36 {tot.bram36:,.1f}{f", URAM {tot.uram:,.0f}" if tot.uram else ""} (LUT RAM {tot.lutram:,.0f}),
{result.lanes:,} PE x SIMD lanes. Budget: {e(result.budget.describe())}:
<span class="{'' if result.feasible else 'bad'}">{'fits' if result.feasible else 'does not fit'}</span>.</p>
<ul>{usage}</ul>
<p>{e(result.message)}</p>
<table><tr><th>stage</th><th>kind</th><th>shape</th><th>PE</th><th>SIMD</th><th>cycles/frame</th><th>weight bits</th>
<th>LUT</th><th>BRAM36</th>{'<th>URAM</th>' if ur else ''}<th>share of bottleneck</th>{'<th>weights</th><th>DRAM bytes/frame</th>' if any(r.weights for r in rs) else ''}</tr>
{''.join(cells)}
</table>
{_repetition_html(net, result.folding)}
{imgs}
<p><small>Resources: bnnfpga.resources model calibrated against yosys synth_xilinx ({e(str(model.source))}).</small></p>
</body></html>
"""


def _repetition_html(net: Network, folding: Dict[str, LayerFold]) -> str:
    rr = repetition_rows(net, folding)
    if not rr:
        return ""
    e = html.escape
    body = "".join(f"<tr><td>{e(n)}</td><td>{u:,}</td><td>{f:,}</td><td>{r:.1%}</td><td>{x:.1%}</td>"
                   f"<td>{'shared' if sh else 'standard'}</td></tr>" for n, u, f, r, x, sh in rr)
    return ("<h2>Filter repetitions</h2><p>Unique 2D filters per input channel, up to sign (Hubara et al., "
            "supplementary C; the paper counts 42% on its CIFAR-10 ConvNet).</p><table><tr><th>layer</th>"
            "<th>unique</th><th>2D filters</th><th>unique ratio</th><th>random weights</th><th>datapath</th></tr>"
            f"{body}</table>")


def write_report(net: Network, result: FoldResult, out_dir, model: Optional[ResourceModel] = None,
                 top_k: int = 1) -> Dict[str, Path]:
    """Write report.txt, report.html (plots embedded) and folding.json into out_dir."""
    model = model or ResourceModel.load()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"text": out / "report.txt", "html": out / "report.html", "folding": out / "folding.json"}
    files["text"].write_text(text_table(net, result, model, top_k))
    files["html"].write_text(html_page(net, result, model, top_k))
    from .folding import to_json

    files["folding"].write_text(to_json(result.folding))
    return files
