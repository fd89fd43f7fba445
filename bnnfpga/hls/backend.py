"""The HLS C++ backend: IR + folding -> the files of a Vivado/Vitis HLS project.

:func:`generate` is a pure function: the same network and options give the same
``{relative path: text or bytes}`` dictionary, byte for byte.  :func:`plan`
lays out the dataflow pipeline (one stage per layer, plus sliding-window
generators before convolutions and width converters where neighbouring stages
disagree) with the analytical cycles per frame of every stage.
:func:`write_project` writes the files atomically.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

from .. import __version__
from .. import folding as fo
from ..folding import FoldingError, LayerFold
from ..golden import GoldenModel, label_select
from .. import fixed_weights as fw
from ..ir import Conv2D, Dense, IRError, MaxPool2D, Network, acc_bits, infer_shapes, sanitize_identifier, weight_bits
from ..outdir import write_tree
from .. import strided

TEMPLATES = Path(__file__).resolve().parents[2] / "hls_templates"
STATIC_FILES = {"bnn_library.h": "bnn_library.h", "bnn_tb.h": "bnn_tb.h", "csim_include/hls_stream.h": "hls_stream.h"}
MARKER = ".bnnfpga-hls"
MAX_AP_WIDTH = 32768  # ap_int's hard limit (AP_INT_MAX_W)
DEFAULT_PART = "xc7z020clg400-1"


class BackendError(ValueError):
    """A network/option combination the HLS backend cannot build."""


# ---------------------------------------------------------------------------
# names


def safe_text(s: str) -> str:
    """Text safe inside a // comment or a Markdown table: printable ASCII, others as <U+XXXX>."""
    ok = re.compile(r"[A-Za-z0-9 _\-.:,()+=#]")
    return "".join(ch if ok.fullmatch(ch) else f"<U+{ord(ch):04X}>" for ch in str(s))


def _ident(name: str) -> str:
    base = re.sub("_+", "_", sanitize_identifier(name)).strip("_") or "layer"
    return base if base[0].isalpha() else "l_" + base


def layer_idents(net: Network) -> Dict[str, str]:
    """Layer name -> unique C identifier (no '__', no leading digit, case-insensitively unique)."""
    used = {"bnn_top", "bnn_pipeline", "bnn_write_param", "s_axis", "m_axis", "frames"}
    out = {}
    for layer in net.layers:
        base = _ident(layer.name)
        ident, i = base, 1
        while ident.lower() in used:
            ident = f"{base}_{i}"
            i += 1
        used.add(ident.lower())
        out[layer.name] = ident
    return out


# ---------------------------------------------------------------------------
# the pipeline plan


@dataclass
class Stage:
    kind: str  # input | swg | mvtu | scores | maxpool | convert | output
    layer: str  # layer name ('' for input/output)
    title: str
    comments: List[str]
    call: str
    out: Optional[str]
    out_type: Optional[str]
    cycles: int
    shapes: str = ""
    pe: str = ""
    simd: str = ""
    depth: int = 0  # graph plans: FIFO depth of `out` (0: the default, 2)
    extra_outs: List[dict] = field(default_factory=list)  # graph plans: more output streams (name, type, depth)
    proc: object = field(default=None, repr=False)  # graph plans: the stage's bnnfpga.fifo_depth.Proc

    @property
    def layer_md(self) -> str:
        return safe_text(self.layer) if self.layer else "-"


