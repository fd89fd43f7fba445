"""UltraRAM weights: a third place for a layer's weights (``LayerFold(weights="uram")``).

UltraScale+ devices (the ZCU104's xczu7ev: 96 blocks, the KV260's xck26: 64) have
UltraRAM next to block RAM.  A URAM288 block is 4096 words x 72 bits (288 Kbit), one
fixed aspect ratio, and (on UltraScale+) it cannot be initialised from the bitstream.
So a layer whose folding says ``weights="uram"``:

* keeps its weight memory in UltraRAM (RTL: ``(* ram_style = "ultra" *)``; HLS: the
  URAM storage binding) and its thresholds in an initialised ROM as before;
* starts with an empty weight memory: the weights are written at run time through the
  run-time parameter port (docs/interface.md, "Run-time loadable parameters"): the
  same do_init runs, ``target_mem`` 0, for exactly the URAM layers.  The other layers
  keep their initialised ROMs.  The RTL layer collects the PE lanes of a weight word in
  a staging register and writes the whole word when lane PE-1 arrives (URAM writes
  whole 72-bit words, or 9-bit bytes), so the lanes of a word are written in index order
  (:func:`load_rows` gives that order).

Block count (:func:`uram_blocks`): the RTL keeps one memory of NF*SF words of
PE*SIMD*WB bits per layer.  As Vivado maps such a memory, words wider than 72 bits take
``ceil(width / 72)`` blocks side by side, and more than 4096 words cascade
``ceil(depth / 4096)`` blocks (the URAM288's built-in cascade; no LUT multiplexer).
Narrow words are not packed several to a row: a 16-bit word wastes 56 of the 72 bits,
so the optimizer prefers PE*SIMD*WB near a multiple of 72.
"""
from __future__ import annotations

import math
from typing import Dict, List

import numpy as np

from .folding import LayerFold

URAM = "uram"
URAM_DEPTH = 4096  # words per URAM288
URAM_WIDTH = 72  # bits per word
# Logic of the URAM weight memory's write path (per layer): the do_init decode (layer and
# index compare, index / PE and index % PE) and the lane staging register ((PE-1) lanes of FF).
# yosys synth_xilinx -family xcup (benchmarks/bench_uram_yosys.py) puts it at 21-23 LUT over the
# block-RAM layer for 72- and 144-bit words, whatever the width (the staging FFs use clock enables).
WRITE_LUT, WRITE_LUT_PER_BIT = 25.0, 0.0
# Share of a board's URAM blocks the optimizer may use (as BRAM_MARGIN for block RAM).
URAM_MARGIN = 0.90
URAM_MODES = ("never", "auto", "always")


def is_uram(f: LayerFold) -> bool:
    return getattr(f, "weights", "onchip") == URAM


def uram_layers(net, folding: Dict[str, LayerFold]) -> List:
    """The compute layers whose weights live in UltraRAM, in network order."""
    return [l for l in net.compute_layers() if is_uram(folding[l.name])]


