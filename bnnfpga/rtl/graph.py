"""SystemVerilog for graph networks (binary ResNet / DenseNet, see "Graphs" in bnnfpga.ir).

:func:`plan_graph` lays out the stages and the streams between them;
:func:`generate_graph` renders the design (same files and top-level interface
as a chain design, docs/interface.md).  ``bnnfpga.rtl.backend.generate``
dispatches here for graph networks.

Stages (in the network's topological order), each joined to its readers by a
``bnn_fifo``:

* the chain modules: ``bnn_input``, ``bnn_dwc`` (width converters),
  ``bnn_swg`` + ``layer_<name>`` (``bnn_mvtu`` with its ROMs) per convolution,
  ``layer_<name>`` per dense layer, ``bnn_maxpool``, ``bnn_output``;
* an integer-output layer (no thresholds, not the last) is the same layer
  module in score mode (``bnn_mvtu`` SCORES = 1: ``2*popcount - n`` or the
  fixed accumulator) whose 32-bit lanes the top level narrows to the stream's
  ``ir.range_bits`` width (the value always fits);
* ``bnn_dup`` (a fork: a stream read by k > 1 layers gets k - 1 of them),
  ``bnn_add`` (two integer streams, shifted), ``bnn_concat`` (bit streams,
  per pixel; more than two inputs pairwise), ``thr_<name>`` (a Threshold
  layer: ``rtl_templates/graph_threshold.sv.j2``, its thresholds in a ROM).
  Adds and concats work at the gcd of their inputs' lane counts, max-pool on
  whole pixels, with width converters in front where needed.

FIFO depths
-----------
The depths come from :func:`bnnfpga.fifo_depth.analyze` run on the *RTL's
own* cycle programs (:func:`rtl_procs`): what each module reads and writes in
every cycle (the sliding-window generator as a writer and a reader running
concurrently, the width converter reading and writing in one cycle, an MVTU
reading during its first output fold, the output stage passing scores
through), and each module's latency from accepting a word to pushing its
result into the next FIFO (``LATENCY``: 2 for an MVTU's two register stages, 1
for a registered stage, 0 for the duplicator and the converter), modelled as
pass-through delay stages.  The analysis is the max-plus schedule of the
pipeline at its analytical period P (the slowest stage's cycles per frame)
with unbounded FIFOs; the formula's depth of a FIFO is the largest occupancy
of that schedule.

* Every FIFO gets the formula's depth.  Those that feed a join (add / concat) are
  the shortcut FIFOs: a smaller one deadlocks or loses throughput
  (tests/test_graph_rtl.py).  The others are "rate matching" FIFOs (a sliding-window
  generator that runs ahead of an MVTU replaying its input buffer, a converter in
  front of a dense layer, ...).  In a chain a short FIFO there only holds back a
  producer whose reader is slower; in a graph the held-back producer can stall a
  fork and with it the other branch, so they keep the formula's depth too (it
  costs 8% more FIFO bits on the CNV-size ResNet, 71% on the DenseNet, whose
  shortcut FIFOs are small).

The RTL co-simulation checks the result: designs run at exactly P cycles per
frame without deadlock on 22 random graphs and the trained ResNet/DenseNet.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from math import gcd
from typing import Dict, List, Optional, Tuple

import numpy as np

from .. import fifo_depth as fd
from .. import folding as fold_mod
from ..folding import LayerFold
from ..ir import (Add, Concat, Conv2D, Dense, MaxPool2D, Network, Threshold, graph_shapes, range_bits,
                  sanitize_identifier, value_ranges)
from . import backend as bk

GRAPH_MODULES = ["bnn_dup.sv", "bnn_add.sv", "bnn_concat.sv"]
# cycles from a module accepting a word to pushing the word it produces into the next FIFO
LATENCY = {"input": 1, "dwc": 0, "swg": 1, "conv": 2, "dense": 2, "maxpool": 1, "threshold": 1, "add": 1,
           "concat": 1, "dup": 0, "output": 1}
MIN_DEPTH = 2  # bnn_fifo's smallest depth


@dataclass
class GStage:
    inst: str
    module: str
    params: List[Tuple[str, int]]
    ins: List[Tuple[str, Optional[int]]]  # (port prefix, stream id); None: the AXI4-Stream input
    outs: List[Tuple[str, Optional[int]]]  # None: the AXI4-Stream output
    comment: str
    kind: str
    cycles: int
    layer: str = ""
    narrow: Optional[Tuple[int, int]] = None  # (PE, bits): 32-bit score lanes narrowed to an integer stream
    params_sf: int = 0  # compute layers: input fold SF
    conns: List[str] = field(default_factory=list)


@dataclass
class GStream:
    sid: int
    lanes: int
    eb: int  # bits per lane
    words: int  # words per frame
    producer: str = ""
    consumer: str = ""
    depth: int = MIN_DEPTH
    formula: int = MIN_DEPTH
    role: str = ""  # "join input of '<layer>'" | "rate matching" | ""

    @property
    def width(self) -> int:
        return self.lanes * self.eb

    @property
    def bits(self) -> int:
        return self.width * self.depth


@dataclass
class ThresholdRTL:
    name: str
    module: str
    shape: tuple
    lanes: int
    ib: int
    cf: int
    tb: int
    cb: int
    cwb: int
    words: List[Tuple[str, str]]


@dataclass
class GraphPlan:
    net: Network
    folding: Dict[str, LayerFold]
    top_k: int
    stages: List[GStage]
    streams: List[GStream]
    layers: list  # backend.LayerRTL
    thresholds: List[ThresholdRTL]
    in_beats: int
    cycles: int  # analytical cycles per frame (slowest stage)
    procs: list  # fifo_depth.Proc programs (stages + delay stages)
    schedule: object  # fifo_depth.Schedule

    @property
    def shortcut_fifo_bits(self) -> int:
        return sum(s.bits for s in self.streams if s.role.startswith("join"))

    @property
    def fifo_bits(self) -> int:
        return sum(s.bits for s in self.streams)

    def fifo_table(self) -> str:
        lines = [f"{'stream':>6} {'producer':24} {'consumer':24} {'width':>5} {'formula':>7} {'depth':>5} {'bits':>7}  role"]
        for s in self.streams:
            if s.depth > MIN_DEPTH or s.role.startswith("join"):
                lines.append(f"{s.sid:>6} {s.producer:24} {s.consumer:24} {s.width:>5} {s.formula:>7} {s.depth:>5} "
                             f"{s.bits:>7}  {s.role}")
        lines.append(f"total: {self.fifo_bits} FIFO bits in {len(self.streams)} FIFOs, of which "
                     f"{self.shortcut_fifo_bits} in shortcut (join input) FIFOs; {self.cycles} cycles per frame")
        return "\n".join(lines)


# ---------------------------------------------------------------- RTL cycle programs


def prog_dwc(i: int, o: int, nin: int, lastn: int):
    """bnn_dwc: per cycle, a word out when O elements are held, a word in when it then fits (I + O buffer)."""
    cap, total = i + o, ((nin - 1) * i + lastn) // o
    count = reads = writes = 0
    rd, wr = [], []
    while writes < total or reads < nin:
        w = count >= o
        kept = count - o if w else count
        r = reads < nin and kept <= cap - i
        count = kept + ((lastn if reads == nin - 1 else i) if r else 0)
        reads += r
        writes += w
        rd.append(r)
        wr.append(w)
    return np.array(rd)[:, None], np.array(wr)[:, None]


def prog_swg(k: int, h: int, w: int, cw: int, pad: int):
    """bnn_swg as two programs: the writer (one input word per cycle; a token when a row that some
    output row waits for is complete) and the reader (one window word per cycle; takes the token
    its output row waits for before its first word)."""
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    his = [min(oy - pad + k - 1, h - 1) for oy in range(oh)]
    trig = sorted(set(his))
    wr_w = np.zeros(h * w * cw, bool)
    for r in trig:
        wr_w[(r + 1) * w * cw - 1] = True
    rd_r = np.zeros(oh * ow * k * k * cw, bool)
    prev = -1
    for oy, hi in enumerate(his):
        if hi > prev:
            rd_r[oy * ow * k * k * cw] = True
        prev = hi
    return (np.ones((h * w * cw, 1), bool), wr_w[:, None]), (rd_r[:, None], np.ones((len(rd_r), 1), bool))


def prog_output(classes: int, top_k: int):
    """bnn_output: a score in and out per cycle, then the labels."""
    rd = np.zeros((classes + top_k, 1), bool)
    rd[:classes] = True
    return rd, np.ones((classes + top_k, 1), bool)


# ---------------------------------------------------------------- the plan


def plan_graph(net: Network, folding: Dict[str, LayerFold], top_k: int = 1,
               fifo_depths: Optional[Dict[int, int]] = None, runtime_params: bool = False) -> GraphPlan:
    """Stages, streams and FIFO depths of a graph network.  ``fifo_depths`` overrides the
    depth of given streams (by stream id): for experiments only (a smaller shortcut stalls)."""
    if runtime_params:
        raise bk.RTLError(f"network '{net.name}': runtime_params is not supported for graph networks (shortcut "
                          "connections) yet")
    net.validate()
    fold_mod.check(net, folding)
    from .. import strided

    if strided.uses(net):
        raise bk.RTLError(f"network '{net.name}': strided convolutions and window max-pools in graph networks are not "
                          "supported by the RTL backend yet (the HLS backend supports them)")
    if not (1 <= top_k <= net.num_classes):
        raise bk.RTLError(f"top_k={top_k} must be between 1 and the network's {net.num_classes} classes")
    g = graph_shapes(net)
    ranges = value_ranges(net, g)
    sp = net.input
    qw = sp.bits
    n0 = sp.height * sp.width * sp.channels
    in_beats = -(-n0 // 8)
    stages: List[GStage] = []
    streams: List[GStream] = []
    progs: List[tuple] = []  # (stage, [(name, ins, outs, rd, wr, latency)])
    used_mod: set = {"bnn_top"}
    used_inst: set = set()
    lastn_of: Dict[int, int] = {}  # stream -> elements in a frame's last word (the padded input beat)

    def inst(base: str) -> str:
        return sanitize_identifier(base, used_inst)

    def new_stream(lanes: int, eb: int, words: int) -> int:
        streams.append(GStream(len(streams), lanes, eb, words))
        return len(streams) - 1

    def add(st: GStage, programs):
        stages.append(st)
        progs.append((st, programs))
        for _, sid in st.ins:
            if sid is not None:
                streams[sid].consumer = st.inst
        for _, sid in st.outs:
            if sid is not None:
                streams[sid].producer = st.inst

    def convert(sid: int, want: int, what: str) -> int:
        s = streams[sid]
        lastn = lastn_of.get(sid, s.lanes)
        if s.lanes == want and lastn == want:
            return sid
        elems = (s.words - 1) * s.lanes + lastn
        out = new_stream(want, s.eb, elems // want)
        rd, wr = prog_dwc(s.lanes, want, s.words, lastn)
        add(GStage(inst(f"u_dwc{len(stages)}"), "bnn_dwc",
                   [("EW", s.eb), ("I", s.lanes), ("O", want), ("NIN", s.words), ("LASTN", lastn)],
                   [("in", sid)], [("out", out)], f"width converter {s.lanes} -> {want} x {s.eb} bits ({what})", "dwc",
                   len(rd)), [("", [sid], [out], rd, wr, LATENCY["dwc"])])
        return out

    # input
    s_in = new_stream(8, qw, in_beats)
    lastn_of[s_in] = n0 - (in_beats - 1) * 8
    add(GStage("u_input", "bnn_input", [("QW", qw), ("ZERO_POINT", sp.zero_point)], [("in", None)], [("out", s_in)],
               f"input: {n0} bytes in {in_beats} beats -> q = pixel - {sp.zero_point}", "input", in_beats),
        [("", [fd.SOURCE], [s_in], *fd.prog_map(in_beats, 1, 1), LATENCY["input"])])
    copies: Dict[str, List[int]] = {"@image": [s_in]}
    layers: list = []
    thresholds: List[ThresholdRTL] = []
    for li, layer in enumerate(net.layers):
        name = layer.name
        ins = g.inputs[name]
        ishape, oshape = g.in_shapes[name][0], g.out_shapes[name]
        in_ids = [copies[n].pop(0) for n in ins]
        elems_out = int(np.prod(oshape))
        if isinstance(layer, (Dense, Conv2D)):
            f = folding[name]
            L = bk._layer_rtl(net, layer, (ishape, oshape), f, used_mod)
            L.index = len(layers)
            layers.append(L)
            sid = convert(in_ids[0], f.simd, f"SIMD words for {name}")
            ew = streams[sid].eb
            pix = 1
            if isinstance(layer, Conv2D):
                h, w, c = ishape
                k = layer.kernel
                r = 1
                while r < 2 * k + 1:
                    r *= 2
                win = new_stream(f.simd, ew, oshape[0] * oshape[1] * layer.fan_in // f.simd)
                (wrd, wwr), (rrd, rwr) = prog_swg(k, h, w, c // f.simd, layer.pad)
                tok = f"swg{len(stages)}~rows"
                add(GStage(inst(f"u_swg_{L.module[6:]}"), "bnn_swg",
                           [("H", h), ("W", w), ("CW", c // f.simd), ("WW", f.simd * ew), ("K", k), ("PAD", layer.pad),
                            ("R", r)], [("in", sid)], [("out", win)],
                           f"sliding window {k}x{k} '{layer.padding}' over {ishape} for {name}", "swg",
                           max(len(wrd), len(rrd)), name),
                    [("w", [sid], [tok], wrd, wwr, 0), ("r", [tok], [win], rrd, rwr, LATENCY["swg"])])
                sid = win
                pix = oshape[0] * oshape[1]
            last = layer is net.layers[-1]
            int_out = layer.thresholds is None and not last
            if last:
                lanes_out, eb_out = f.pe, 32
            elif int_out:
                lanes_out, eb_out = f.pe, range_bits(*ranges[name])
            else:
                lanes_out, eb_out = f.pe, 1
            out = new_stream(lanes_out, eb_out, pix * L.nf)
            kind = L.kind
            what = ("int32 scores" if last else f"integer output, {eb_out}-bit lanes (range {list(ranges[name])})"
                    if int_out else "thresholded bits")
            cyc = pix * L.sf * L.nf
            add(GStage(f"u_{L.module}", L.module, [], [("in", sid)], [("out", out)],
                       f"{kind} '{name}' {ishape} -> {oshape} PE={f.pe} SIMD={f.simd}: {what}", kind, cyc, name,
                       narrow=(f.pe, eb_out) if int_out else None, params_sf=L.sf),
                [("", [sid], [out], *fd.prog_mvu(L.sf, L.nf, pix), LATENCY[kind])])
        elif isinstance(layer, MaxPool2D):
            h, w, c = ishape
            sid = convert(in_ids[0], c, f"pixels for {name}")
            out = new_stream(c, 1, oshape[0] * oshape[1])
            add(GStage(inst("u_" + name), "bnn_maxpool", [("C", c), ("W", w), ("K", layer.kernel)], [("in", sid)],
                       [("out", out)], f"max-pool '{name}' {ishape} -> {oshape}", "maxpool", h * w, name),
                [("", [sid], [out], *fd.prog_maxpool(layer.kernel, h, w, 1), LATENCY["maxpool"])])
        elif isinstance(layer, Threshold):
            sid = in_ids[0]
            s = streams[sid]
            lanes, ib = s.lanes, s.eb
            c = layer.channels
            cf = c // lanes
            lo, hi = ranges[ins[0]]
            tb = range_bits(lo - 1, hi + 1)
            t = np.asarray(layer.thresholds.t, np.int64)
            d = np.asarray(layer.thresholds.direction)
            words = []
            for j in range(cf):
                val, text = 0, []
                for p in range(lanes):
                    ch = j * lanes + p
                    entry = (int(t[ch]) & ((1 << tb) - 1)) | ((1 << tb) if d[ch] < 0 else 0)
                    val |= entry << (p * (tb + 1))
                    text.append(f"c{ch} {'<=' if d[ch] < 0 else '>='} {int(t[ch])}")
                words.append((bk._hex(val, lanes * (tb + 1)), ", ".join(text)))
            mod = "thr_" + sanitize_identifier(name, used_mod)
            thresholds.append(ThresholdRTL(name, mod, tuple(ishape), lanes, ib, cf, tb, max(ib, tb) + 1,
                                           bk._clog2(cf), words))
            n = elems_out // lanes
            out = new_stream(lanes, 1, n)
            add(GStage(f"u_{mod}", mod, [], [("in", sid)], [("out", out)],
                       f"threshold '{name}' {ishape}: {lanes} lanes of {ib} bits -> bits", "threshold", n, name),
                [("", [sid], [out], *fd.prog_map(n, 1, 1), LATENCY["threshold"])])
        elif isinstance(layer, Add):
            lanes = gcd(streams[in_ids[0]].lanes, streams[in_ids[1]].lanes)
            a, b = (convert(v, lanes, f"lanes of {name}") for v in in_ids)
            ia, ib = streams[a].eb, streams[b].eb
            lo, hi = ranges[name]
            io = range_bits(lo, hi)
            sa, sb = (int(v) for v in layer.shifts)
            n = elems_out // lanes
            out = new_stream(lanes, io, n)
            add(GStage(inst("u_" + name), "bnn_add",
                       [("LANES", lanes), ("AW", ia), ("BW", ib), ("OW", io), ("SA", sa), ("SB", sb)],
                       [("a", a), ("b", b)], [("out", out)],
                       f"add '{name}' {oshape}: ({ins[0]} << {sa}) + ({ins[1]} << {sb}), {lanes} lanes, range [{lo}, {hi}]",
                       "add", n, name),
                [("", [a, b], [out], *fd.prog_map(n, 2, 1), LATENCY["add"])])
        elif isinstance(layer, Concat):
            lanes = 0
            for v in in_ids:
                lanes = gcd(lanes, streams[v].lanes)
            chans = [s[-1] for s in g.in_shapes[name]]
            pix = elems_out // oshape[-1]
            vs = [convert(v, lanes, f"lanes of {name}") for v in in_ids]
            cur, cur_c = vs[0], chans[0]
            for j, (v, ch) in enumerate(zip(vs[1:], chans[1:])):
                n = pix * (cur_c + ch) // lanes
                out = new_stream(lanes, 1, n)
                add(GStage(inst(f"u_{name}_{j}" if len(vs) > 2 else "u_" + name), "bnn_concat",
                           [("L", lanes), ("AWORDS", cur_c // lanes), ("BWORDS", ch // lanes)], [("a", cur), ("b", v)],
                           [("out", out)], f"concat '{name}': {cur_c} + {ch} channels per pixel, {lanes} lanes",
                           "concat", n, name),
                    [("", [cur, v], [out], *fd.prog_concat(pix, cur_c // lanes, ch // lanes), LATENCY["concat"])])
                cur, cur_c = out, cur_c + ch
            out = cur
        else:
            raise bk.RTLError(f"layer '{name}': {type(layer).__name__} is not supported by the RTL backend")
        readers = len(g.consumers.get(name, []))
        if readers > 1:
            s = streams[out]
            cps, cur = [], out
            for j in range(readers - 1):
                x, y = new_stream(s.lanes, s.eb, s.words), new_stream(s.lanes, s.eb, s.words)
                add(GStage(inst(f"u_dup_{name}_{j}"), "bnn_dup", [("W", s.width)], [("in", cur)],
                           [("o0", x), ("o1", y)], f"fork of '{name}': {readers} readers", "dup", s.words, name),
                    [("", [cur], [x, y], *fd.prog_map(s.words, 1, 2), LATENCY["dup"])])
                cps.append(x)
                cur = y
            cps.append(cur)
            copies[name] = cps
        else:
            copies[name] = [out]

    classes = net.num_classes
    sid = convert(copies[net.layers[-1].name].pop(0), 1, "one score per word")
    add(GStage("u_output", "bnn_output", [("CLASSES", classes), ("TOPK", top_k)], [("in", sid)], [("out", None)],
               f"output: {classes} scores, then top-{top_k} label(s)", "output", classes + top_k),
        [("", [sid], [fd.SINK], *prog_output(classes, top_k), LATENCY["output"])])

    procs = rtl_procs(progs, streams)
    cycles = max(st.cycles for st in stages)
    sched = fd.analyze(procs, frames=3, period=cycles)
    joins = {}
    for st in stages:
        if st.kind in ("add", "concat"):
            for _, sid in st.ins:
                joins[sid] = st.layer
    for s in streams:
        # Every FIFO gets the formula's depth: then the bounded pipeline runs the unbounded schedule
        # (bnnfpga.fifo_depth), at P cycles per frame.  Capping the FIFOs off the joins (as a chain
        # would) is not safe in a graph: a window generator stalled on a short FIFO inside a branch
        # stalls its fork, and with it the other branch (a trained Fashion-MNIST ResNet ran at
        # 45,020 instead of 31,360 cycles/frame with such caps).
        s.formula = max(MIN_DEPTH, sched.depths.get(f"s{s.sid}", MIN_DEPTH))
        s.depth = s.formula
        if s.sid in joins:
            s.role = f"join input of '{joins[s.sid]}'"
        elif s.formula > MIN_DEPTH:
            s.role = "rate matching"
    for s in streams:
        if fifo_depths and s.sid in fifo_depths:
            s.depth = max(1, int(fifo_depths[s.sid]))
    for st in stages:
        st.conns = _connections(st, streams)
    return GraphPlan(net, folding, top_k, stages, streams, layers, thresholds, in_beats, cycles, procs, sched)


def rtl_procs(progs, streams) -> List[fd.Proc]:
    """The fifo_depth programs of the stages, each module's latency as pass-through delay stages."""
    procs: List[fd.Proc] = []
    name = lambda v: v if isinstance(v, str) else f"s{v}"
    for i, (st, parts) in enumerate(progs):
        for part, ins, outs, rd, wr, lat in parts:
            pname = f"{i}:{st.kind}:{st.inst}{':' + part if part else ''}"
            real = [name(o) for o in outs]
            first = [o if (lat == 0 or o == fd.SINK or o.endswith("~rows")) else f"{o}~0" for o in real]
            procs.append(fd.Proc(pname, [name(v) for v in ins], first, np.asarray(rd, bool), np.asarray(wr, bool)))
            for o, o0, j in zip(real, first, range(len(real))):
                if o0 == o:
                    continue
                n = int(np.asarray(wr)[:, j].sum())
                for d in range(lat):
                    src, dst = f"{o}~{d}", (o if d == lat - 1 else f"{o}~{d + 1}")
                    procs.append(fd.Proc(f"{pname}:delay{d}", [src], [dst], *fd.prog_map(n, 1, 1)))
    return procs


