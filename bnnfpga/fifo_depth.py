"""FIFO depths of a streaming dataflow pipeline, computed analytically, and a cycle-accurate
simulation with bounded FIFOs and back-pressure that checks them.

Why shortcut networks need deep FIFOs
-------------------------------------
A fork (``bnn_dup``) writes every word to both of its outputs in the same
cycle and stalls when either is full.  At the join (``bnn_add`` of a
residual block, ``bnn_concat`` of a dense layer) word n of the short path is
consumed together with (add) or just before (concat) word n of the long
branch.  The long branch (sliding window + MVTU + sliding window + MVU, ...)
needs many more input words before it emits its first output: a 3x3 "same"
convolution needs K - PAD = 2 input rows before its first output row, two of
them 3 rows, and each stage adds its compute latency.  Meanwhile the fork
keeps writing the same words into the short path, which the join cannot drain.
If the shortcut FIFO is too small the fork stalls, the branch starves and the
pipeline deadlocks (or, slightly larger, it flows but loses throughput).

The model
---------
Every stage is the loop nest of its HLS C++ template (``hls_templates/bnn_library.h``)
at II = 1: per frame a fixed sequence of *actions*, one per cycle, each of which
reads one word from some input ports and writes one word to some output ports
(:class:`Proc`; the builders ``prog_*`` below are written from the templates:
e.g. an MVTU reads during neuron fold 0 and writes on the last input fold; a
sliding-window generator reads whole input rows, then emits the windows of an
output row).  A FIFO of depth D holds D words; a word written in cycle t can be
read from cycle t + 1; a stage fires an action when every port it reads is
non-empty and every port it writes is not full (seen at the start of the cycle).

The formula (:func:`analyze`)
-----------------------------
Let P be the analytical cycles per frame of the pipeline, the largest number of
actions per frame of any stage (``folding``/``plan`` cycles).  Feed frame f's
input at cycle f * P and let every FIFO be unbounded: then each action a of a
stage runs at

    t_a = max(t_{a-1} + 1, 1 + max over the words w it reads of write_time(w))

so that, per stage, ``t = a + cummax(ready - a)`` (a max-plus recurrence:
closed form per stage, stages in topological order; no cycle-by-cycle
simulation and no back-pressure is involved).  Every stage's cycles per frame
is at most P, so this schedule is periodic with period P.  For each FIFO,
with writes k = 0, 1, ... at cycles w_k and R(t) the reads before cycle t,

    depth = max(2, max_k (k + 1 - R(w_k)))

is the largest occupancy the schedule ever needs.  With every FIFO at least
that deep, no write of the schedule is ever blocked, so the bounded pipeline
runs the very same schedule: it cannot deadlock and it reaches P cycles per
frame (:func:`simulate` confirms it cycle by cycle).  For a shortcut FIFO the
formula is, in words: the number of words the fork emits between the short
path's word n and the branch's word n, that is the branch's look-ahead (rows of
line buffer) plus its latency times the fork's rate.  For the basic binary ResNet block
(two 3x3 "same" convolutions on an H x W x C map at L lanes per word, fork
rate 1/r words per cycle) it is close to ``(2 W + 2) C / L`` words plus
``(branch latency) / r``; :func:`analyze` computes it exactly for any graph.

Only FIFOs deeper than 2 (the HLS default) get a ``#pragma HLS STREAM depth``;
``bnnfpga.hls.graph`` adds ``HLS_SLACK`` words to the FIFOs feeding a join for
the pipeline latency of synthesized stages (a few cycles each), which the
one-cycle-per-action model leaves out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

SOURCE = "@in"  # the AXI4-Stream input: always valid
SINK = "@out"  # the AXI4-Stream output: always ready
DEFAULT_DEPTH = 2  # hls::stream's default depth


@dataclass
class Proc:
    """One pipeline stage: per frame, actions (rows) reading input ports / writing output ports."""

    name: str
    ins: List[str]
    outs: List[str]
    rd: np.ndarray  # bool (A, len(ins))
    wr: np.ndarray  # bool (A, len(outs))

    @property
    def cycles(self) -> int:
        return int(self.rd.shape[0])


# ---------------------------------------------------------------- stage programs


def _prog(n: int, nin: int, nout: int):
    return np.zeros((n, nin), bool), np.zeros((n, nout), bool)


def prog_input(nbytes: int, simd: int):
    """bnn_input: per cycle at most one 64-bit beat in and one SIMD-lane word out (a word leaves
    once SIMD bytes are buffered; a beat is read while at most SIMD bytes wait)."""
    beats_total, words_total = -(-nbytes // 8), nbytes // simd
    rd, wr = [], []
    have = beats = words = 0
    left = nbytes
    while words < words_total:
        w = have >= simd
        if w:
            have -= simd
            words += 1
        r = beats < beats_total and have <= simd
        if r:
            n = min(left, 8)
            have += n
            left -= n
            beats += 1
        rd.append(r)
        wr.append(w)
    return np.array(rd)[:, None], np.array(wr)[:, None]


def prog_swg(k: int, h: int, w: int, cf: int, pad: int):
    """bnn_swg: before output row oy, read input rows up to oy + K - 1 - PAD; then emit its windows."""
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    rd, wr = [], []
    rows = 0
    for oy in range(oh):
        need = min(oy + k - 1 - pad, h - 1)
        while rows <= need:
            rd.append(np.ones(w * cf, bool))
            wr.append(np.zeros(w * cf, bool))
            rows += 1
        rd.append(np.zeros(ow * k * k * cf, bool))
        wr.append(np.ones(ow * k * k * cf, bool))
    return np.concatenate(rd)[:, None], np.concatenate(wr)[:, None]


def prog_mvu(sf: int, nf: int, pix: int):
    """bnn_mvtu / bnn_mvu_int / bnn_mvu_scores: per pixel NF x SF cycles; reads in neuron fold 0,
    writes on the last input fold."""
    a = np.arange(sf * nf)
    rd = np.tile(a < sf, pix)
    wr = np.tile(a % sf == sf - 1, pix)
    return rd[:, None], wr[:, None]


def prog_maxpool(k: int, h: int, w: int, cf: int):
    """bnn_maxpool: one input word per cycle; a word out on the window's last word."""
    oy_ky = np.arange(h) % k
    x = np.arange(w * cf) // cf
    wr = (oy_ky[:, None] == k - 1) & (x[None, :] % k == k - 1)
    return np.ones((h * w * cf, 1), bool), wr.reshape(-1, 1)


