"""Resource estimate of a graph network's RTL design (binary ResNet / DenseNet): the stages and FIFOs
of :func:`bnnfpga.rtl.graph.plan_graph`, each estimated like its chain counterpart.

* MVTUs (thresholded, integer-output and scores), sliding-window generators, width converters,
  max-pools, input, output and control: the calibrated models of :mod:`bnnfpga.resources`;
* every FIFO with its planned width and depth (the shortcut FIFOs sized by bnnfpga.fifo_depth
  included: their memory is counted here, in LUT RAM or block RAM as yosys places it);
* the graph stages, from first principles (not calibrated against yosys yet): ``bnn_dup`` one LUT
  (the ready AND), ``bnn_add`` one LUT and one flip-flop per output bit (a carry chain and the
  output register), ``bnn_concat`` one LUT and one flip-flop per lane (the input mux and the output
  register) plus its word counter, a threshold stage its ROM plus one LUT per compared bit per lane.

``ResourceModel.network`` / ``total`` / ``per_layer`` dispatch here for graph networks.
"""
from __future__ import annotations

from typing import Dict, List

from .folding import LayerFold
from .ir import Conv2D, Dense, Network
from .resources import Resources, StageEstimate, mvtu_params, place_rom
from .rtl.backend import _clog2


def graph_network(model, net: Network, folding: Dict[str, LayerFold], top_k: int = 1, plan=None) -> List[StageEstimate]:
    """Estimates of every stage and every FIFO of a graph network's RTL design (``plan``: its
    ``rtl.graph.plan_graph``, when the caller has it already)."""
    from .rtl.graph import plan_graph

    pl = plan if plan is not None else plan_graph(net, folding, top_k)
    by_name = {l.name: l for l in net.layers}
    out: List[StageEstimate] = []
    for st in pl.stages:
        p = dict(st.params)
        layer = st.layer or None
        mems = []
        if st.kind in ("conv", "dense"):
            lay = by_name[st.layer]
            assert isinstance(lay, (Conv2D, Dense))
            p = mvtu_params(net, lay, folding[lay.name])
            r, mems = model.mvtu(p)
        elif st.kind == "swg":
            r, mems = model.swg(p)
        elif st.kind == "dwc":
            r, mems = model.dwc(p)
        elif st.kind == "maxpool":
            r, mems = model.maxpool(p)
        elif st.kind in ("input", "output"):
            r, mems = model.fixed(st.kind)
        elif st.kind == "dup":
            r = Resources(lut=1.0)
        elif st.kind == "add":
            bits = p["LANES"] * p["OW"]
            r = Resources(lut=float(bits), ff=float(bits + 1))
        elif st.kind == "concat":
            kb = _clog2(p["AWORDS"] + p["BWORDS"])
            r = Resources(lut=float(p["L"] + kb + 2), ff=float(p["L"] + kb + 1))
        elif st.kind == "threshold":
            T = next(t for t in pl.thresholds if t.name == st.layer)
            rom = place_rom("thresholds", T.cf, T.lanes * (T.tb + 1))
            mems = [rom]
            r = Resources(lut=float(T.lanes * T.cb + T.cwb + 2) + rom.luts, ff=float(T.lanes + T.cwb + 1) + rom.ffs,
                          bram36=rom.bram36)
            p = {"LANES": T.lanes, "IB": T.ib, "CF": T.cf, "TB": T.tb}
        else:  # pragma: no cover - plan_graph makes no other kinds
            raise ValueError(f"stage kind {st.kind!r}")
        out.append(StageEstimate(st.inst, st.kind, layer, p, r, list(mems)))
    for s in pl.streams:
        r, m = model.fifo(s.width, s.depth)
        layer = next((st.layer for st in pl.stages if st.inst == s.consumer), None) or None
        out.append(StageEstimate(f"fifo s{s.sid} ({s.role or 'stage'})", "fifo", layer,
                                 {"W": s.width, "DEPTH": s.depth}, r, m))
    r, _ = model.fixed("control")
    out.append(StageEstimate("control", "control", None, {}, r))
    return out


def fifo_resources(model, net: Network, folding: Dict[str, LayerFold], top_k: int = 1, shortcut_only: bool = True) -> Resources:
    """Resources of the FIFOs (only those feeding a join, with ``shortcut_only``)."""
    tot = Resources()
    for e in graph_network(model, net, folding, top_k):
        if e.kind == "fifo" and (not shortcut_only or "join input" in e.name):
            tot = tot + e.res
    return tot
