"""Folding optimizer for graph networks (binary ResNet / DenseNet): ``optimizer.optimize`` dispatches here.

The search is the chain optimizer's (bisection over the cycle counts the layers can reach; for a
candidate T every compute layer takes its cheapest legal folding with at most T cycles per frame,
under several LUT/BRAM weightings), with two graph rules:

* **balanced across branches**: the element-wise stages (fork duplicators, adds, concats,
  thresholds, width converters) move one word of their stream's lanes per cycle, so a layer whose
  output feeds them needs PE >= (values per frame) / T; a candidate pipeline is accepted only when
  the RTL plan's analytical cycles per frame (:func:`bnnfpga.rtl.graph.plan_graph`, every stage of
  every branch) is at most T;
* **FIFO memory counted**: resources are the whole design's estimate
  (:mod:`bnnfpga.graph_resources`), the shortcut FIFOs sized by bnnfpga.fifo_depth included.
"""
from __future__ import annotations

import math
from typing import Dict, Optional

from . import boards as boards_mod
from .folding import FoldingError, LayerFold, check, divisors, layer_cycles, simd_base
from .ir import Conv2D, graph_shapes
from .optimizer import BRAM_MARGIN, LUT_MARGIN, WEIGHTINGS, Budget, FoldResult, _Cand, _pick, lanes_of
from .resources import Resources, ResourceModel, mvtu_params


def _candidates(net, model, T_min_pe):
    g = graph_shapes(net)
    out = {}
    for layer in net.compute_layers():
        cands = []
        oshape = g.out_shapes[layer.name]
        pix = oshape[0] * oshape[1] if isinstance(layer, Conv2D) else 1
        for pe in divisors(layer.out_channels):
            for simd in divisors(simd_base(layer)):
                f = LayerFold(pe, simd)
                r, _ = model.mvtu(mvtu_params(net, layer, f))
                cyc = layer_cycles(net, layer, f)
                # the words of its output stream: what the element-wise stages after it move per frame
                words = pix * layer.out_channels // pe
                cands.append((_Cand(f, max(cyc, words if T_min_pe(layer) else 0), r, pe * simd)))
        out[layer.name] = cands
    return out