@dataclass
class ParamBlock:
    index: int
    id: str
    name: str
    kind: str
    channels: int
    fan_in: int
    pe: int
    simd: int
    sf: int
    nf: int
    qb: int
    abits: int
    thresholds: bool
    layer: object = field(repr=False, default=None)
    int_out: bool = False  # graph: a hidden layer whose output is its integer dot product (OB-bit lanes)
    obits: int = 0
    dram: bool = False  # weights streamed from DRAM (docs/offchip-weights.md, bnnfpga.hls.offchip)
    batch: int = 1
    dram_beat_bits: int = 0  # weight-stream word width (off-chip weights)
    uram: bool = False  # weights in UltraRAM, written at run time by do_init (bnnfpga.uram)
    lut_pe: int = 0  # LayerFold.lut_pe: the last lut_pe PEs read a LUT ROM (bnn_wget)

    @property
    def tiles(self) -> int:
        return self.sf * self.nf

    @property
    def header(self) -> str:
        return f"params_{self.id}.h"

    @property
    def split(self) -> bool:
        """Weights in two memories: block RAM for PEs 0..PE-lut_pe-1, a LUT ROM for the others."""
        return 0 < self.lut_pe < self.pe

    @property
    def wstore(self) -> str:
        """What the compute stage reads its weights from: the array, or the split store's selector."""
        return f"{self.id}_wsel()" if self.split else f"{self.id}_w"

    @property
    def lut_var(self) -> str:
        """The array bound to LUT ROM (lut_pe > 0), else ''."""
        return (f"{self.id}_wl" if self.split else f"{self.id}_w") if self.lut_pe else ""

    @property
    def comment(self) -> str:
        return f"layer '{safe_text(self.name)}'"

    @property
    def name_md(self) -> str:
        return f"`{safe_text(self.name)}`"


@dataclass
class Plan:
    net: Network
    folding: Dict[str, LayerFold]
    top_k: int
    runtime_params: bool
    stages: List[Stage]
    params: List[ParamBlock]
    ap_int_max_w: int
    thresholds: List[dict] = field(default_factory=list)  # graph: Threshold layers' tables
    fifos: List[dict] = field(default_factory=list)  # graph: FIFOs deeper than 2 (bnnfpga.fifo_depth)
    schedule: object = field(default=None, repr=False)
    dram_streams: List[dict] = field(default_factory=list)  # off-chip weights: bnn_top's weight streams

    @property
    def shortcut_fifo_bits(self) -> int:
        """Bits of the FIFOs that feed a join (add / concat) of a graph network."""
        return sum(f["depth"] * f["width"] for f in self.fifos if f["shortcut"])

    @property
    def fifo_bits(self) -> int:
        """Bits of every FIFO deeper than 2 (shortcut and rate matching)."""
        return sum(f["depth"] * f["width"] for f in self.fifos)

    def fifo_table(self) -> str:
        if not self.fifos:
            return "no FIFO deeper than 2"
        lines = [f"{'stream':32} {'width':>6} {'formula':>8} {'depth':>6} {'bits':>8}  role"]
        for f in self.fifos:
            lines.append(f"{f['stream'][:32]:32} {f['width']:>6} {f['formula']:>8} {f['depth']:>6} "
                         f"{f['depth'] * f['width']:>8}  {f['role']}")
        lines.append(f"total: {self.fifo_bits} bits in {len(self.fifos)} FIFOs, of which {self.shortcut_fifo_bits} "
                     "in shortcut FIFOs")
        return "\n".join(lines)

    @property
    def pipeline_cycles(self) -> int:
        return max(s.cycles for s in self.stages)

    @property
    def slowest(self) -> str:
        s = max(self.stages, key=lambda s: s.cycles)
        return f"{s.kind} {safe_text(s.layer)}".strip()

    def cycles_table(self) -> str:
        lines = [f"{'#':>3} {'stage':8} {'layer':20} {'PE':>5} {'SIMD':>5} {'cycles/frame':>13}"]
        for i, s in enumerate(self.stages):
            lines.append(f"{i:>3} {s.kind:8} {safe_text(s.layer)[:20]:20} {s.pe:>5} {s.simd:>5} {s.cycles:>13}")
        lines.append(f"pipeline: {self.pipeline_cycles} cycles per frame (slowest: {self.slowest}); "
                     f"{1e8 / self.pipeline_cycles:.0f} frames/s at 100 MHz")
        return "\n".join(lines)


def _shape(s) -> str:
    return "x".join(str(v) for v in s)