def uram_blocks(depth: int, width: int) -> int:
    """URAM288 blocks of a depth x width memory: ceil(width / 72) columns x ceil(depth / 4096) cascaded rows."""
    if depth <= 0 or width <= 0:
        return 0
    return -(-width // URAM_WIDTH) * -(-depth // URAM_DEPTH)


def layer_uram_blocks(layer, f: LayerFold) -> int:
    from .ir import weight_bits

    return uram_blocks((layer.fan_in // f.simd) * (layer.out_channels // f.pe), f.pe * f.simd * weight_bits(layer))


def uram_params(f: LayerFold) -> Dict[str, int]:
    """Extra stage parameters of a URAM MVTU (merged into the resource model's MVTU params)."""
    return {"URAM": 1} if is_uram(f) else {}


def loadable(layer, f: LayerFold) -> bool:
    """Whether the run-time parameter port can load the layer's weights (SIMD*WB <= 64)."""
    from .ir import weight_bits

    return f.simd * weight_bits(layer) <= 64


def check_loadable(layer, f: LayerFold, error=ValueError) -> None:
    from .ir import weight_bits

    if not loadable(layer, f):
        raise error(f"layer '{layer.name}': weights='uram' are loaded at run time, one 64-bit value per PE lane of a "
                    f"weight word, so SIMD x weight bits must be <= 64; got SIMD={f.simd} x {weight_bits(layer)}")


# ---------------------------------------------------------------- resources

def uram_mvtu_memories(p: Dict[str, int]):
    """Memories of a URAM MVTU: the weight memory in URAM, the rest as on chip."""
    from .resources import MemoryMap, mvtu_memories

    mems = mvtu_memories({k: v for k, v in p.items() if k not in ("URAM", "LUTPE")})
    depth, width = p["SF"] * p["NF"], p["PE"] * p["SIMD"] * p.get("WB", 1)
    mems[0] = MemoryMap("weights (URAM)", depth, width, "uram", uram=float(uram_blocks(depth, width)),
                        ffs=float(width))  # the read register
    return mems


def uram_mvtu_resources(model, p: Dict[str, int]):
    """(Resources, memories) of an MVTU whose weights are in URAM: the on-chip MVTU's
    logic (calibrated), its weight ROM replaced by URAM blocks, plus the write path
    (decode and a staging register of (PE-1) lanes)."""
    from .resources import Resources, mvtu_features

    q = {k: v for k, v in p.items() if k != "URAM"}
    mems = uram_mvtu_memories(p)
    feats = mvtu_features(q, mems)
    lane = Resources()
    if q.get("WB", 1) > 1:  # fixed-point weights: bnn_mvtu_fw's lanes (bnnfpga.fixed_weights)
        from . import fixed_weights as fw

        for k in ("lanes_bin", "lanes_fix", "lanes_fix_aw"):
            feats[k] = 0.0
        lanes = q["PE"] * q["SIMD"]
        lane = (Resources(lut=fw.LUT_PER_MUL_LANE_AW * lanes * q["AW"], dsp=fw.DSP_PER_MUL_LANE * lanes) if q["FIXED"]
                else Resources(lut=fw.LUT_PER_ADDSUB_LANE_AW * lanes * q["AW"]))
    r = model._estimate("mvtu", feats, mems) + lane
    staged = (p["PE"] - 1) * p["SIMD"] * p.get("WB", 1)
    return r + Resources(lut=WRITE_LUT + WRITE_LUT_PER_BIT * p["PE"] * p["SIMD"] * p.get("WB", 1),
                         ff=float(staged)), mems


# ---------------------------------------------------------------- run-time load

def load_rows(net, folding: Dict[str, LayerFold], source=None) -> np.ndarray:
    """The do_init writes that fill the URAM layers' weight memories: uint32 rows
    (layer, mem=0, index, value_lo, value_hi), in index order per layer (the lanes of a
    word in turn, lane PE-1 last).  ``source``: a network of the same shapes whose weights
    are written (default ``net``)."""
    from .hls.vectors import param_init_words

    src = source if source is not None else net
    idx = {l.name: i for i, l in enumerate(net.compute_layers())}
    rows = param_init_words(src, folding)
    keep = sorted(idx[l.name] for l in uram_layers(net, folding))
    rows = rows[np.isin(rows[:, 0], keep) & (rows[:, 1] == 0)]
    order = np.lexsort((rows[:, 2], rows[:, 0]))
    return rows[order]


def uram_meta(net, folding: Dict[str, LayerFold]) -> Dict[str, dict]:
    """design.json / overlay metadata "uram_weights": per URAM layer its compute-layer index
    (target_layer), weight words, word width and URAM blocks."""
    from .ir import weight_bits

    out = {}
    for i, layer in enumerate(net.compute_layers()):
        f = folding[layer.name]
        if is_uram(f):
            out[layer.name] = {"target_layer": i, "words": (layer.fan_in // f.simd) * (layer.out_channels // f.pe),
                               "word_bits": f.pe * f.simd * weight_bits(layer), "pe": f.pe,
                               "uram_blocks": layer_uram_blocks(layer, f)}
    return out


def uram_weight_note(layer, f: LayerFold) -> str:
    """'  weights in URAM (N blocks)' for a URAM layer, '' otherwise."""
    if not is_uram(f):
        return ""
    return f"  weights in URAM ({layer_uram_blocks(layer, f)} URAM288)"


# ---------------------------------------------------------------- optimizer hooks (bnnfpga.optimizer)

# weights of URAM blocks in a layer's cost, relative to the URAM budget (next to LUT, BRAM, DRAM)
URAM_WEIGHTS = (1.0, 0.1)


def check_uram_mode(mode: str, budget) -> str:
    """Validate ``optimize(uram=...)``; "auto" on a board without URAM (or without a board) is "never"."""
    from .folding import FoldingError

    if mode not in URAM_MODES + ("allow",):
        raise FoldingError(f"uram must be 'never', 'auto' or 'always', got {mode!r}")
    if mode in ("always", "allow") and not budget.uram:
        where = f"board '{budget.board}'" if budget.board else "a budget without a board"
        raise FoldingError(f"uram='{mode}': {where} has no UltraRAM (URAM is UltraScale+ only: zcu104, kv260)")
    if mode == "auto" and not budget.uram:
        return "never"
    return mode


def uram_candidate(model, layer, f: LayerFold, specs, res, cand_type, cycles: int) -> List:
    """The same (PE, SIMD) with its weight memory in URAM (when the run-time port can load it)."""
    if not loadable(layer, f):
        return []
    mv = specs[-1]
    onchip, _ = model.mvtu(mv.params)
    ur, _ = model.mvtu({**mv.params, "URAM": 1})
    fu = LayerFold(f.pe, f.simd, weights=URAM)
    return [cand_type(fu, cycles, res + onchip.scaled(-1.0) + ur, f.pe * f.simd)]


def assign_uram(search, f: Dict[str, LayerFold], T: int) -> Dict[str, LayerFold]:
    """``uram="auto"``: after the per-layer picks for a pace of T cycles, when block RAM or LUTs
    are over budget, move weight memories to URAM: each layer's URAM variant is its (PE, SIMD)
    with at most T cycles and the fewest URAM blocks (then the fewest LUTs); layers go in the
    order of the block RAM and LUTs they free (relative to the budget) per URAM block, while
    the URAM budget holds and the design is still over."""
    b = search.budget
    res = search.model.total(search.net, f, search.top_k)
    lut_n, bram_n = b.lut or math.inf, b.bram36 or math.inf
    over_b, over_l = res.bram36 - (b.bram36 if b.bram36 is not None else math.inf), res.lut - lut_n
    if over_b <= 0 and over_l <= 0:
        return f
    moves = []
    for name, fold in f.items():
        cur = next((c for c in search.cands[name] if c.fold == fold), None)
        us = [c for c in search.uram_cands.get(name, []) if c.cycles <= T]
        if cur is None or not us:
            continue
        u = min(us, key=lambda c: (c.res.uram, c.res.lut, c.fold.pe * c.fold.simd))
        db, dl = cur.res.bram36 - u.res.bram36, cur.res.lut - u.res.lut
        gain = db / bram_n + dl / lut_n
        if gain > 0 and u.res.uram > 0:
            moves.append((gain / u.res.uram, name, u, db, dl))
    used = res.uram
    out = dict(f)
    for _, name, u, db, dl in sorted(moves, key=lambda m: -m[0]):
        if over_b <= 0 and over_l <= 0:
            break
        if used + u.res.uram > b.uram + 1e-9:
            continue
        out[name] = u.fold
        used += u.res.uram
        over_b, over_l = over_b - db, over_l - dl
    return out


def choose_auto(run, budget, target_fps, cheaper):
    """``uram="auto"``: the search without URAM; when block RAM or LUTs bind it (LUTs: weights
    may sit in LUT ROM) or nothing fits, the search with URAM candidates too, taken when it is
    faster or when only it fits."""
    r0 = run("never")
    if r0.feasible and r0.binding not in ("BRAM36", "LUT"):
        return r0
    r1 = run("allow")
    if not r1.feasible:
        return r1 if not r0.feasible and cheaper(r1, r0, budget) else r0
    if not r0.feasible or r1.cycles < r0.cycles:
        return r1
    return r0


# ---------------------------------------------------------------- co-simulation and driver hooks

def order_rows(rows: np.ndarray) -> np.ndarray:
    """do_init rows sorted by (layer, mem, index): the lanes of a URAM word in turn."""
    rows = np.asarray(rows, dtype=np.uint32).reshape(-1, 5)
    return rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]


def cosim_params(params: np.ndarray, net, folding: Dict[str, LayerFold], load=None, uram_rows=None,
                 uram_load: bool = True) -> np.ndarray:
    """The do_init rows of a co-simulation with URAM layers: the runtime_params rows (``load``)
    of the other layers and thresholds, then the URAM layers' weights (``uram_rows`` when given,
    else from ``load`` or ``net``; none with ``uram_load=False``), each layer's lanes in index order."""
    ids = [i for i, l in enumerate(net.compute_layers()) if is_uram(folding[l.name])]
    params = np.asarray(params, dtype=np.uint32).reshape(-1, 5)
    keep = params[~(np.isin(params[:, 0], ids) & (params[:, 1] == 0))]
    if uram_rows is not None:
        rows = np.asarray(uram_rows, dtype=np.uint32).reshape(-1, 5)
    elif uram_load:
        rows = load_rows(net, folding, load)
    else:
        rows = np.zeros((0, 5), np.uint32)
    return np.concatenate([order_rows(keep), rows]) if len(keep) else rows
