"""SystemVerilog backend: IR + folding -> the text of a streaming accelerator.

:func:`generate` is a pure function returning ``{relative path: text}``;
:func:`write_design` puts those files in a folder atomically.  The design is
a chain of stages joined by FIFOs (``rtl_templates/bnn_top.sv.j2``):

    input (64-bit beats -> 8 q values) -> [width converter] ->
    per layer: [converter] [sliding-window generator] MVTU | [converter] max-pool
    -> converter (PE scores -> 1) -> output (scores, then top-k labels)

Generic stages are static SystemVerilog modules in ``rtl_templates/``; each
compute layer gets a module of its own holding its weight and threshold ROMs
(initialised arrays, one commented word per line).  Same input, same bytes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .. import folding as fold_mod
from ..cli import UserError
from ..folding import LayerFold, stage_cycles
from .. import fixed_weights as fw
from ..ir import Conv2D, Dense, MaxPool2D, Network, acc_range, infer_shapes, sanitize_identifier, weight_bits
from ..outdir import write_tree
from .. import strided

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "rtl_templates"
STATIC_MODULES = ["bnn_fifo.sv", "bnn_dwc.sv", "bnn_input.sv", "bnn_swg.sv", "bnn_maxpool.sv",
                  "bnn_mvtu.sv", "bnn_output.sv", "bnn_control.sv"]
DRAM_MODULES = ["bnn_mvtu_dram.sv"]  # added when a layer's weights stream from DRAM
TOP = "bnn_top"
GENERATOR_VERSION = 1


class RTLError(UserError):
    """A network/folding/option the RTL backend cannot build (one-line message)."""


@dataclass
class Stage:
    inst: str
    module: str
    params: List[Tuple[str, int]]
    in_w: int
    out_w: int
    comment: str
    fifo_depth: int = 2
    kind: str = ""
    params_port: bool = False  # takes the run-time parameter bus
    dram: str = ""  # weight-stream port prefix (s_axis_w_<module>) of a layer with weights in DRAM
    dram_bits: int = 0  # its TDATA width


@dataclass
class LayerRTL:
    name: str
    module: str
    kind: str
    in_shape: tuple
    out_shape: tuple
    fan_in: int
    out_channels: int
    pe: int
    simd: int
    sf: int
    nf: int
    ew: int
    fixed: int
    scores: int
    aw: int
    obw: int
    waddr: int
    taddr: int
    index: int = 0  # compute-layer index (target_layer)
    mem_file: str = ""  # weight ROM contents, relative to the design folder
    runtime: bool = False  # parameters loadable at run time
    lut_pe: int = 0  # the last lut_pe PEs read a LUT ROM (LayerFold.lut_pe)
    mem_file_lut: str = ""
    weight_words_lut: List[str] = field(default_factory=list)
    weight_words: List[str] = field(default_factory=list)
    threshold_words: List[Tuple[str, str]] = field(default_factory=list)
    wb: int = 1  # bits per weight: 1 binary (bnn_mvtu), > 1 fixed-point weights (bnn_mvtu_fw)
    share: Optional[dict] = None  # shared-filter datapath (bnnfpga.rtl.shared), None: the standard MVTU
    dram: bool = False  # weights stream from DRAM (rtl_templates/layer_dram.sv.j2)
    batch: int = 1  # frames per pass over the weights
    dram_beat_bits: int = 0  # weight-stream TDATA width
    dram_vectors: int = 1  # vectors per frame of an off-chip layer: OH*OW for a convolution (bnnfpga.offchip)
    uram: bool = False  # weight memory in UltraRAM, loaded at run time (bnnfpga.uram, layer_uram_weights.sv.j2)
    uram_blocks: int = 0


def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False)


def _clog2(n: int) -> int:
    return max(1, int(n - 1).bit_length())


def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's complement width holding every integer in [lo, hi]."""
    n = 2
    while lo < -(1 << (n - 1)) or hi > (1 << (n - 1)) - 1:
        n += 1
    return n