def prog_convert(a: int, b: int, nbits: int):
    """bnn_convert: read while fewer than B bits are held, else write."""
    n = nbits // a + nbits // b
    rd, wr = _prog(n, 1, 1)
    held = 0
    for i in range(n):
        if held >= b:
            wr[i, 0] = True
            held -= b
        else:
            rd[i, 0] = True
            held += a
    return rd, wr


def prog_output(words_in: int, words_out: int):
    """bnn_output: read the score words, then write scores and labels."""
    rd, wr = _prog(words_in + words_out, 1, 1)
    rd[:words_in, 0] = True
    wr[words_in:, 0] = True
    return rd, wr


def prog_map(n: int, nin: int, nout: int):
    """bnn_dup / bnn_add / bnn_threshold: every cycle reads every input and writes every output."""
    return np.ones((n, nin), bool), np.ones((n, nout), bool)


def prog_concat(pix: int, aw: int, bw: int):
    """bnn_concat: per pixel AW words from input a, then BW from input b, each written out."""
    k = np.tile(np.arange(aw + bw), pix)
    rd = np.stack([k < aw, k >= aw], axis=1)
    return rd, np.ones((len(k), 1), bool)


# ---------------------------------------------------------------- the analysis


@dataclass
class Schedule:
    period: int
    frames: int
    write_times: Dict[str, np.ndarray]
    read_times: Dict[str, np.ndarray]
    depths: Dict[str, int]  # per internal stream, the formula's depth
    frame_done: np.ndarray  # cycle of each frame's last output word

    @property
    def measured_period(self) -> int:
        return int(self.frame_done[-1] - self.frame_done[-2]) if len(self.frame_done) > 1 else 0


def period_of(procs: Sequence[Proc]) -> int:
    return max(p.cycles for p in procs)