def optimize_graph(net, board=None, *, target_fps: Optional[float] = None, clock_mhz: Optional[float] = None,
                   budget: Optional[Budget] = None, lanes: Optional[int] = None, lut_margin: float = LUT_MARGIN,
                   bram_margin: float = BRAM_MARGIN, model: Optional[ResourceModel] = None, top_k: int = 1) -> FoldResult:
    from .rtl.graph import plan_graph

    net.validate()
    model = model or ResourceModel.load()
    b = boards_mod.get(board) if isinstance(board, str) else board
    if budget is None:
        budget = Budget.for_board(b, lut_margin, bram_margin, lanes) if b is not None else Budget(lanes=lanes)
    clock = float(clock_mhz or (b.default_clock_mhz if b is not None else 100.0))
    if clock <= 0:
        raise FoldingError(f"clock must be positive, got {clock_mhz} MHz")
    g = graph_shapes(net)
    feeds_graph = {l.name for l in net.layers if len(g.consumers.get(l.name, [])) > 1
                   or any(type(x).__name__ in ("Add", "Concat", "Threshold")
                          for x in net.layers if l.name in (g.inputs[x.name]))}
    cands = _candidates(net, model, lambda layer: layer.name in feeds_graph)
    weightings = WEIGHTINGS if (budget.lut is not None or budget.bram36 is not None) else [(1.0, 0.0)]
    cache: Dict[int, list] = {}
    plans: Dict[tuple, tuple] = {}  # folding -> (plan, resources): the same folding recurs across T

    def pick_all(T):
        """The cheapest folding per weighting at pace T (layer candidates only, no plan yet)."""
        out = []
        for w in weightings:
            f = {}
            for name, cs in cands.items():
                c = _pick(cs, T, w, budget)
                if c is None:
                    f = None
                    break
                f[name] = c
            if f is not None:
                out.append(f)
        return out

    def options(T):
        if T in cache:
            return cache[T]
        outs, seen = [], set()
        for picked in pick_all(T):
            f = {name: c.fold for name, c in picked.items()}
            key = tuple(sorted((k, v.pe, v.simd) for k, v in f.items()))
            if key in seen:
                continue
            seen.add(key)
            if key not in plans:
                from .graph_resources import graph_network

                pl = plan_graph(net, f, top_k)
                plans[key] = (pl, sum((e.res for e in graph_network(model, net, f, top_k, plan=pl)), Resources()))
            pl, res = plans[key]
            if pl.cycles > T:  # an element-wise stage or converter still slower than T
                continue
            outs.append((f, res, lanes_of(f), pl))
        cache[T] = outs
        return outs

    def may_fit(T):
        """False when even the compute layers alone (a lower bound of the whole design) exceed the
        budget under every weighting: no plan needed to know that T does not fit."""
        for picked in pick_all(T):
            res = sum((c.res for c in picked.values()), Resources())
            if budget.fits(res, sum(c.lanes for c in picked.values())):
                return True
        return False

    def best(T):
        opts = options(T)
        if not opts:
            return None
        fitting = [o for o in opts if budget.fits(o[1], o[2])]
        lut_n, bram_n = budget.lut or 50000.0, budget.bram36 or 130.0
        pool = fitting or opts
        key = ((lambda o: o[1].lut / lut_n + o[1].bram36 / bram_n) if fitting
               else (lambda o: budget.binding(o[1], o[2])[1]))
        f, res, ln, pl = min(pool, key=key)
        return f, res, ln, pl, bool(fitting)

    Ts = sorted({c.cycles for cs in cands.values() for c in cs})
    ok = lambda T: may_fit(T) and best(T) is not None and best(T)[4]  # noqa: E731 - a plan within T that fits the budget
    if target_fps is not None:
        if target_fps <= 0:
            raise FoldingError(f"target frames/s must be positive, got {target_fps}")
        T = int(math.floor(clock * 1e6 / target_fps))
        meet = [t for t in Ts if t <= T]
        r = next((best(t) for t in reversed(meet) if best(t) is not None), None)
        if r is None:
            r = next(best(t) for t in Ts + [Ts[-1] * 2] if best(t) is not None)
            return _graph_result(r[3], r[1], r[2], clock, budget, False, "cycles", target_fps,
                                 f"{target_fps:,.0f} frames/s needs <= {T:,} cycles/frame; the fastest plan found "
                                 f"takes {r[3].cycles:,}")
        f, res, ln, pl, fits = r
        return _graph_result(pl, res, ln, clock, budget, fits, None if fits else budget.binding(res, ln)[0], target_fps,
                             "meets the target with the fewest resources found" if fits else "does not fit the budget")
    # fastest that fits: bisection over T (feasibility grows with T)
    hi = len(Ts) - 1
    while hi > 0 and best(Ts[hi]) is None:
        hi -= 1
    top = best(Ts[hi])
    if top is None:
        raise FoldingError(f"network '{net.name}': no folding reaches its own cycle counts")
    lo, note = 0, ""
    if not top[4]:
        # Unlike a chain, a graph's slowest folding is not its smallest: its shortcut and
        # rate-matching FIFOs hold more words the slower the branches run.  Look at 16 paces
        # spread over the sorted reachable ones for one that fits, then search between it and
        # the next faster one.
        grid = sorted({int(round(i * (hi) / 15)) for i in range(16)}, reverse=True)
        found = next((j for j in grid if ok(Ts[j])), None)
        if found is None:
            near = min((best(Ts[j]) for j in grid if best(Ts[j]) is not None),
                       key=lambda o: budget.binding(o[1], o[2])[1])
            return _graph_result(near[3], near[1], near[2], clock, budget, False, budget.binding(near[1], near[2])[0],
                                 None, f"no folding found that fits ({len(grid)} paces from {Ts[0]:,} to {Ts[hi]:,} "
                                 "cycles/frame checked; slower foldings need deeper FIFOs); the closest is shown")
        hi, lo = found, max([j for j in grid if j < found], default=0)
        note = "; slower foldings need more FIFO memory than this budget"
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(Ts[mid]):
            hi = mid
        else:
            lo = mid + 1
    f, res, ln, pl, _ = best(Ts[hi])
    return _graph_result(pl, res, ln, clock, budget, True, None, None,
                         f"balanced over every branch at {pl.cycles:,} cycles/frame; shortcut FIFOs "
                         f"{pl.shortcut_fifo_bits:,} bits (counted in the resources){note}")


def _graph_result(pl, res: Resources, ln: int, clock: float, budget: Budget, feasible: bool, binding, target_fps, msg):
    slow = max(pl.stages, key=lambda s: s.cycles)
    return FoldResult(folding=check(pl.net, pl.folding), cycles=pl.cycles, bottleneck=slow.layer or slow.kind,
                      resources=res, lanes=ln, clock_mhz=clock, budget=budget, feasible=feasible, binding=binding,
                      message=msg, target_fps=target_fps,
                      stage_cycles=[(s.layer or s.kind, s.kind, s.cycles) for s in pl.stages])