def _hex(value: int, width: int) -> str:
    return f"{width}'h{value:0{(width + 3) // 4}x}"


def _pack_row(bits: np.ndarray) -> int:
    """0/1 array -> integer with element 0 at bit 0."""
    b = np.asarray(bits, dtype=np.uint8)
    return int.from_bytes(np.packbits(b, bitorder="little").tobytes(), "little")


def _hex_rows(bits: np.ndarray) -> List[str]:
    """Rows of a 0/1 matrix -> hex words (element 0 at bit 0), as ``f"{_pack_row(row):0{digits}x}"``
    for every row, in one numpy pass (large layers have millions of weight rows)."""
    b = np.asarray(bits, dtype=np.uint8)
    digits = (b.shape[1] + 3) // 4
    if b.shape[1] == 0:
        return ["" for _ in range(b.shape[0])]
    packed = np.packbits(b, axis=1, bitorder="little")[:, ::-1]  # most significant byte first
    text = packed.tobytes().hex()
    step = 2 * packed.shape[1]
    cut = step - digits  # leading hex digits beyond the word width (always zero)
    return [text[i + cut:i + step] for i in range(0, len(text), step)]


def _layer_rtl(net: Network, layer, shapes, f: LayerFold, used: set) -> LayerRTL:
    ishape, oshape = shapes
    fixed = layer.input_kind == "fixed"
    scores = layer.thresholds is None
    lo, hi = acc_range(net, layer)
    aw = signed_bits(lo - 1, hi + 1)
    ew = net.input.bits if fixed else 1
    sf = layer.fan_in // f.simd
    nf = layer.out_channels // f.pe
    mod = "layer_" + sanitize_identifier(layer.name, used)
    L = LayerRTL(layer.name, mod, layer.kind, tuple(ishape), tuple(oshape), layer.fan_in, layer.out_channels,
                 f.pe, f.simd, sf, nf, ew, int(fixed), int(scores), aw, 32 if scores else 1,
                 _clog2(sf * nf), _clog2(nf))
    # weights: (out, fan_in) -> word nf*SF + sf, PE p at bits [p*SIMD +: SIMD]
    w = layer.weights.reshape(nf, f.pe, sf, f.simd).transpose(0, 2, 1, 3).reshape(nf * sf, f.pe * f.simd)
    L.wb = weight_bits(layer)
    width = f.pe * f.simd * L.wb
    pack = _pack_row if L.wb == 1 else (lambda row: fw.rtl_weight_row(row, L.wb))  # signed WB-bit lanes
    L.weight_words = (_hex_rows(w) if L.wb == 1 else [f"{pack(row):0{(width + 3) // 4}x}" for row in w])
    L.mem_file = f"mem/{mod}_weights.mem"
    lp = int(getattr(f, "lut_pe", 0))
    if lp and L.wb > 1:
        raise RTLError(f"layer '{layer.name}': lut_pe={lp} (weights in LUT ROM) is for binary weights; this layer has "
                       f"{L.wb}-bit weights: set lut_pe to 0")
    if lp:  # PEs pe - lp .. pe - 1 (the high bits of each word) go to a LUT ROM of their own
        nb = (f.pe - lp) * f.simd
        L.lut_pe, L.mem_file_lut = lp, f"mem/{mod}_weights_lut.mem"
        L.weight_words_lut = _hex_rows(w[:, nb:])
        L.weight_words = _hex_rows(w[:, :nb]) if nb else []
    if not scores:
        t = layer.thresholds.t.astype(np.int64)
        d = layer.thresholds.direction
        tw = aw + 1
        for n in range(nf):
            val, text = 0, []
            for p in range(f.pe):
                c = n * f.pe + p
                entry = (int(t[c]) & ((1 << aw) - 1)) | ((1 << aw) if d[c] < 0 else 0)
                val |= entry << (p * tw)
                text.append(f"c{c} {'<=' if d[c] < 0 else '>='} {int(t[c])}")
            L.threshold_words.append((_hex(val, f.pe * tw), ", ".join(text)))
    return L