def plan(net: Network, folding: Dict[str, LayerFold], top_k: int = 1, runtime_params: bool = False) -> Plan:
    """Lay out the dataflow pipeline; raises IRError / FoldingError / BackendError."""
    if not isinstance(net, Network):
        raise IRError(f"expected an ir.Network, got {type(net).__name__}")
    net.validate()
    fo.check(net, folding)
    if net.is_graph:
        off = [l.name for l in net.compute_layers() if folding[l.name].weights != "onchip"]
        if off:  # docs/offchip-weights.md
            raise BackendError(f"layer '{off[0]}': weights='dram' (off-chip weights) is not supported in graph networks")
        from .graph import plan_graph

        return plan_graph(net, folding, top_k, runtime_params)
    classes = net.num_classes
    if not isinstance(top_k, int) or not (1 <= top_k <= classes):
        raise BackendError(f"top_k must be in [1, {classes}] (the number of classes), got {top_k!r}")
    ids = layer_idents(net)
    compute = net.compute_layers()
    sp = net.input
    qb = int(sp.bits)
    stages: List[Stage] = []
    params: List[ParamBlock] = []
    widths = [64]
    dram_streams: List[dict] = []

    in_bytes = sp.height * sp.width * sp.channels
    s0 = _in_lanes(compute[0], folding[compute[0].name])
    if sp.binarize_threshold is not None:
        qb = 1
    cur, lanes, cur_qb = "s_input", s0, qb
    widths.append(s0 * qb)
    if sp.binarize_threshold is not None:
        t = int(sp.binarize_threshold)
        stages.append(Stage(
            "input", "", f"input: AXI4-Stream bytes -> bits (p >= {t})",
            [f"{in_bytes} bytes per frame ({_shape(sp.shape)}, HxWxC) in {-(-in_bytes // 8)} 64-bit beats",
             f"binarized: bit = (p >= {t}), 1 = +1; {s0} bits per word (first layer's input lanes); one beat in and one word out per cycle"],
            f"bnn_input_bin<{in_bytes}, {s0}, {t}, axis_in_t>(s_axis, {cur}, frames)",
            cur, f"ap_uint<{s0}>", input_cycles(in_bytes, s0), _shape(sp.shape), "", str(s0)))
    else:
        stages.append(Stage(
            "input", "", "input: AXI4-Stream bytes -> q = p - zero_point",
            [f"{in_bytes} bytes per frame ({_shape(sp.shape)}, HxWxC) in {-(-in_bytes // 8)} 64-bit beats",
             f"q = p - {sp.zero_point}, {qb}-bit signed; {s0} lanes per word (first layer's SIMD); one beat in and one word out per cycle"],
            f"bnn_input<{in_bytes}, {s0}, {qb}, {sp.zero_point}, axis_in_t>(s_axis, {cur}, frames)",
            cur, f"ap_uint<{s0 * qb}>", input_cycles(in_bytes, s0), _shape(sp.shape), "", str(s0)))

    for li, (layer, (ishape, oshape)) in enumerate(zip(net.layers, infer_shapes(net))):
        ident = ids[layer.name]
        lname = safe_text(layer.name)
        if isinstance(layer, MaxPool2D):
            h, w, c = ishape
            cf = c // lanes
            out = f"s{li}_{ident}"
            call = f"bnn_maxpool<{layer.kernel}, {h}, {w}, {cf}, {lanes}>({cur}, {out}, frames)"
            if strided.is_window_pool(layer, ishape):  # kernel != stride (bnn_strided.h)
                call = f"bnn_maxpool_win<{layer.kernel}, {layer.stride}, {h}, {w}, {cf}, {lanes}>({cur}, {out}, frames)"
            stages.append(Stage(
                "maxpool", layer.name, f"max-pool '{lname}' {layer.kernel}x{layer.kernel}"
                + (f" stride {layer.stride}" if layer.stride != layer.kernel else ""),
                [f"{_shape(ishape)} -> {_shape(oshape)}; OR of each window's bits",
                 f"{cf} words of {lanes} channels per pixel; one word per cycle: {h * w * cf} cycles"],
                call,
                out, f"ap_uint<{lanes}>", h * w * cf, f"{_shape(ishape)}->{_shape(oshape)}", "", ""))
            cur = out
            continue
        f = folding[layer.name]
        pe, simd = f.pe, f.simd
        last = layer is compute[-1]
        nbits = int(np.prod(ishape))
        want = _in_lanes(layer, f)  # SIMD, or gcd(SIMD, C_in) for a window generator when SIMD does not divide C_in
        if lanes != want:
            out = f"s{li}_{ident}_cv"
            widths.append(lanes + want)
            cyc = nbits // lanes + nbits // want
            stages.append(Stage(
                "convert", layer.name, f"width converter before '{lname}': {lanes} -> {want} bits",
                [f"{nbits} bits per frame; {nbits // lanes} words in, {nbits // want} words out: {cyc} cycles"],
                f"bnn_convert<{lanes}, {want}, {nbits}>({cur}, {out}, frames)",
                out, f"ap_uint<{want}>", cyc, _shape(ishape), "", f"{lanes}->{want}"))
            cur, lanes = out, want
        ww = simd * cur_qb
        if isinstance(layer, Conv2D):
            h, w, c = ishape
            cf = c // want
            gw = want * cur_qb
            k, pad = layer.kernel, layer.pad
            oh, ow = oshape[0], oshape[1]
            out = f"s{li}_{ident}_win"
            cyc = h * w * cf + oh * ow * k * k * cf
            call = f"bnn_swg<{k}, {h}, {w}, {cf}, {pad}, {gw}>({cur}, {out}, frames)"
            if strided.is_strided_conv(layer):  # bnn_strided.h
                call = f"bnn_swg_stride<{k}, {layer.stride}, {h}, {w}, {cf}, {pad}, {gw}>({cur}, {out}, frames)"
            stages.append(Stage(
                "swg", layer.name, f"sliding window of '{lname}': {k}x{k}, padding {layer.padding}"
                + (f", stride {layer.stride}" if layer.stride != 1 else ""),
                [f"{_shape(ishape)} -> {oh}x{ow} windows of {k}x{k}x{c} in (ky, kx, c) order, {k * k * cf} words of {want} lanes",
                 f"pad {pad} ({'q = 0' if cur_qb > 1 else 'bit 0 = -1'}); line buffer of {k} rows; {cyc} cycles"],
                call,
                out, f"ap_uint<{gw}>", cyc, _shape(ishape), "", str(want)))
            npos = fo.swg_positions(layer, f)
            if npos > 1:  # P kernel positions per word: bnn_swg_multi (bnnfpga.swg_multi), no converter
                from ..swg_multi import hls_stage

                stages[-1] = hls_stage(stages[-1], layer, ishape, cur, out, cur_qb, npos)
            cur = out
            if want * npos != simd:  # SIMD runs across kernel positions: pack g-lane words into SIMD-lane words
                wbits = oh * ow * layer.fan_in * cur_qb
                out = f"s{li}_{ident}_wcv"
                widths.append(gw + ww)
                cyc = wbits // gw + wbits // ww
                stages.append(Stage(
                    "convert", layer.name, f"window width converter of '{lname}': {want} -> {simd} lanes",
                    [f"SIMD={simd} does not divide C_in={c} but divides the window's {layer.fan_in} values; "
                     f"{wbits} bits per frame; {wbits // gw} words in, {wbits // ww} words out: {cyc} cycles"],
                    f"bnn_convert<{gw}, {ww}, {wbits}>({cur}, {out}, frames)",
                    out, f"ap_uint<{ww}>", cyc, _shape(ishape), "", f"{want}->{simd}"))
                cur = out
            pix = oh * ow
        else:
            pix = 1
        sf = layer.fan_in // simd
        nf = layer.out_channels // pe
        cyc = fo.layer_cycles(net, layer, f)
        abits = acc_bits(net, layer) + 2
        kind = "conv" if isinstance(layer, Conv2D) else "dense"
        pb = ParamBlock(len(params), ident, layer.name, kind, layer.out_channels, layer.fan_in, pe, simd, sf, nf,
                        cur_qb, abits, not last, layer)
        params.append(pb)
        _lut_pe_hook(pb, layer, f, runtime_params)
        widths += [simd * weight_bits(layer), ww, 32 * pe]
        out = f"s{li}_{ident}"
        what = fw.weights_text(layer, cur_qb > 1)
        com = [f"{kind} {_shape(ishape)} -> {_shape(oshape)}, fan-in {layer.fan_in}, {what}",
               f"PE = {pe}, SIMD = {simd}: SF = {sf} input folds x NF = {nf} neuron folds x {pix} pixels = {cyc} cycles"]
        if last:
            com.append(f"last layer: {pe} int32 scores per word ({fw.output_text(layer, cur_qb > 1)})")
            call = (f"bnn_mvu_scores<{simd}, {cur_qb}, {pe}, {sf}, {nf}, {layer.fan_in}{fw.hls_wb_arg(layer)}>"
                    f"({cur}, {out}, {pb.wstore}, frames)")
            otype = f"ap_uint<{32 * pe}>"
            skind = "scores"
        else:
            com.append(f"threshold on the last input fold ({abits}-bit accumulator); {pe} bits per word")
            call = (f"bnn_mvtu<{simd}, {cur_qb}, {pe}, {sf}, {nf}, {pix}, {abits}{fw.hls_wb_arg(layer)}>"
                    f"({cur}, {out}, {pb.wstore}, {ident}_t, {ident}_neg, frames)")
            otype = f"ap_uint<{pe}>"
            skind = "mvtu"
        if getattr(f, "share", False):  # the shared-filter datapath (bnnfpga.hls.shared)
            from .shared import stages as shared_stages

            if runtime_params:
                raise BackendError(f"layer '{layer.name}': the shared-filter datapath (share) cannot load "
                                   "parameters at run time; drop share or runtime_params")
            new, out = shared_stages(Stage, layer, ident, li, cur, pe, simd, pix, abits, f"{_shape(ishape)}->{_shape(oshape)}")
            stages += new
            widths.append(layer.kernel ** 2 * simd)
        else:
            if f.weights == "dram":  # off-chip weights (docs/offchip-weights.md)
                from .offchip import dram_call

                call = dram_call(pb, layer, f, cur, out, ident, last, cur_qb, runtime_params, dram_streams, pix)
                com.append(f"weights from DRAM on stream w_{ident} ({pb.dram_beat_bits}-bit beats), one pass per batch of {f.batch} "
                           + ("frames" if pix == 1 else f"output pixels ({pix} per frame)"))
            if f.weights == "uram":  # bnnfpga.uram: URAM weight memory, loaded at run time
                from ..uram import check_loadable

                check_loadable(layer, f, BackendError)
                pb.uram = True
                com.append("weights in UltraRAM (no initial values): written at run time by do_init, target_mem 0")
            stages.append(Stage(skind, layer.name, f"{kind} '{lname}'", com, call, out, otype, cyc,
                                f"{_shape(ishape)}->{_shape(oshape)}", str(pe), str(simd)))
        cur, lanes, cur_qb = out, pe, 1
        if runtime_params and simd * weight_bits(layer) > 64:
            raise FoldingError(f"layer '{layer.name}': SIMD={simd} x {weight_bits(layer)} weight bits > 64 cannot be "
                               "loaded at run time (one 64-bit value per weight word); lower its SIMD or drop runtime_params")

    pe_last = folding[compute[-1].name].pe
    cyc = classes // pe_last + classes + top_k
    stages.append(Stage(
        "output", "", f"output: {classes} scores + top-{top_k} labels -> AXI4-Stream",
        [f"{classes // pe_last} words of {pe_last} scores in; {classes + top_k} 32-bit words out, TLAST on the last",
         "labels: score descending, ties to the lowest index"],
        f"bnn_output<{classes}, {pe_last}, {top_k}, axis_out_t>({cur}, m_axis, frames)",
        None, None, cyc, str(classes), str(pe_last), ""))
    need = max(widths)
    if need > MAX_AP_WIDTH:
        raise BackendError(f"a stream or weight word of {need} bits exceeds ap_int's {MAX_AP_WIDTH}-bit limit: lower SIMD/PE")
    return Plan(net, folding, top_k, runtime_params, stages, params, max(1024, -(-need // 1024) * 1024),
                dram_streams=dram_streams)


# ---------------------------------------------------------------------------
# parameter tables


def weight_words(layer, pe: int, simd: int) -> np.ndarray:
    """(PE, NF*SF, SIMD) bits: word [pe][nf*SF + sf] = channel nf*PE+pe, bits sf*SIMD.. (lane i = bit i)."""
    w = np.asarray(layer.weights, dtype=np.uint8)
    out_c, n = w.shape
    nf, sf = out_c // pe, n // simd
    return w.reshape(nf, pe, sf, simd).transpose(1, 0, 2, 3).reshape(pe, nf * sf, simd)


def words_to_ints(bits: np.ndarray) -> List[int]:
    """(..., SIMD) bits -> Python ints (lane i at bit i), flattened."""
    simd = bits.shape[-1]
    flat = bits.reshape(-1, simd)
    pad = (-simd) % 8
    if pad:
        flat = np.concatenate([flat, np.zeros((flat.shape[0], pad), np.uint8)], axis=1)
    packed = np.packbits(flat, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def _literal(v: int, simd: int) -> str:
    digits = max(1, -(-simd // 4))
    if simd <= 64:
        return f"0x{v:0{digits}x}{'ULL' if simd > 32 else 'u'}"
    return f'ap_uint<{simd}>("0x{v:0{digits}x}", 16)'  # the 0x prefix: digits "0b.."/"0d.." would read as a radix prefix


def _rows(items: List[str], width: int = 100) -> List[str]:
    lines, cur = [], ""
    for it in items:
        piece = it + ","
        if cur and len(cur) + 1 + len(piece) > width:
            lines.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}" if cur else piece
    if cur:
        lines.append(cur)
    return lines


def _lut_pe_hook(pb: ParamBlock, layer, f: LayerFold, runtime_params: bool) -> None:
    """LayerFold.lut_pe: the last lut_pe PEs' weights go to a LUT ROM of their own (as the RTL's
    rom_style "logic" ROM); same refusals as the RTL backend."""
    lp = int(getattr(f, "lut_pe", 0))
    if not lp:
        return
    if weight_bits(layer) > 1:
        raise BackendError(f"layer '{layer.name}': lut_pe={lp} (weights in LUT ROM) is for binary weights; this layer "
                           f"has {weight_bits(layer)}-bit weights: set lut_pe to 0")
    if runtime_params:
        raise BackendError(f"layer '{layer.name}': lut_pe={lp} (weights in LUT ROM) cannot be combined with "
                           "runtime_params; set lut_pe to 0")
    pb.lut_pe = lp


def _param_context(p: ParamBlock, storage: str) -> dict:
    wb = weight_bits(p.layer)
    ints = fw.hls_word_ints(p.layer, p.pe, p.simd) if wb > 1 else words_to_ints(weight_words(p.layer, p.pe, p.simd))
    tiles = p.tiles
    ctx = dict(p.__dict__)
    ctx.update(tiles=tiles, header=p.header, comment=p.comment, name_md=p.name_md, storage=storage, wb=wb,
               split=p.split, lut_var=p.lut_var,
               wword=p.simd * wb,
               weight_rows=[_rows([_literal(v, p.simd * wb) for v in ints[i * tiles:(i + 1) * tiles]]) for i in range(p.pe)])
    if p.thresholds:
        th = p.layer.thresholds
        t = np.asarray(th.t, dtype=np.int64).reshape(p.nf, p.pe).T
        neg = (np.asarray(th.direction) < 0).astype(np.int64).reshape(p.nf, p.pe).T
        ctx.update(t_rows=[_rows([str(int(v)) for v in t[i]]) for i in range(p.pe)],
                   neg_rows=[_rows([str(int(v)) for v in neg[i]], 100) for i in range(p.pe)])
    return ctx


# ---------------------------------------------------------------------------
# generation


def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, autoescape=False)


def generate(net: Network, folding: Dict[str, LayerFold], top_k: int = 1, runtime_params: bool = False,
             test_frames: int = 4, seed: int = 0, part: str = DEFAULT_PART, clock_ns: float = 10.0
             ) -> Dict[str, Union[str, bytes]]:
    """The project's files: {relative path: text (str) or binary test vectors (bytes)}."""
    from .vectors import expected_words, pack_input_beats

    pl = plan(net, folding, top_k, runtime_params)
    env = _env()
    sp = net.input
    storage = "static" if runtime_params else "static const"
    pctx = [_param_context(p, storage) for p in pl.params]
    tctx = list(pl.thresholds)
    ctx = dict(
        version=__version__, net_comment=f"network '{safe_text(net.name)}'", net_md=f"`{safe_text(net.name)}`",
        ident=_ident(net.name),
        input=sp, in_bytes=sp.height * sp.width * sp.channels,
        in_beats=-(-(sp.height * sp.width * sp.channels) // 8), classes=net.num_classes, top_k=top_k,
        compute_layers=len(pl.params), runtime_params=runtime_params, ap_int_max_w=pl.ap_int_max_w,
        stages=pl.stages, params=pctx, thr_params=tctx, pipeline_cycles=pl.pipeline_cycles, slowest=pl.slowest,
        tv_frames=test_frames, part=part, clock_ns=clock_ns, dram_streams=pl.dram_streams,
        uram=any(p.uram for p in pl.params),
        extra_headers=([strided.HLS_HEADER] if strided.uses(net) else [])
        + (["bnn_swg_multi.h"] if _uses_swg_multi(net, folding) else []),
    )
    files: Dict[str, Union[str, bytes]] = {}
    files["bnn_top.h"] = env.get_template("bnn_top.h.j2").render(**ctx)
    files["bnn_top.cpp"] = env.get_template("bnn_top.cpp.j2").render(**ctx)
    tmpl = env.get_template("params.h.j2")
    for p in pctx:
        files[p["header"]] = tmpl.render(p=p, version=__version__)
        if getattr(pl.folding[p["name"]], "share", False):
            from .shared import HEADER, tables_text

            files[p["header"]] += tables_text(p["layer"], p["id"], p["pe"], p["simd"], storage)
            files[HEADER] = (TEMPLATES / HEADER).read_text()
    for t in tctx:
        files[t["header"]] = env.get_template("thresholds.h.j2").render(p=t, version=__version__)
    files["tb_bnn_top.cpp"] = env.get_template("tb_bnn_top.cpp.j2").render(**ctx)
    files["run_hls.tcl"] = env.get_template("run_hls.tcl.j2").render(**ctx)
    files["README.md"] = env.get_template("README.md.j2").render(**ctx)
    for dst, src in STATIC_FILES.items():
        files[dst] = (TEMPLATES / src).read_text()
    for h in ctx["extra_headers"]:  # bnnfpga.strided: only for networks that use its stages
        files[h] = (TEMPLATES / h).read_text()
    if pl.dram_streams:  # off-chip weights (docs/offchip-weights.md)
        files["bnn_dram.h"] = (TEMPLATES / "bnn_dram.h").read_text()
    files["folding.json"] = fo.to_json(folding)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (test_frames, sp.height, sp.width, sp.channels), dtype=np.uint8)
    scores = GoldenModel(net).run(images)
    files["tv/input_beats.bin"] = pack_input_beats(net, images).tobytes()
    files["tv/expected_words.bin"] = expected_words(scores, label_select(scores, top_k)).tobytes()
    if ctx["uram"]:  # bnnfpga.uram: the do_init writes that load the URAM weights (run_hls.tcl passes them)
        from ..uram import load_rows

        files["tv/init_words.bin"] = load_rows(net, folding).astype("<u4").tobytes()
    files[MARKER] = f"bnnfpga {__version__} HLS project of network '{safe_text(net.name)}'\n"
    return dict(sorted(files.items()))


def _uses_swg_multi(net: Network, folding) -> bool:
    from ..swg_multi import uses

    return uses(net, folding)


def _in_lanes(layer, f: LayerFold) -> int:
    """Lanes per word of the stream a compute layer reads before its window generator:
    SIMD, or gcd(SIMD, C_in) for a convolution whose SIMD does not divide C_in."""
    return fo.swg_lanes(layer, f.simd) if isinstance(layer, Conv2D) else f.simd


def input_cycles(nbytes: int, simd: int) -> int:
    """Cycles per frame of bnn_input: about max(64-bit beats, SIMD-lane words)."""
    from ..fifo_depth import prog_input

    return len(prog_input(nbytes, simd)[0])


def write_project(files: Dict[str, Union[str, bytes]], out_dir) -> Path:
    """Write the files into out_dir atomically: a temporary folder beside it is filled, then renamed.

    An existing out_dir is replaced only when it is empty or an earlier bnnfpga HLS
    project (it holds the marker file); on any error nothing is left behind.
    """
    return write_tree(files, out_dir, marker=MARKER, what="bnnfpga HLS project", error=BackendError)


def compile_project(net: Network, folding: Dict[str, LayerFold], out_dir, **kw) -> Plan:
    """generate + write_project; returns the plan (for the cycles report)."""
    files = generate(net, folding, **kw)
    write_project(files, out_dir)
    return plan(net, folding, kw.get("top_k", 1), kw.get("runtime_params", False))
