"""Resource estimate of a graph network's RTL design (binary ResNet / DenseNet): the stages and FIFOs
of :func:`bnnfpga.rtl.graph.plan_graph`, each estimated from its parameters.

* thresholded MVTUs, sliding-window generators, max-pools, input, output and control: the calibrated
  chain models of :mod:`bnnfpga.resources`;
* the stages that graph designs use differently from chains, calibrated against yosys on their own
  (``graph_calibration.json``, made by ``scripts/calibrate_graph_resources.py``; hold-out errors
  stored there):

  - ``mvtu_int``: integer-output MVTUs (``bnn_mvtu`` SCORES = 1, many PEs: a chain has one score layer
    with few PEs),
  - ``dwc``: width converters as the RTL had them when this calibration was made (a CAP*EW-bit buffer
    behind a shifter by ``kept * EW``: 9,563 LUT for 96 lanes of 11 bits -> 12 lanes).  The converter
    has since been rebuilt (rotation by units, no barrel shifter: 1,200 LUT for the same converter)
    and graph designs now take the chain model's estimate of it, which is calibrated on the new RTL
    (1,299 LUT there; 2,685 against yosys' 4,630 for 192 x 12 bits -> 12); these coefficients are
    kept with their data but no longer used,
  - ``fifo``: every FIFO with its planned width and depth, the shortcut FIFOs sized by
    bnnfpga.fifo_depth included (their memory in LUT RAM or block RAM as yosys places it; a block-RAM
    FIFO also pays about one LUT per bit of width for its read path),
  - ``add`` (``bnn_add``: an adder per lane over the bits above the larger shift, the output
    register), ``threshold`` (``graph_threshold.sv.j2``: a comparator per lane, against a constant
    when a pixel is one word, against a threshold ROM word otherwise), ``concat`` (``bnn_concat``)
    and ``dup`` (``bnn_dup``).

``ResourceModel.network`` / ``total`` / ``per_layer`` dispatch here for graph networks.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .folding import LayerFold
from .ir import Conv2D, Dense, Network
from .resources import (CalibrationError, MemoryMap, Resources, StageEstimate, fifo_features, fifo_memories,
                        linear_lut_ff, mvtu_features, mvtu_memories, mvtu_params, place_rom, read_calibration)
from .rtl.backend import _clog2

GRAPH_CALIBRATION_FILE = Path(__file__).resolve().parent / "graph_calibration.json"

# features of each graph stage kind; coefficients per (kind, resource) come from graph_calibration.json
GRAPH_FEATURES = {
    "mvtu_int": ["one", "lanes_bin", "lanes_fix_aw", "pe_acc", "pe_aw", "in_bits", "counters", "mem_lut", "mem_mux"],
    "dwc": ["one", "buf_bits", "shift_mux", "mul_mux", "shift_o1", "partial"],
    "fifo": ["one", "w", "ptr", "mem_lut", "mem_ff", "mem_mux", "w_bram"],
    "add": ["one", "add_bits", "out_bits"],
    "threshold": ["one", "cmp_const", "cmp_var", "cmp_rom", "rom_lut", "cwb"],
    "concat": ["one", "lanes", "kb"],
    "dup": ["one", "w"],
}
GRAPH_RESOURCES = ["lut", "ff"]


def _bitlen(x: int) -> int:
    return max(1, int(x).bit_length())


def _tz(x: int) -> int:
    return (x & -x).bit_length() - 1


def log_shifter_muxes(wd: int, wi: int, shift_bits: Sequence[int]) -> int:
    """2:1 multiplexers of a logarithmic left shifter of a ``wi``-bit value (zero-extended) into ``wd``
    bits, one stage per shift-amount bit in ``shift_bits``: a stage needs a multiplexer only where both
    its unshifted and its shifted input may be nonzero."""
    n, reach = 0, wi
    for b in sorted(shift_bits):
        n += max(0, min(wd, reach) - (1 << b))
        reach += 1 << b
    return n


def dwc_net_features(p: Dict[str, int]) -> Dict[str, float]:
    """bnn_dwc: a buffer of CAP = I + O elements of EW bits; the input word is inserted at element
    ``kept`` (a shift by ``kept * EW`` bits, kept < 2^NW: one shifter stage per significant bit of
    the product, none for the trailing zero bits of EW: ``shift_mux``).  Any EW other than a power of
    two (the integer streams of residual adds: 11, 12, 13 bits) puts a multiplier (a DSP) in front of
    the shifter, and the shifter costs about twice as much per multiplexer (``mul_mux``: ABC no longer
    sees that kept <= O whenever a word is inserted)."""
    ew, i, o = p["EW"], p["I"], p["O"]
    cap = i + o
    nw = _clog2(cap + 1)
    top = _bitlen(((1 << nw) - 1) * ew)
    shifter = log_shifter_muxes(cap * ew, i * ew, range(_tz(ew), top))
    pow2 = ew & (ew - 1) == 0
    return {"one": 1.0, "buf_bits": float(cap * ew), "shift_mux": float(shifter),
            "mul_mux": 0.0 if pow2 else float(shifter),
            "shift_o1": float(cap * ew * _clog2(cap + 1)) if o == 1 else 0.0,
            "partial": float(i * ew) if p.get("LASTN", i) != i else 0.0}


def threshold_memories(p: Dict[str, int]) -> List[MemoryMap]:
    return [place_rom("thresholds", p["CF"], p["LANES"] * (p["TB"] + 1))]


def graph_features(kind: str, p: Dict[str, int]) -> Tuple[Dict[str, float], List[MemoryMap]]:
    """(features, memories) of one graph stage from its parameters (the RTL's own parameter names)."""
    if kind == "mvtu_int":
        mems = mvtu_memories(p)
        f = mvtu_features(p, mems)
        f["pe_aw"] = float(p["PE"] * p["AW"])
        return {k: f.get(k, 0.0) for k in GRAPH_FEATURES[kind]}, mems
    if kind == "dwc":
        return dwc_net_features(p), []
    if kind == "fifo":
        mems = fifo_memories(p["W"], p["DEPTH"])
        f = fifo_features(p["W"], p["DEPTH"], mems)
        f["w_bram"] = float(p["W"]) if any(m.kind == "bram" for m in mems) else 0.0
        f["w"] = float(p["W"])
        return {k: f.get(k, 0.0) for k in GRAPH_FEATURES[kind]}, mems
    if kind == "add":
        lanes, ow = p["LANES"], p["OW"]
        return {"one": 1.0, "add_bits": float(lanes * max(1, ow - max(p.get("SA", 0), p.get("SB", 0)))),
                "out_bits": float(lanes * ow)}, []
    if kind == "threshold":
        mems = threshold_memories(p)
        cb = max(p["IB"], p["TB"]) + 1
        cmp = float(p["LANES"] * cb)
        cwb = _clog2(p["CF"])
        return {"one": 1.0, "cmp_const": cmp if p["CF"] == 1 else 0.0, "cmp_var": cmp if p["CF"] > 1 else 0.0,
                "cmp_rom": cmp * cwb if p["CF"] > 1 else 0.0,  # each compared bit also reads a CF-word ROM
                "rom_lut": sum(m.luts for m in mems), "cwb": float(cwb)}, mems
    if kind == "concat":
        return {"one": 1.0, "lanes": float(p["L"]), "kb": float(_clog2(p["AWORDS"] + p["BWORDS"]))}, []
    if kind == "dup":
        return {"one": 1.0, "w": float(p["W"])}, []
    raise ValueError(f"graph stage kind {kind!r}")


class GraphModel:
    """Graph stage estimates from calibrated coefficients ``{kind: {resource: {feature: coef}}}``."""

    def __init__(self, coefficients: Dict[str, Dict[str, Dict[str, float]]], source: str = "(in memory)",
                 holdout_error: Optional[dict] = None):
        self.coef = coefficients
        self.source = source
        self.holdout_error = holdout_error or {}
        for kind in GRAPH_FEATURES:
            for r in GRAPH_RESOURCES:
                if kind not in coefficients or r not in coefficients[kind]:
                    raise CalibrationError(f"{source}: no '{r}' coefficients for graph stage kind '{kind}'")

    @classmethod
    def load(cls, path=None) -> "GraphModel":
        return _load_graph_model(str(Path(path) if path else GRAPH_CALIBRATION_FILE))

    def linear(self, kind: str, feats: Dict[str, float]) -> Tuple[float, float]:
        return linear_lut_ff(self.coef[kind], feats)

    def estimate(self, kind: str, p: Dict[str, int]) -> Tuple[Resources, List[MemoryMap]]:
        feats, mems = graph_features(kind, p)
        lut, ff = self.linear(kind, feats)
        return Resources(lut=lut, ff=ff, bram36=sum(m.bram36 for m in mems),
                         lutram=sum(m.luts for m in mems if m.kind == "lutram")), mems


@lru_cache(maxsize=4)
def _load_graph_model(path: str) -> GraphModel:
    data = read_calibration(Path(path), "graph calibration", "scripts/calibrate_graph_resources.py")
    return GraphModel(data["coefficients"], source=path, holdout_error=data.get("holdout_error"))


def _score_mvtu(p: Dict[str, int]) -> bool:
    """An integer-output (score mode) MVTU of plain on-chip binary weights: the graph-calibrated kind."""
    return bool(p["SCORES"]) and not p.get("DRAM") and p.get("WB", 1) <= 1


def graph_network(model, net: Network, folding: Dict[str, LayerFold], top_k: int = 1, plan=None,
                  graph_model: Optional[GraphModel] = None) -> List[StageEstimate]:
    """Estimates of every stage and every FIFO of a graph network's RTL design (``plan``: its
    ``rtl.graph.plan_graph``, when the caller has it already; ``graph_model``: the graph stages'
    coefficients, default ``graph_calibration.json``)."""
    from .rtl.graph import plan_graph

    gm = graph_model if graph_model is not None else GraphModel.load()
    pl = plan if plan is not None else plan_graph(net, folding, top_k)
    by_name = {l.name: l for l in net.layers}
    out: List[StageEstimate] = []
    for st in pl.stages:
        p = dict(st.params)
        layer = st.layer or None
        mems: Sequence[MemoryMap] = []
        kind = st.kind
        if st.kind in ("conv", "dense"):
            lay = by_name[st.layer]
            assert isinstance(lay, (Conv2D, Dense))
            p = mvtu_params(net, lay, folding[lay.name])
            if _score_mvtu(p):
                r, mems = gm.estimate("mvtu_int", p)
            else:
                r, mems = model.mvtu(p)
        elif st.kind == "swg":
            r, mems = model.swg(p)
        elif st.kind == "dwc":
            # the chain model: calibrated on the current bnn_dwc.sv (the graph fit below was made on the
            # converter it replaced, whose shifter cost 8x more on wide integer streams)
            r, mems = model.dwc(p)
        elif st.kind == "maxpool":
            r, mems = model.maxpool(p)
        elif st.kind in ("input", "output"):
            r, mems = model.fixed(st.kind)
        elif st.kind in ("dup", "add", "concat"):
            r, mems = gm.estimate(st.kind, p)
        elif st.kind == "threshold":
            T = next(t for t in pl.thresholds if t.name == st.layer)
            p = {"LANES": T.lanes, "IB": T.ib, "CF": T.cf, "TB": T.tb}
            r, mems = gm.estimate("threshold", p)
        else:  # pragma: no cover - plan_graph makes no other kinds
            raise ValueError(f"stage kind {st.kind!r}")
        out.append(StageEstimate(st.inst, kind, layer, p, r, list(mems)))
    for s in pl.streams:
        r, m = gm.estimate("fifo", {"W": s.width, "DEPTH": s.depth})
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