def _offchip_hook(layer, f: LayerFold, L: LayerRTL, runtime_params: bool) -> None:
    """Off-chip weights (docs/offchip-weights.md): mark the layer and check what the RTL supports."""
    from ..offchip import is_dram, layer_beat_bits

    if not is_dram(f):
        return
    if runtime_params:
        raise RTLError(f"layer '{layer.name}': weights='dram' cannot be combined with runtime_params "
                       "(DRAM weights are loaded by filling the DRAM buffer)")
    L.dram, L.batch, L.dram_beat_bits = True, f.batch, layer_beat_bits(layer, f)
    if isinstance(layer, Conv2D):  # a vector per output pixel: batches of B pixels (docs/offchip-weights.md)
        L.dram_vectors = int(L.out_shape[0]) * int(L.out_shape[1])
    L.weight_words = []  # the weights live in the DRAM image, not in the design


def _uram_hook(layer, f: LayerFold, L: LayerRTL) -> None:
    """Weights in UltraRAM (bnnfpga.uram): no initialised weight memory; loaded through the parameter port."""
    from ..uram import check_loadable, is_uram, layer_uram_blocks

    if not is_uram(f):
        return
    check_loadable(layer, f, RTLError)
    L.uram, L.uram_blocks = True, layer_uram_blocks(layer, f)
    L.weight_words = []  # written at run time (do_init), not in the design


def _weight_mem(L: LayerRTL) -> str:
    """$readmemh text of a layer's weight ROM, with comments naming the folds."""
    if L.wb > 1:  # fixed-point weights: lanes of WB bits where a binary layer has bits
        return fw.rtl_weight_mem(L)
    out = [f"// Layer '{L.name}': {L.kind} {L.in_shape} -> {L.out_shape}, weights {L.out_channels} x {L.fan_in} bits",
           f"// {L.sf * L.nf} words x {L.pe * L.simd} bits (PE={L.pe} x SIMD={L.simd}); word nf*{L.sf} + sf holds, "
           f"for PE p, weight bits [sf*{L.simd} +: {L.simd}] of output channel nf*{L.pe} + p at bits [p*{L.simd} +: {L.simd}]"]
    for i, w in enumerate(L.weight_words):
        if i % L.sf == 0:
            out.append(f"// nf {i // L.sf}: output channels {i // L.sf * L.pe}..{i // L.sf * L.pe + L.pe - 1}")
        out.append(w)
    return "\n".join(out) + "\n"


def _weight_mem_lut(L: LayerRTL) -> str:
    """$readmemh text of the LUT-ROM part of a split weight ROM (PEs pe - lut_pe .. pe - 1)."""
    p0 = L.pe - L.lut_pe
    out = [f"// Layer '{L.name}': weights of PEs {p0}..{L.pe - 1} (LUT ROM), {L.sf * L.nf} words x {L.lut_pe * L.simd} bits; "
           f"word nf*{L.sf} + sf holds, for PE p, weight bits [sf*{L.simd} +: {L.simd}] of output channel "
           f"nf*{L.pe} + p at bits [(p-{p0})*{L.simd} +: {L.simd}]"]
    out += L.weight_words_lut
    return "\n".join(out) + "\n"


def weight_rom_files(L: LayerRTL) -> Dict[str, str]:
    """The $readmemh files of a layer's weight ROM: the block-RAM part (none when every PE's
    weights are in LUT ROM or loaded at run time) and the LUT-ROM part (LayerFold.lut_pe)."""
    out = {}
    if L.weight_words:
        out[L.mem_file] = _weight_mem(L)
    if L.lut_pe:
        out[L.mem_file_lut] = _weight_mem_lut(L)
    return out