def analyze(procs: Sequence[Proc], frames: int = 3, period: Optional[int] = None) -> Schedule:
    """The periodic unbounded-FIFO schedule (see the module docstring) and each FIFO's depth."""
    P = period or period_of(procs)
    wt: Dict[str, np.ndarray] = {}
    rt: Dict[str, np.ndarray] = {}
    done = None
    for p in procs:
        A = p.cycles
        total = A * frames
        ready = np.zeros(total, np.int64)
        for j, s in enumerate(p.ins):
            mask = np.tile(p.rd[:, j], frames)
            idx = np.nonzero(mask)[0]
            if s == SOURCE:
                per = int(p.rd[:, j].sum())
                arrive = (np.arange(len(idx)) // per) * P
            else:
                if s not in wt:
                    raise ValueError(f"stage '{p.name}' reads stream '{s}' before any stage writes it")
                w = wt[s]
                if len(w) < len(idx):
                    raise ValueError(f"stream '{s}': {len(w)} words written per {frames} frames, stage '{p.name}' reads {len(idx)}")
                arrive = w[: len(idx)] + 1
            ready[idx] = np.maximum(ready[idx], arrive)
            rt[s] = None if s == SOURCE else idx  # action indices, turned into times below
        a = np.arange(total, dtype=np.int64)
        t = a + np.maximum.accumulate(ready - a)
        for j, s in enumerate(p.ins):
            if s != SOURCE:
                rt[s] = t[np.nonzero(np.tile(p.rd[:, j], frames))[0]]
        for j, s in enumerate(p.outs):
            times = t[np.nonzero(np.tile(p.wr[:, j], frames))[0]]
            if s == SINK:
                per = int(p.wr[:, j].sum())
                done = times[per - 1 :: per]
            else:
                wt[s] = times
    depths = {}
    for s, w in wt.items():
        r = rt.get(s)
        if r is None:
            raise ValueError(f"stream '{s}' is written but never read")
        k = np.arange(len(w))
        before = np.searchsorted(r, w, side="left")
        depths[s] = int(max(DEFAULT_DEPTH, (k + 1 - before).max()))
    return Schedule(P, frames, wt, rt, depths, done if done is not None else np.zeros(0, np.int64))


# ---------------------------------------------------------------- cycle-accurate simulation


@dataclass
class SimResult:
    deadlock: bool
    cycles: int
    frame_done: List[int]  # cycle of each frame's last output word
    stalls: Dict[str, int] = field(default_factory=dict)  # cycles each stage could not fire

    @property
    def period(self) -> int:
        """Cycles between the last two frames' completions (the steady-state cycles per frame)."""
        return self.frame_done[-1] - self.frame_done[-2] if len(self.frame_done) > 1 else 0


def simulate(procs: Sequence[Proc], depths: Dict[str, int], frames: int = 3, max_cycles: Optional[int] = None) -> SimResult:
    """Run the pipeline cycle by cycle with bounded FIFOs (``depths``, default 2) and back-pressure.

    The input is always valid and the output always ready.  A cycle in which no
    stage can fire, before every frame is out, is a deadlock (nothing can change).
    """
    streams = sorted({s for p in procs for s in p.ins + p.outs} - {SOURCE, SINK})
    sid = {s: i for i, s in enumerate(streams)}
    cap = [int(depths.get(s, DEFAULT_DEPTH)) for s in streams]
    count = [0] * len(streams)
    progs = []
    for p in procs:
        rds = [[sid[p.ins[j]] for j in np.nonzero(row)[0] if p.ins[j] != SOURCE] for row in p.rd]
        wrs = [[sid[p.outs[j]] for j in np.nonzero(row)[0] if p.outs[j] != SINK] for row in p.wr]
        sink_j = [j for j, s in enumerate(p.outs) if s == SINK]
        sink = [bool(row[sink_j[0]]) for row in p.wr] if sink_j else None
        acts = list(zip(rds, wrs))
        progs.append((acts, sink, p.cycles * frames))
    ptr = [0] * len(procs)
    stalls = [0] * len(procs)
    sink_words, per_frame = 0, None
    for acts, sink, _ in progs:
        if sink is not None:
            per_frame = sum(sink)
    done: List[int] = []
    limit = max_cycles or (period_of(procs) * (frames + 4) * 4 + 10000)
    t = 0
    while t < limit:
        fired = []
        for i, (acts, sink, total) in enumerate(progs):
            a = ptr[i]
            if a >= total:
                continue
            rds, wrs = acts[a % len(acts)]
            ok = all(count[s] > 0 for s in rds) and all(count[s] < cap[s] for s in wrs)
            if ok:
                fired.append((i, rds, wrs, sink is not None and sink[a % len(acts)]))
            else:
                stalls[i] += 1
        if not fired:
            if all(ptr[i] >= progs[i][2] for i in range(len(progs))):
                break
            return SimResult(True, t, done, {p.name: s for p, s in zip(procs, stalls)})
        for i, rds, wrs, out in fired:
            ptr[i] += 1
            for s in rds:
                count[s] -= 1
            for s in wrs:
                count[s] += 1
            if out:
                sink_words += 1
                if sink_words % per_frame == 0:
                    done.append(t)
        t += 1
        if len(done) == frames:
            break
    return SimResult(len(done) < frames, t, done, {p.name: s for p, s in zip(procs, stalls)})


def min_depth(procs: Sequence[Proc], depths: Dict[str, int], stream: str, frames: int = 3, want_period: Optional[int] = None,
              hi: Optional[int] = None) -> int:
    """The smallest depth of ``stream`` (others as given) with which the simulation completes
    (and, with ``want_period``, reaches that period): found by bisection on the simulation."""
    lo, hi = 1, hi or depths.get(stream, DEFAULT_DEPTH)

    def good(d):
        r = simulate(procs, {**depths, stream: d}, frames)
        return not r.deadlock and (want_period is None or r.period <= want_period)

    if not good(hi):
        raise ValueError(f"stream '{stream}': depth {hi} is not enough")
    while lo < hi:
        mid = (lo + hi) // 2
        if good(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo
