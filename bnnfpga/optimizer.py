"""Folding optimizer: choose PE and SIMD for every layer.

Two questions, one search:

* **fastest that fits** (``optimize(net, board=...)``): the smallest pipeline
  cycles per frame (the slowest stage's) whose estimated resources stay inside
  the budget: a board's LUTs and block RAMs times a safety margin (85% LUT,
  90% BRAM by default), and/or a total of PE*SIMD lanes;
* **cheapest that meets a rate** (``target_fps=...``): the fewest resources
  whose cycles per frame meet ``clock / target_fps``.

For a candidate cycle count T every layer takes its cheapest legal folding
(``bnnfpga.folding`` rules) with at most T cycles per frame, so the pipeline
is balanced: no layer is faster than T needs (up to its divisors).  Resources
come from :mod:`bnnfpga.resources` (calibrated against yosys); a layer's cost
weighs its LUTs and BRAMs against the budget, several weightings are tried,
and the exact pipeline estimate decides.  The smallest feasible T is found by
bisection over the cycle counts the layers can reach.  When no folding fits,
or a target cannot be met, the result says which resource binds and by how much.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import boards as boards_mod
from .folding import (FoldingError, LayerFold, check, divisors, fold_cycles, simd_options,
                      stage_cycles)
from .ir import Conv2D, Dense, InputSpec, MaxPool2D, Network, Thresholds, acc_range, weight_bits
from .resources import Resources, ResourceModel, stage_specs

LUT_MARGIN = 0.85
BRAM_MARGIN = 0.90
# weights of (LUT, BRAM) in a layer's scalar cost, relative to the budget
WEIGHTINGS = [(1.0, 1.0), (1.0, 0.25), (0.25, 1.0), (1.0, 0.05), (0.05, 1.0)]
# with off-chip weights: weights of DRAM bandwidth against LUT and BRAM
DRAM_WEIGHTS = [1.0, 0.2, 5.0, 0.02]


@dataclass
class Budget:
    lut: Optional[float] = None  # allowed LUTs (margin applied)
    bram36: Optional[float] = None
    lanes: Optional[int] = None  # total PE*SIMD
    board: Optional[str] = None
    lut_total: Optional[int] = None
    bram_total: Optional[int] = None
    dsp: Optional[float] = None  # DSP48 slices (fixed-point weight lanes multiply pixels in DSPs)
    dram: Optional[float] = None  # DRAM bytes per cycle (off-chip weights + image/score DMA), margin applied
    uram: Optional[float] = None  # URAM288 blocks (margin applied; 0 on boards without UltraRAM, bnnfpga.uram)
    uram_total: Optional[int] = None

    @classmethod
    def for_board(cls, board, lut_margin: float = LUT_MARGIN, bram_margin: float = BRAM_MARGIN,
                  lanes: Optional[int] = None) -> "Budget":
        b = boards_mod.get(board) if isinstance(board, str) else board
        from .uram import URAM_MARGIN

        return cls(lut=b.lut * lut_margin, bram36=b.bram36 * bram_margin, lanes=lanes, board=b.name,
                   lut_total=b.lut, bram_total=b.bram36, dsp=float(b.dsp), uram=b.uram * URAM_MARGIN,
                   uram_total=b.uram)

    def describe(self) -> str:
        parts = []
        if self.lut is not None:
            parts.append(f"{self.lut:,.0f} LUT" + (f" ({self.lut / self.lut_total:.0%} of {self.lut_total:,})" if self.lut_total else ""))
        if self.bram36 is not None:
            parts.append(f"{self.bram36:,.1f} BRAM36" + (f" ({self.bram36 / self.bram_total:.0%} of {self.bram_total})" if self.bram_total else ""))
        if self.uram:
            parts.append(f"{self.uram:,.1f} URAM" + (f" ({self.uram / self.uram_total:.0%} of {self.uram_total})" if self.uram_total else ""))
        if self.lanes is not None:
            parts.append(f"{self.lanes:,} PE x SIMD lanes")
        if self.dram is not None:
            parts.append(f"{self.dram:,.1f} DRAM bytes/cycle")
        return ", ".join(parts) or "unlimited"

    def usage(self, res: Resources, lanes: int, dram: Optional[float] = None) -> Dict[str, Tuple[float, float]]:
        """{resource: (used, allowed)} for the budgeted resources (``dram``: DRAM bytes per cycle used)."""
        out = {}
        if self.lut is not None:
            out["LUT"] = (res.lut, self.lut)
        if self.bram36 is not None:
            out["BRAM36"] = (res.bram36, self.bram36)
        if self.uram is not None and (res.uram > 0 or self.uram > 0):  # UltraScale+ boards (bnnfpga.uram)
            out["URAM"] = (res.uram, self.uram)
        if self.lanes is not None:
            out["lanes"] = (float(lanes), float(self.lanes))
        if self.dsp is not None and res.dsp > 0:  # only designs that use DSPs (fixed-point weights)
            out["DSP"] = (res.dsp, self.dsp)
        if self.dram is not None and dram is not None:
            out["DRAM"] = (float(dram), float(self.dram))
        return out

    def fits(self, res: Resources, lanes: int, dram: Optional[float] = None) -> bool:
        return all(u <= a + 1e-9 for u, a in self.usage(res, lanes, dram).values())

    def binding(self, res: Resources, lanes: int, dram: Optional[float] = None) -> Tuple[Optional[str], float]:
        """The most over-used resource and its use/allowed ratio (None if unbudgeted)."""
        best = (None, 0.0)
        for name, (u, a) in self.usage(res, lanes, dram).items():
            r = u / a if a > 0 else math.inf
            if r > best[1]:
                best = (name, r)
        return best


@dataclass
class FoldResult:
    folding: Dict[str, LayerFold]
    cycles: int  # pipeline cycles per frame (the slowest stage)
    bottleneck: str  # name of the slowest stage
    resources: Resources
    lanes: int
    clock_mhz: float
    budget: Budget
    feasible: bool  # inside the budget and meeting the target (when given)
    binding: Optional[str] = None  # the resource that stops a faster folding (or breaks this one)
    message: str = ""
    target_fps: Optional[float] = None
    stage_cycles: List[Tuple[str, str, int]] = field(default_factory=list)
    dram_bytes_per_frame: float = 0.0  # off-chip weights read per frame (bnnfpga.offchip)
    io_bytes_per_frame: float = 0.0  # image and score DMA traffic per frame

    @property
    def dram_bytes_per_cycle(self) -> float:
        """DRAM traffic per cycle at the pipeline's pace: off-chip weights plus image/scores."""
        return (self.dram_bytes_per_frame + self.io_bytes_per_frame) / self.cycles

    @property
    def dram_gbytes_per_s(self) -> float:
        return self.dram_bytes_per_cycle * self.clock_mhz * 1e6 / 1e9

    @property
    def frames_per_second(self) -> float:
        return self.clock_mhz * 1e6 / self.cycles

    @property
    def latency_cycles(self) -> int:
        """Upper bound of one frame's latency: the sum of every stage's cycles per frame
        (stages overlap, so the measured latency is lower)."""
        return sum(c for _, _, c in self.stage_cycles)

    @property
    def latency_us(self) -> float:
        return self.latency_cycles / self.clock_mhz

    def summary(self) -> str:
        dram = ""
        if self.dram_bytes_per_frame or self.budget.dram is not None:
            dram = (f", DRAM {self.dram_bytes_per_frame:,.0f} weight bytes/frame, {self.dram_bytes_per_cycle:,.2f} "
                    f"bytes/cycle ({self.dram_gbytes_per_s:,.2f} GB/s)")
        return (f"{self.cycles:,} cycles/frame ({self.bottleneck}), {self.frames_per_second:,.{0 if self.frames_per_second >= 100 else 2}f} frames/s at "
                f"{self.clock_mhz:g} MHz; LUT {self.resources.lut:,.0f}, BRAM36 {self.resources.bram36:,.1f}, "
                + (f"URAM {self.resources.uram:,.0f}, " if self.resources.uram else "") +
                f"FF {self.resources.ff:,.0f}, lanes {self.lanes:,}{dram}; budget {self.budget.describe()}"
                + (f"; {self.message}" if self.message else ""))

    @property
    def dram_use(self) -> Optional[float]:
        """DRAM bytes per cycle as the budget counts it (None when DRAM is not budgeted)."""
        return self.dram_bytes_per_cycle if self.budget.dram is not None else None