def plan(net: Network, folding: Dict[str, LayerFold], top_k: int = 1, fifo_depth: Optional[int] = None,
         runtime_params: bool = False):
    """The stage chain and per-layer modules (no text yet)."""
    if net.is_graph:
        raise RTLError(f"network '{net.name}' is a graph (shortcut connections): the RTL backend supports chains only "
                       "so far; the HLS backend (bnnfpga compile) supports graphs")
    net.validate()
    fold_mod.check(net, folding)
    if runtime_params:
        for layer in net.compute_layers():
            if getattr(folding[layer.name], "lut_pe", 0):
                raise RTLError(f"layer '{layer.name}': lut_pe={folding[layer.name].lut_pe} (weights in LUT ROM) cannot "
                               "be combined with runtime_params; set lut_pe to 0")
            if folding[layer.name].simd * weight_bits(layer) > 64:
                raise RTLError(f"layer '{layer.name}': SIMD={folding[layer.name].simd} > 64 cannot be loaded at run "
                               f"time (one 64-bit value per weight word); lower its SIMD or drop runtime_params")
    if not (1 <= top_k <= net.num_classes):
        raise RTLError(f"top_k={top_k} must be between 1 and the network's {net.num_classes} classes")
    sp = net.input
    qw = sp.bits
    n0 = sp.height * sp.width * sp.channels
    in_beats = -(-n0 // 8)
    stages: List[Stage] = [Stage("u_input", "bnn_input", [("QW", qw), ("ZERO_POINT", sp.zero_point)], 64, 8 * qw,
                                 f"input: {n0} bytes in {in_beats} beats -> q = pixel - {sp.zero_point}", kind="input")]
    if sp.binarize_threshold is not None:  # one bit per pixel (pixel >= threshold)
        qw = 1
        stages[0] = Stage("u_input", "bnn_input_bin", [("THRESHOLD", int(sp.binarize_threshold))], 64, 8,
                          f"input: {n0} bytes in {in_beats} beats -> bits (pixel >= {sp.binarize_threshold})",
                          kind="input")
    cur_ew, cur_i, elems = qw, 8, n0
    lastn = n0 - (in_beats - 1) * 8
    nconv = [0]

    def convert(o: int, what: str):
        nonlocal cur_i, lastn
        if cur_i == o and lastn == cur_i:
            return
        nin = -(-elems // cur_i)
        stages.append(Stage(f"u_dwc{len(stages)}", "bnn_dwc",
                            [("EW", cur_ew), ("I", cur_i), ("O", o), ("NIN", nin), ("LASTN", lastn)],
                            cur_i * cur_ew, o * cur_ew, f"width converter {cur_i} -> {o} x {cur_ew} bits ({what})",
                            kind="dwc"))
        cur_i, lastn = o, o

    layers: List[LayerRTL] = []
    used: set = set()
    for layer, shp in zip(net.layers, infer_shapes(net)):
        ishape, oshape = shp
        if isinstance(layer, MaxPool2D):
            h, w, c = ishape
            convert(c, f"pixels for {layer.name}")
            if strided.is_window_pool(layer, ishape):  # kernel != stride: bnnfpga.strided
                mod, prm = "bnn_maxpool_win", [("C", c), ("H", h), ("W", w), ("K", layer.kernel), ("S", layer.stride)]
            else:
                mod, prm = "bnn_maxpool", [("C", c), ("W", w), ("K", layer.kernel)]
            stages.append(Stage("u_" + sanitize_identifier(layer.name, used), mod, prm, c, c,
                                f"max-pool '{layer.name}' {ishape} -> {oshape}", kind="maxpool"))
            elems = int(np.prod(oshape))
            continue
        f = folding[layer.name]
        L = _layer_rtl(net, layer, shp, f, used)
        L.index, L.runtime = len(layers), bool(runtime_params)
        if getattr(f, "share", False):
            from . import shared

            L.share = shared.context(L, layer, f, runtime_params)
        _offchip_hook(layer, f, L, runtime_params)
        _uram_hook(layer, f, L)
        layers.append(L)
        g = fold_mod.swg_lanes(layer, f.simd) if isinstance(layer, Conv2D) else f.simd
        npos = fold_mod.swg_positions(layer, f)  # > 1: P kernel positions per window word (bnnfpga.swg_multi)
        convert(g, f"SIMD words for {layer.name}")
        if isinstance(layer, Conv2D):
            h, w, c = ishape
            k = layer.kernel
            r = 1
            while r < 2 * k + 1:
                r *= 2
            mod, prm = "bnn_swg", [("PAD", layer.pad), ("R", r)]
            if strided.is_strided_conv(layer):  # bnnfpga.strided
                mod, prm = "bnn_swg_stride", [("PAD", layer.pad), ("S", layer.stride), ("R", strided.swg_rows(k, layer.stride))]
            stages.append(Stage(f"u_swg_{L.module[6:]}", mod,
                                [("H", h), ("W", w), ("CW", c // g), ("WW", g * cur_ew), ("K", k)] + prm,
                                g * cur_ew, g * cur_ew,
                                f"sliding window {k}x{k} '{layer.padding}' over {ishape} for {layer.name}", kind="swg"))
            if npos > 1:
                from ..swg_multi import rtl_stage

                stages[-1] = rtl_stage(stages[-1], layer, ishape, cur_ew, npos)
            if g * npos != f.simd:  # SIMD divides K*K*C_in but not C_in: pack the window's g-lane words
                cur_i, lastn, elems = g, g, oshape[0] * oshape[1] * layer.fan_in
                convert(f.simd, f"window words for {layer.name} (SIMD runs across kernel positions)")
        stages.append(Stage(f"u_{L.module}", L.module, [], f.simd * cur_ew, f.pe * L.obw,
                            f"{L.kind} '{layer.name}' {ishape} -> {oshape} PE={f.pe} SIMD={f.simd}", kind=L.kind,
                            params_port=bool(runtime_params) or L.uram))
        if L.dram:
            stages[-1].dram, stages[-1].dram_bits = f"s_axis_w_{L.module}", L.dram_beat_bits
            stages[-1].comment += f", weights from DRAM (batch {L.batch})"
        if isinstance(layer, Dense) or g * npos != f.simd:
            # a dense MVTU reads its input only during its first output fold: room for a
            # whole input vector keeps the stage before it from stalling meanwhile (so for a
            # convolution whose window words arrive slower than one per cycle: SIMD not dividing C_in)
            stages[-1].fifo_depth = max(2, min(L.sf + 2, 1024))
        cur_ew, cur_i, lastn, elems = L.obw, f.pe, f.pe, int(np.prod(oshape))
    convert(1, "one score per word")
    stages.append(Stage("u_output", "bnn_output", [("CLASSES", net.num_classes), ("TOPK", top_k)], 32, 32,
                        f"output: {net.num_classes} scores, then top-{top_k} label(s)", kind="output"))
    for s in stages[1:]:
        if fifo_depth is not None:
            s.fifo_depth = max(2, int(fifo_depth))
        elif s.fifo_depth < 4:
            s.fifo_depth = 4
    return stages, layers, in_beats


def generate(net: Network, folding: Dict[str, LayerFold], top_k: int = 1, fifo_depth: Optional[int] = None,
             runtime_params: bool = False) -> Dict[str, str]:
    """IR + folding -> {relative path: file text} of the whole design.

    ``runtime_params``: weights and thresholds in RAMs (initialised with the
    network's values) that do_init runs overwrite (docs/interface.md)."""
    if net.is_graph:  # shortcut networks: bnnfpga.rtl.graph
        from .graph import generate_graph

        return generate_graph(net, folding, top_k, fifo_depth, runtime_params)
    stages, layers, in_beats = plan(net, folding, top_k, fifo_depth, runtime_params)
    env = _env()
    files: Dict[str, str] = {}
    from . import shared

    modules = (STATIC_MODULES + (["bnn_input_bin.sv"] if net.input.binarize_threshold is not None else [])
               + [strided.RTL_MODULES[k] for k in sorted(strided.uses(net))]
               + (fw.RTL_MODULES if fw.has_fixed_weights(net) else []) + shared.static_modules(layers)
               + (DRAM_MODULES if any(L.dram for L in layers) else [])
               + (["bnn_swg_multi.sv"] if _uses_swg_multi(net, folding) else []))
    for name in modules:
        files[f"rtl/{name}"] = (TEMPLATE_DIR / name).read_text()
    layer_t = env.get_template("layer.sv.j2")
    for L in layers:
        if L.share:
            files[f"rtl/{L.module}.sv"] = shared.render(env, L)
            files.update(shared.mem_files(L))
            continue
        if L.dram:  # no weight ROM: the weights are a DRAM image (bnnfpga.offchip.dram_image)
            files[f"rtl/{L.module}.sv"] = env.get_template("layer_dram.sv.j2").render(L=L)
            continue
        files[f"rtl/{L.module}.sv"] = layer_t.render(L=L)
        files.update(weight_rom_files(L))
    cycles = fold_mod.pipeline_cycles(net, folding, top_k)
    files[f"rtl/{TOP}.sv"] = env.get_template("bnn_top.sv.j2").render(
        net_name=net.name, stages=stages, cycles=cycles, classes=net.num_classes, top_k=top_k,
        in_beats=in_beats, out_words=net.num_classes + top_k, runtime=bool(runtime_params) or any(L.uram for L in layers))
    order = [f"rtl/{n}" for n in modules] + [f"rtl/{L.module}.sv" for L in layers] + [f"rtl/{TOP}.sv"]
    files["files.f"] = "".join(p + "\n" for p in order)
    meta = {
        "generator": "bnnfpga.rtl", "generator_version": GENERATOR_VERSION, "network": net.name, "top": TOP,
        "top_k": top_k, "classes": net.num_classes, "runtime_params": bool(runtime_params), "input_shape": list(net.input.shape),
        "zero_point": net.input.zero_point, "in_beats_per_frame": in_beats,
        "out_words_per_frame": net.num_classes + top_k, "analytical_cycles_per_frame": cycles,
        "folding": {k: fold_mod.fold_dict(v) for k, v in sorted(folding.items())},
        "stage_cycles": [{"name": s.name, "kind": s.kind, "cycles": s.cycles} for s in stage_cycles(net, folding, top_k)],
        "stages": [{"instance": s.inst, "module": s.module, "kind": s.kind, "params": dict(s.params),
                    "fifo_depth": s.fifo_depth, "comment": s.comment} for s in stages],
        "layer_modules": {L.name: L.module for L in layers},
    }
    if any(L.uram for L in layers):  # weights in URAM, loaded at run time (bnnfpga.uram)
        from ..uram import uram_meta

        meta["uram_weights"] = uram_meta(net, folding)
    if net.input.binarize_threshold is not None:
        meta["binarize_threshold"] = int(net.input.binarize_threshold)
    if any(L.dram for L in layers):
        meta["dram_weights"] = {L.name: {"port": f"s_axis_w_{L.module}", "beat_bits": L.dram_beat_bits,
                                         "batch": L.batch, "words_per_pass": L.sf * L.nf} for L in layers if L.dram}
        for L in layers:  # convolutions: OH*OW vectors per frame, ceil(N * OH*OW / batch) passes per run
            if L.dram and L.dram_vectors > 1:
                meta["dram_weights"][L.name]["vectors_per_frame"] = L.dram_vectors
    files["design.json"] = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    return files


def _uses_swg_multi(net: Network, folding) -> bool:
    from ..swg_multi import uses

    return uses(net, folding)


def sources(files: Dict[str, str]) -> List[str]:
    """The SystemVerilog sources of a design in compile order (relative paths)."""
    return [l for l in files["files.f"].splitlines() if l]


def design_hash(files: Dict[str, str]) -> str:
    h = hashlib.sha256()
    for k in sorted(files):
        h.update(k.encode() + b"\0" + files[k].encode() + b"\0")
    return h.hexdigest()[:16]


def write_design(files: Dict[str, str], out_dir) -> Path:
    """Write the files into ``out_dir`` atomically: a complete new folder replaces the old one."""
    return write_tree(files, out_dir, what="bnnfpga RTL design", error=RTLError)