def _connections(st: GStage, streams: List[GStream]) -> List[str]:
    c = []
    for pfx, sid in st.ins:
        if sid is None:
            c.append(f".{pfx}_data(s_axis_TDATA), .{pfx}_valid(s_axis_TVALID && admit), .{pfx}_ready(in_ready_0)")
        else:
            c.append(f".{pfx}_data(c{sid}_data), .{pfx}_valid(c{sid}_valid), .{pfx}_ready(c{sid}_ready)")
    for pfx, sid in st.outs:
        if sid is None:
            c.append(f".{pfx}_data(m_axis_TDATA), .{pfx}_last(out_last), .{pfx}_valid(m_axis_TVALID), "
                     f".{pfx}_ready(m_axis_TREADY)")
        elif st.narrow:
            c.append(f".{pfx}_data(wide_{sid}), .{pfx}_valid(p{sid}_valid), .{pfx}_ready(p{sid}_ready)")
        else:
            c.append(f".{pfx}_data(p{sid}_data), .{pfx}_valid(p{sid}_valid), .{pfx}_ready(p{sid}_ready)")
    return c


def generate_graph(net: Network, folding: Dict[str, LayerFold], top_k: int = 1, fifo_depth: Optional[int] = None,
                   runtime_params: bool = False, fifo_depths: Optional[Dict[int, int]] = None) -> Dict[str, str]:
    """IR + folding -> {relative path: file text} of a graph network's design (``fifo_depth``, one
    depth for every FIFO, is refused: graph FIFOs are sized by the formula; see ``fifo_depths``)."""
    if fifo_depth is not None:
        raise bk.RTLError("a single fifo_depth for every FIFO would break a graph network's shortcut FIFOs: they are "
                          "sized by bnnfpga.fifo_depth (override single streams with fifo_depths)")
    pl = plan_graph(net, folding, top_k, fifo_depths, runtime_params)
    env = bk._env()
    files: Dict[str, str] = {}
    from .. import fixed_weights as fw

    statics = bk.STATIC_MODULES + GRAPH_MODULES + (fw.RTL_MODULES if fw.has_fixed_weights(net) else [])
    for name in statics:
        files[f"rtl/{name}"] = (bk.TEMPLATE_DIR / name).read_text()
    layer_t = env.get_template("layer.sv.j2")
    for L in pl.layers:
        files[f"rtl/{L.module}.sv"] = layer_t.render(L=L)
        files.update(bk.weight_rom_files(L))
    thr_t = env.get_template("graph_threshold.sv.j2")
    for T in pl.thresholds:
        files[f"rtl/{T.module}.sv"] = thr_t.render(T=T)
    files[f"rtl/{bk.TOP}.sv"] = env.get_template("bnn_graph_top.sv.j2").render(
        net_name=net.name, stages=pl.stages, streams=pl.streams, cycles=pl.cycles, classes=net.num_classes,
        top_k=top_k, in_beats=pl.in_beats, out_words=net.num_classes + top_k)
    order = ([f"rtl/{n}" for n in statics] + [f"rtl/{L.module}.sv" for L in pl.layers]
             + [f"rtl/{T.module}.sv" for T in pl.thresholds] + [f"rtl/{bk.TOP}.sv"])
    files["files.f"] = "".join(p + "\n" for p in order)
    meta = {
        "generator": "bnnfpga.rtl", "generator_version": bk.GENERATOR_VERSION, "network": net.name, "top": bk.TOP,
        "graph": True, "top_k": top_k, "classes": net.num_classes, "runtime_params": False,
        "input_shape": list(net.input.shape), "zero_point": net.input.zero_point, "in_beats_per_frame": pl.in_beats,
        "out_words_per_frame": net.num_classes + top_k, "analytical_cycles_per_frame": pl.cycles,
        "folding": {k: {"pe": v.pe, "simd": v.simd} for k, v in sorted(folding.items())},
        "stage_cycles": [{"name": s.layer or s.kind, "kind": s.kind, "cycles": s.cycles} for s in pl.stages],
        "stages": [{"instance": s.inst, "module": s.module, "kind": s.kind, "params": dict(s.params),
                    "comment": s.comment} for s in pl.stages],
        "fifos": [{"stream": s.sid, "producer": s.producer, "consumer": s.consumer, "width": s.width,
                   "formula_depth": s.formula, "depth": s.depth, "role": s.role} for s in pl.streams],
        "shortcut_fifo_bits": pl.shortcut_fifo_bits, "fifo_bits": pl.fifo_bits,
        "layer_modules": {L.name: L.module for L in pl.layers},
    }
    files["design.json"] = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    return files


def analytical_cycles(files: Dict[str, str]) -> int:
    """The analytical cycles per frame recorded in a generated design."""
    return int(json.loads(files["design.json"])["analytical_cycles_per_frame"])