def lanes_of(folding: Dict[str, LayerFold]) -> int:
    return sum(f.pe * f.simd for f in folding.values())


@dataclass
class _Cand:
    fold: LayerFold
    cycles: int
    res: Resources
    lanes: int
    dram: float = 0.0  # DRAM weight bytes per frame


def _lut_pe_options(pe: int) -> List[int]:
    """How many PEs may keep their weights in LUT ROM: up to eight steps from 1 to PE."""
    return sorted({max(1, -(-pe * k // 8)) for k in range(1, 9)})


def _layer_candidates(net: Network, model: ResourceModel, top_k: int, lut_rom: bool = False, offchip: str = "never",
                      max_batch: Optional[int] = None, uram: str = "never") -> Dict[str, List[_Cand]]:
    """Every legal folding of every compute layer with its cycles and the resources of its
    MVTU, window generator and input FIFO (converters depend on neighbours: left to the
    exact pipeline estimate).  ``lut_rom``: also the variants that move the weights of some
    PEs from block RAM to LUT ROM (``LayerFold.lut_pe``), for BRAM-bound budgets."""
    out = {}
    for layer in net.compute_layers():
        cands = []
        for pe in divisors(layer.out_channels):
            for simd in simd_options(net, layer):
                f = LayerFold(pe, simd)
                own = [s for s in stage_specs(net, {**{l.name: LayerFold(1, 1) for l in net.compute_layers()},
                                                    layer.name: f}, top_k) if s.layer == layer.name]
                # the layer's window generator and MVTU, and the width converter between them (SIMD not dividing C_in)
                first = next((i for i, s in enumerate(own) if s.kind in ("swg", "conv", "dense")), len(own))
                specs = own[first:]
                res = Resources()
                for s in specs:
                    r, _ = model.stage(s)
                    fr, _ = model.fifo(s.in_w, s.fifo_depth)
                    res = res + r + fr
                cyc = fold_cycles(net, layer, f)
                if offchip != "always" or not isinstance(layer, Dense):
                    cands.append(_Cand(f, cyc, res, pe * simd))
                    mv = specs[-1]
                    if lut_rom and weight_bits(layer) == 1 and any(m.kind == "bram" for m in model.mvtu(mv.params)[1][:1]):
                        base = res + model.mvtu(mv.params)[0].scaled(-1)
                        for lp in _lut_pe_options(pe):
                            fl = LayerFold(pe, simd, lp)
                            r, _ = model.mvtu({**mv.params, "LUTPE": lp})
                            cands.append(_Cand(fl, cyc, base + r, pe * simd))
                if offchip != "never":  # binary or WB-bit weights; convolutions: batches of output pixels
                    cands.extend(_dram_candidates(net, model, layer, f, specs, res, max_batch))
                if uram != "never":  # weights in UltraRAM (bnnfpga.uram)
                    from .uram import uram_candidate

                    cands.extend(uram_candidate(model, layer, f, specs, res, _Cand, cyc))
        if uram == "always":
            cands = [c for c in cands if c.fold.weights == "uram"] or cands
        out[layer.name] = cands
    return out


def _dram_candidates(net, model, layer, f: LayerFold, specs, onchip: Resources,
                     max_batch: Optional[int] = None) -> List[_Cand]:
    """The same (PE, SIMD) with the weights in DRAM, for every batch size tried."""
    from .offchip import BATCHES, dram_bytes_per_frame, dram_params

    mv = [s for s in specs if s.kind in ("dense", "conv")][-1]
    mres, _ = model.stage(mv)
    out = []
    batches = BATCHES if max_batch is None else sorted({b for b in BATCHES if b <= max_batch} | {max_batch})
    for b in batches:
        fd = LayerFold(f.pe, f.simd, weights="dram", batch=b)
        dres, _ = model.stage(type(mv)(mv.kind, mv.name, mv.layer, {**mv.params, **dram_params(fd)}, mv.in_w,
                                       mv.fifo_depth))
        res = onchip + dres + mres.scaled(-1.0)
        out.append(_Cand(fd, fold_cycles(net, layer, fd), res, f.pe * f.simd, dram_bytes_per_frame(layer, fd, net)))
    return out


def _pick(cands: Sequence[_Cand], T: int, w: Tuple[float, ...], budget: Budget) -> Optional[_Cand]:
    lut_n = budget.lut or 50000.0
    bram_n = budget.bram36 or 130.0
    best = None
    for c in cands:
        if c.cycles > T:
            continue
        # DRAM bytes per cycle at pace T, against the DRAM budget (third weight, when given)
        dram = (w[2] if len(w) > 2 else 1.0) * c.dram / T / budget.dram if budget.dram else 0.0
        if c.res.uram:  # URAM blocks against the URAM budget (fourth weight, bnnfpga.uram)
            dram += (w[3] if len(w) > 3 else 1.0) * c.res.uram / budget.uram if budget.uram else math.inf
        if budget.lut is None and budget.bram36 is None:
            key = (c.lanes, c.res.lut / lut_n + c.res.bram36 / bram_n + dram, c.cycles)
        else:
            key = (w[0] * c.res.lut / lut_n + w[1] * c.res.bram36 / bram_n + dram + 1e-9 * c.lanes, c.cycles,
                   c.fold.simd, c.fold.batch)
        if best is None or key < best[0]:
            best = (key, c)
    return None if best is None else best[1]


class _Search:
    def __init__(self, net, model, budget, top_k, lut_rom=True, offchip: str = "never", max_batch: Optional[int] = None,
                 uram: str = "never"):
        self.net, self.model, self.budget, self.top_k = net, model, budget, top_k
        self.uram = uram
        self.cands = _layer_candidates(net, model, top_k, lut_rom and budget.bram36 is not None, offchip, max_batch,
                                       uram)
        if uram == "allow":  # the URAM variants are assigned after the per-layer picks (bnnfpga.uram.assign_uram)
            self.uram_cands = {n: [c for c in cs if c.fold.weights == "uram"] for n, cs in self.cands.items()}
            self.cands = {n: [c for c in cs if c.fold.weights != "uram"] for n, cs in self.cands.items()}
        self.weightings = WEIGHTINGS if (budget.lut is not None or budget.bram36 is not None) else [(1.0, 0.0)]
        if offchip != "never" and budget.dram:
            self.weightings = [w + (d,) for w in self.weightings for d in DRAM_WEIGHTS]
        if uram == "always" and budget.uram:  # bnnfpga.uram: weights of URAM blocks against LUT, BRAM and DRAM
            from .uram import URAM_WEIGHTS

            self.weightings = [w + (1.0,) * (3 - len(w)) + (u,) for w in self.weightings for u in URAM_WEIGHTS]
        self.cache = {}
        from .offchip import io_bytes_per_frame

        self.io = io_bytes_per_frame(net, top_k)

    def dram_use(self, f, cycles: Optional[int] = None) -> Optional[float]:
        """DRAM bytes per cycle of a folding at its own pace (None when DRAM is not budgeted)."""
        if self.budget.dram is None:
            return None
        from .offchip import network_dram_bytes_per_frame

        cycles = cycles or max(s.cycles for s in stage_cycles(self.net, f, self.top_k))
        return (network_dram_bytes_per_frame(self.net, f) + self.io) / cycles

    def foldings_for(self, T: int):
        """Candidate pipelines for T: [(folding, resources, lanes)] (one per weighting)."""
        if T in self.cache:
            return self.cache[T]
        outs, seen = [], set()
        for w in self.weightings:
            f = {}
            for name, cands in self.cands.items():
                c = _pick(cands, T, w, self.budget)
                if c is None:
                    f = None
                    break
                f[name] = c.fold
            if f is None:
                continue
            if self.uram == "allow":  # block RAM or LUT over: move weight memories to URAM (bnnfpga.uram)
                from .uram import assign_uram

                f = assign_uram(self, f, T)
            key = tuple(sorted((k, v.pe, v.simd, v.lut_pe, v.weights, v.batch) for k, v in f.items()))
            if key in seen:
                continue
            seen.add(key)
            res = self.model.total(self.net, f, self.top_k)
            outs.append((f, res, lanes_of(f), self.dram_use(f)))
        self.cache[T] = outs
        return outs

    def _repair(self, f, res, lanes, dram=None):
        """BRAM over, LUT not: move the weights of more PEs to LUT ROM (``lut_pe``), each step the
        one that frees the most block RAM per LUT, until the BRAM fits or the LUTs run out."""
        b = self.budget
        by_fold = {name: {c.fold: c for c in cs} for name, cs in self.cands.items()}
        f = dict(f)
        for _ in range(256):
            if b.fits(res, lanes) or (b.lut is not None and res.lut > b.lut):
                break
            best = None
            for name, fold in f.items():
                cur = by_fold[name].get(fold)
                nxt = [c for c in by_fold[name].values() if c.fold.pe == fold.pe and c.fold.simd == fold.simd
                       and c.fold.lut_pe > fold.lut_pe]
                if cur is None or not nxt:
                    continue
                c = min(nxt, key=lambda c: c.fold.lut_pe)
                db, dl = cur.res.bram36 - c.res.bram36, c.res.lut - cur.res.lut
                if db > 0 and (best is None or dl / db < best[0]):
                    best = (dl / db, name, c.fold)
            if best is None:
                break
            f[best[1]] = best[2]
            res = self.model.total(self.net, f, self.top_k)
        return f, res, lanes, self.dram_use(f)

    def best_for(self, T: int):
        """(folding, res, lanes, fits): the cheapest pipeline for T that fits, else the least over budget."""
        opts = self.foldings_for(T)
        if not opts:
            return None
        if self.budget.bram36 is not None and not any(self.budget.fits(o[1], o[2], o[3]) for o in opts):
            opts = opts + [self._repair(*o) for o in opts
                           if o[1].bram36 > self.budget.bram36 and (self.budget.lut is None or o[1].lut <= self.budget.lut)]
        fitting = [o for o in opts if self.budget.fits(o[1], o[2], o[3])]
        pool = fitting or opts
        lut_n = self.budget.lut or 50000.0
        bram_n = self.budget.bram36 or 130.0

        def key(o):
            if not fitting:
                return self.budget.binding(o[1], o[2], o[3])[1]
            return (o[1].lut / lut_n + o[1].bram36 / bram_n + (o[2] / self.budget.lanes if self.budget.lanes else 0)
                    + (o[1].uram / self.budget.uram if self.budget.uram else 0)
                    + (o[3] / self.budget.dram if o[3] is not None and self.budget.dram else 0))
        f, res, lanes, _ = min(pool, key=key)
        return f, res, lanes, bool(fitting)


def _floor_cycles(net: Network, top_k: int) -> Tuple[int, str]:
    """The slowest stage that no folding changes (input, max-pools, output)."""
    # full SIMD: the whole window for a chain's convolution (its window generator then reads K*K positions per word)
    st = stage_cycles(net, {l.name: LayerFold(l.out_channels, max(simd_options(net, l))) for l in net.compute_layers()},
                      top_k)
    fixed = [s for s in st if s.kind in ("input", "maxpool", "output", "swg")]  # swg: strided, at full SIMD
    s = max(fixed, key=lambda s: s.cycles)
    return s.cycles, s.name


def _result(net, model, budget, clock, top_k, f, res, lanes, feasible, binding=None, message="", target_fps=None):
    from .offchip import io_bytes_per_frame, network_dram_bytes_per_frame

    st = stage_cycles(net, f, top_k)
    slow = max(st, key=lambda s: s.cycles)
    return FoldResult(folding=f, cycles=slow.cycles, bottleneck=slow.name, resources=res, lanes=lanes, clock_mhz=clock,
                      budget=budget, feasible=feasible, binding=binding, message=message, target_fps=target_fps,
                      stage_cycles=[(s.name, s.kind, s.cycles) for s in st],
                      dram_bytes_per_frame=network_dram_bytes_per_frame(net, f),
                      io_bytes_per_frame=float(io_bytes_per_frame(net, top_k)))


def _over_message(budget: Budget, res: Resources, lanes: int, what: str, dram: Optional[float] = None) -> Tuple[str, str]:
    parts = []
    worst, _ = budget.binding(res, lanes, dram)
    for name, (u, a) in budget.usage(res, lanes, dram).items():
        if u > a + 1e-9:
            if name == "DRAM":
                parts.append(f"DRAM needs {u:,.1f} of {a:,.1f} bytes/cycle allowed ({u / a - 1:.0%} over)")
            else:
                parts.append(f"{name} needs {u:,.0f} of {a:,.0f} allowed ({f'{u / a - 1:.0%} over' if a else 'the board has none'})")
    return worst, f"{what}: " + "; ".join(parts) if parts else what


def optimize(net: Network, board=None, *, target_fps: Optional[float] = None, clock_mhz: Optional[float] = None,
             budget: Optional[Budget] = None, lanes: Optional[int] = None, lut_margin: float = LUT_MARGIN,
             bram_margin: float = BRAM_MARGIN, model: Optional[ResourceModel] = None, top_k: int = 1,
             lut_rom: bool = True, offchip: str = "never", dram_margin: Optional[float] = None,
             max_batch: Optional[int] = None, uram: str = "auto") -> FoldResult:
    """Choose a folding.  ``board`` (name or Board) sets the LUT/BRAM budget (with margins)
    and the clock; ``lanes`` caps the total PE*SIMD; ``target_fps`` asks for the
    cheapest folding meeting that rate instead of the fastest that fits.  ``lut_rom``:
    when block RAM binds, weights of some PEs may move to LUT ROM (``LayerFold.lut_pe``,
    honoured by the RTL backend).

    ``offchip`` (docs/offchip-weights.md): "never" (every weight on chip, the default),
    "auto" (a dense layer may stream its weights from DRAM, with a batch size; chosen
    only when that is faster, or when nothing fits on chip) or "always" (every dense
    layer off chip).  With a board, DRAM bandwidth is then budgeted too: the share
    ``dram_margin`` of the board's nominal peak (bnnfpga.offchip.board_dram_bytes_per_cycle).
    ``max_batch`` caps the batch size of off-chip layers (latency: a batch of B frames
    waits for its B-th frame).

    ``uram`` (bnnfpga.uram): on boards with UltraRAM, "auto" (the default) moves the weight
    memories that save the most block RAM to URAM when block RAM binds; "never"; "always"
    (every layer's weights in URAM).  URAM weights are loaded at run time."""
    from .offchip import DRAM_MARGIN, board_dram_bytes_per_cycle

    if offchip not in ("never", "auto", "always"):
        raise FoldingError(f"offchip must be 'never', 'auto' or 'always', got {offchip!r}")
    net.validate()
    if net.is_graph:  # shortcut networks: bnnfpga.graph_optimizer
        from .graph_optimizer import optimize_graph

        return optimize_graph(net, board, target_fps=target_fps, clock_mhz=clock_mhz, budget=budget, lanes=lanes,
                              lut_margin=lut_margin, bram_margin=bram_margin, model=model, top_k=top_k)
    model = model or ResourceModel.load()
    b = boards_mod.get(board) if isinstance(board, str) else board
    if budget is None:
        budget = Budget.for_board(b, lut_margin, bram_margin, lanes) if b is not None else Budget(lanes=lanes)
    clock = float(clock_mhz or (b.default_clock_mhz if b is not None else 100.0))
    if clock <= 0:
        raise FoldingError(f"clock must be positive, got {clock_mhz} MHz")
    if offchip != "never" and b is not None and budget.dram is None:  # a copy: the caller's budget stays as given
        budget = replace(budget, dram=board_dram_bytes_per_cycle(b, clock, DRAM_MARGIN if dram_margin is None
                                                                  else dram_margin))
    if max_batch is not None and (not isinstance(max_batch, int) or max_batch < 1):
        raise FoldingError(f"max_batch must be a positive integer, got {max_batch!r}")
    from .uram import check_uram_mode, choose_auto

    uram = check_uram_mode(uram, budget)

    def run(um):
        if offchip != "auto":
            return _optimize(net, b, target_fps, clock, budget, model, top_k, offchip, max_batch, lut_rom, um)
        on = _optimize(net, b, target_fps, clock, budget, model, top_k, "never", None, lut_rom, um)
        off = _optimize(net, b, target_fps, clock, budget, model, top_k, "auto", max_batch, lut_rom, um)
        if not off.feasible:  # neither fits: the one less over budget (it says what binds and by how much)
            return off if not on.feasible and _cheaper(off, on, budget) else on
        if not on.feasible or off.cycles < on.cycles or (target_fps is not None and _cheaper(off, on, budget)):
            return off
        return on
    return choose_auto(run, budget, target_fps, _cheaper) if uram == "auto" else run(uram)


def _cheaper(a: FoldResult, b: FoldResult, budget: Budget) -> bool:
    def cost(r):
        return budget.binding(r.resources, r.lanes, r.dram_use)[1]
    return cost(a) < cost(b) - 1e-9


def _optimize(net, b, target_fps, clock, budget, model, top_k, offchip, max_batch=None, lut_rom=True,
              uram="never") -> FoldResult:
    search = _Search(net, model, budget, top_k, lut_rom, offchip, max_batch, uram)
    floor, floor_stage = _floor_cycles(net, top_k)
    for name, cands in search.cands.items():  # a layer's fully parallel folding
        fastest = min(c.cycles for c in cands)
        if fastest > floor:
            floor, floor_stage = fastest, name
    all_T = sorted({c.cycles for cs in search.cands.values() for c in cs if c.cycles >= floor} | {floor})
    slowest = max(all_T)

    if target_fps is not None:
        if target_fps <= 0:
            raise FoldingError(f"target frames/s must be positive, got {target_fps}")
        T = int(math.floor(clock * 1e6 / target_fps))
        if T < floor:
            best = search.best_for(floor)
            f, res, ln, fits = best
            return _result(net, model, budget, clock, top_k, f, res, ln, False, binding="cycles",
                           message=(f"{target_fps:,.0f} frames/s needs <= {T:,} cycles/frame at {clock:g} MHz, but stage "
                                    f"'{floor_stage}' takes {floor:,} cycles whatever the folding "
                                    f"(at most {clock * 1e6 / floor:,.0f} frames/s)"), target_fps=target_fps)
        T = min(T, slowest)
        f, res, ln, fits = search.best_for(T)
        if fits:
            return _result(net, model, budget, clock, top_k, f, res, ln, True, target_fps=target_fps,
                           message=f"meets {target_fps:,.0f} frames/s (<= {T:,} cycles/frame) with the fewest resources found")
        worst, msg = _over_message(budget, res, ln, f"{target_fps:,.0f} frames/s does not fit the budget",
                                   search.dram_use(f))
        fastest = (_optimize(net, b, None, clock, budget, model, top_k, offchip, max_batch, lut_rom, uram)
                   if b is not None or budget.lanes else None)
        if fastest is not None and fastest.feasible:
            msg += f"; the fastest folding that fits reaches {fastest.frames_per_second:,.0f} frames/s"
        return _result(net, model, budget, clock, top_k, f, res, ln, False, binding=worst, message=msg,
                       target_fps=target_fps)

    # fastest that fits: bisection over reachable cycle counts (feasibility grows with T)
    top = search.best_for(slowest)
    if not top[3]:
        worst, msg = _over_message(budget, top[1], top[2], "even the smallest folding does not fit",
                                   search.dram_use(top[0]))
        return _result(net, model, budget, clock, top_k, top[0], top[1], top[2], False, binding=worst, message=msg)
    lo, hi = 0, len(all_T) - 1  # all_T[hi] feasible
    while lo < hi:
        mid = (lo + hi) // 2
        r = search.best_for(all_T[mid])
        if r[3]:
            hi = mid
        else:
            lo = mid + 1
    f, res, ln, _ = search.best_for(all_T[hi])
    binding, message = None, ""
    if hi > 0:
        nf, nres, nln, _ = search.best_for(all_T[hi - 1])
        binding, msg = _over_message(budget, nres, nln, f"the next faster folding ({all_T[hi - 1]:,} cycles/frame) "
                                                       f"does not fit", search.dram_use(nf))
        message = f"{binding} binds: " + msg
    else:
        message = f"stage '{floor_stage}' sets the pace ({floor:,} cycles whatever the folding)"
        binding = "cycles"
    return _result(net, model, budget, clock, top_k, f, res, ln, True, binding=binding, message=message)


def default_folding(net: Network, board=None, target_fps: Optional[float] = None) -> Dict[str, LayerFold]:
    """The folding ``compile``/``build`` use when none is given: the fastest that fits
    ``board`` (PYNQ-Z2 when None), or the cheapest meeting ``target_fps``.  Always legal;
    when nothing fits, the closest (smallest) folding found.  No ``lut_pe`` (LUT-ROM weights
    cannot be loaded at run time, and the LUT cost is an estimate): ask ``bnnfpga fold`` for
    them explicitly."""
    r = optimize(net, board or "pynq-z2", target_fps=target_fps, lut_rom=False, uram="never")
    return check(net, r.folding)


# ---------------------------------------------------------------- BNN-PYNQ reference shapes

# BNN-PYNQ's published foldings (PE, SIMD) per compute layer (../shared/ANCHORS.md); its last
# CNV layer is padded to 64 outputs, so (4, 1) there is not legal for 10 outputs here.
BNN_PYNQ_FOLDING = {
    "cnv": [(16, 3), (32, 32), (16, 32), (16, 32), (4, 32), (1, 32), (1, 4), (1, 8), (4, 1)],
    "lfc": [(32, 64), (64, 32), (32, 64), (16, 8)],
}
BNN_PYNQ_CYCLES = {"cnv": 32768, "lfc": 512}
BNN_PYNQ_LANES = {"cnv": 2272, "lfc": 4608}


def bnn_pynq_network(name: str, seed: int = 0, binarize_threshold: Optional[int] = None) -> Network:
    """BNN-PYNQ's CNV (3x32x32, valid 3x3 convs 64-64-MP-128-128-MP-256-256, FC 512-512-10)
    or LFC (784-1024-1024-1024-10) shape with random weights and thresholds.
    ``binarize_threshold``: binarized input pixels (p >= t), as BNN-PYNQ's LFC reads MNIST;
    the first layer is then an XNOR layer."""
    rng = np.random.default_rng(seed)
    bits = lambda m, n: rng.integers(0, 2, (m, n), dtype=np.uint8)  # noqa: E731
    layers = []
    if name == "cnv":
        spec = InputSpec(32, 32, 3)
        c = 3
        for i, (oc, pool) in enumerate([(64, False), (64, True), (128, False), (128, True), (256, False), (256, False)]):
            layers.append(Conv2D(f"conv{i}", c, oc, 3, "valid", bits(oc, 9 * c), input_kind="fixed" if i == 0 else "binary"))
            c = oc
            if pool:
                layers.append(MaxPool2D(f"pool{i}", 2, 2))
        n = 256
        for i, m in enumerate([512, 512, 10]):
            layers.append(Dense(f"fc{i}", n, m, bits(m, n)))
            n = m
    elif name == "lfc":
        spec = InputSpec(28, 28, 1)
        n = 784
        for i, m in enumerate([1024, 1024, 1024, 10]):
            layers.append(Dense(f"fc{i}", n, m, bits(m, n), input_kind="fixed" if i == 0 else "binary"))
            n = m
    else:
        raise ValueError(f"unknown BNN-PYNQ network '{name}' (cnv, lfc)")
    if binarize_threshold is not None:
        spec.binarize_threshold = int(binarize_threshold)
        layers[0].input_kind = "binary"
    net = Network(f"{name}-w1a1-shape" + ("-binarized" if binarize_threshold is not None else ""), spec, layers,
                  classes=[str(i) for i in range(10)])
    for layer in net.compute_layers()[:-1]:
        lo, hi = acc_range(net, layer)
        mid, span = (lo + hi) // 2, max(1, (hi - lo) // 16)
        t = rng.integers(mid - span, mid + span + 1, layer.out_channels).astype(np.int64)
        d = np.where(rng.random(layer.out_channels) < 0.3, -1, 1).astype(np.int8)
        layer.thresholds = Thresholds(t, d)
    return net.validate()


def evaluate(net: Network, folding: Dict[str, LayerFold], board=None, *, clock_mhz: Optional[float] = None,
             budget: Optional[Budget] = None, lanes: Optional[int] = None, model: Optional[ResourceModel] = None,
             top_k: int = 1) -> FoldResult:
    """A FoldResult for a given folding (no search): cycles, resources, fit against the budget."""
    net.validate()
    check(net, folding)
    model = model or ResourceModel.load()
    b = boards_mod.get(board) if isinstance(board, str) else board
    if budget is None:
        budget = Budget.for_board(b, lanes=lanes) if b is not None else Budget(lanes=lanes)
    clock = float(clock_mhz or (b.default_clock_mhz if b is not None else 100.0))
    res = model.total(net, folding, top_k)
    ln = lanes_of(folding)
    from .offchip import board_dram_bytes_per_cycle, dram_layers

    if dram_layers(net, folding) and b is not None and budget.dram is None:  # off-chip weights: budget DRAM too
        budget = replace(budget, dram=board_dram_bytes_per_cycle(b, clock))
    dram = None
    if budget.dram is not None:
        from .offchip import io_bytes_per_frame, network_dram_bytes_per_frame

        dram = ((network_dram_bytes_per_frame(net, folding) + io_bytes_per_frame(net, top_k))
                / max(s.cycles for s in stage_cycles(net, folding, top_k)))
    fits = budget.fits(res, ln, dram)
    binding, msg = (None, "given folding")
    if not fits:
        binding, msg = _over_message(budget, res, ln, "the given folding does not fit", dram)
    return _result(net, model, budget, clock, top_k, dict(folding), res, ln, fits, binding=binding, message=msg)
