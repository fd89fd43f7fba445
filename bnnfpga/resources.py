"""Resource model of the generated RTL: LUT, FF, BRAM and DSP per pipeline stage.

The model mirrors the stage chain of :mod:`bnnfpga.rtl.backend` (input, width
converters, sliding-window generators, MVTUs, max-pools, FIFOs between stages,
output and control) and estimates each stage from its parameters:

* **Memories** (weight and threshold ROMs, the MVTU's input buffer, line
  buffers, FIFOs) are placed the way yosys ``synth_xilinx`` places them
  (``memory_libmap`` with the xc7 libraries): a ROM stays in LUTs while its
  bits / 64 cost no more than the block RAMs it would need (RAMB18 cost 129,
  RAMB36 cost 257); a RAM goes to distributed LUT RAM or block RAM, whichever
  costs less (FIFOs read asynchronously, so they never use block RAM).  Block
  RAM counts come from packing depth x width into the RAMB18/RAMB36 aspect
  ratios.
* **Logic** (XNOR-popcount trees, fixed-point add/subtract chains,
  accumulators, threshold comparators, counters) is a linear function of
  features such as PE*SIMD, PE*SIMD*AW (fixed-point lanes) and PE*AW, with
  coefficients fitted to yosys results (``resource_calibration.json``, made
  by ``scripts/calibrate_resources.py``).

``BRAM`` figures are RAMB36 equivalents (a RAMB18 counts 0.5).  ``lutram``
is the part of ``lut`` used as memory.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .folding import LayerFold, check, swg_lanes, swg_positions
from .ir import Conv2D, Dense, MaxPool2D, Network, acc_range, infer_shapes, weight_bits
from .offchip import dram_mvtu_resources, dram_params
from .uram import uram_mvtu_resources, uram_params
from .rtl.backend import _clog2, signed_bits  # the RTL generator's own width rules

CALIBRATION_FILE = Path(__file__).resolve().parent / "resource_calibration.json"

# ---------------------------------------------------------------- results


@dataclass
class Resources:
    lut: float = 0.0
    ff: float = 0.0
    bram36: float = 0.0  # RAMB36 equivalents (RAMB18 = 0.5)
    lutram: float = 0.0  # LUTs used as memory (included in lut)
    dsp: float = 0.0
    uram: float = 0.0  # URAM288 blocks (UltraScale+; weights="uram", bnnfpga.uram)

    def __add__(self, o: "Resources") -> "Resources":
        return Resources(self.lut + o.lut, self.ff + o.ff, self.bram36 + o.bram36, self.lutram + o.lutram,
                         self.dsp + o.dsp, self.uram + o.uram)

    def scaled(self, k: float) -> "Resources":
        return Resources(self.lut * k, self.ff * k, self.bram36 * k, self.lutram * k, self.dsp * k, self.uram * k)

    def as_dict(self) -> Dict[str, float]:
        d = {"lut": round(self.lut, 1), "ff": round(self.ff, 1), "bram36": round(self.bram36, 2),
             "lutram": round(self.lutram, 1), "dsp": round(self.dsp, 1)}
        if self.uram:
            d["uram"] = round(self.uram, 1)
        return d


@dataclass
class MemoryMap:
    """Where one memory goes: 'lut' (ROM as logic), 'lutram', 'bram' or 'ff'."""

    what: str
    depth: int
    width: int
    kind: str
    luts: float = 0.0
    ffs: float = 0.0
    bram36: float = 0.0
    mux: float = 0.0  # read-multiplexer bits of block RAMs stacked in depth: width x (rows - 1)
    uram: float = 0.0  # URAM288 blocks (kind 'uram', bnnfpga.uram)

    @property
    def bits(self) -> int:
        return self.depth * self.width


@dataclass
class StageEstimate:
    name: str  # layer name, or the stage's role ("input", "fifo 3", ...)
    kind: str  # input | dwc | swg | conv | dense | maxpool | output | control | fifo
    layer: Optional[str]  # the compute/max-pool layer this stage belongs to (None: shared)
    params: Dict[str, int]
    res: Resources
    memories: List[MemoryMap] = field(default_factory=list)


# ---------------------------------------------------------------- memory placement (memory_libmap, xc7)

# (depth, width) aspect ratios of simple-dual-port block RAM
_RAMB18 = [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)]
_RAMB36 = [(32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72)]
COST_RAMB18, COST_RAMB36 = 129, 257
ROM_LOGIC_COST_PER_BIT = 1.0 / 64
RAM_LOGIC_COST_PER_BIT = 1.0
LUTRAM_CELL_COST = 8


def bram_packing(depth: int, width: int) -> Tuple[float, int, int, int]:
    """Cheapest block-RAM packing: (cost, RAMB18 count, RAMB36 count, cascade depth)."""
    best = None
    for cost, table, is36 in ((COST_RAMB18, _RAMB18, False), (COST_RAMB36, _RAMB36, True)):
        for d, w in table:
            rows = -(-depth // d)
            cols = -(-width // w)
            n = rows * cols
            key = (n * cost, rows)
            if best is None or key < best[0]:
                best = (key, (0, n, rows) if is36 else (n, 0, rows))
    (cost, _), (n18, n36, rows) = best
    return cost, n18, n36, rows


def lut_rom_luts(depth: int, width: int) -> float:
    """LUTs of a ROM kept in logic: one LUT6 per 64 words per output bit (small ones share)."""
    if depth <= 1:
        return 0.0
    if depth <= 32:
        # 5-input LUTs; two outputs of a LUT6 can share up to 5 address bits
        return width * (0.5 if depth <= 16 else 1.0)
    return float(width * -(-depth // 64))


def lutram_cells(depth: int, width: int) -> Tuple[int, float]:
    """Simple-dual-port LUT RAM: (cells, LUTs). RAM32M: 32 x 6 bits, RAM64M: 64 x 3 bits
    (4 LUTs each); deeper memories stack 64-word RAM64Ms behind a read multiplexer."""
    if depth <= 32:
        cells = -(-width // 6)
        return cells, 4.0 * cells
    if depth <= 64:
        cells = -(-width // 3)
        return cells, 4.0 * cells
    rows = -(-depth // 64)
    cells = rows * -(-width // 3)
    # read multiplexer: one LUT6 per 4 rows per bit (MUXF7/F8 do the rest)
    return cells, 4.0 * cells + width * max(0, rows // 4)


def place_rom(what: str, depth: int, width: int) -> MemoryMap:
    if depth <= 0 or width <= 0:
        return MemoryMap(what, depth, width, "none")
    if depth == 1:
        return MemoryMap(what, depth, width, "ff", ffs=0.0)  # a constant
    cost, n18, n36, rows = bram_packing(depth, width)
    if depth * width * ROM_LOGIC_COST_PER_BIT <= cost:
        return MemoryMap(what, depth, width, "lut", luts=lut_rom_luts(depth, width), ffs=float(width))
    return MemoryMap(what, depth, width, "bram", bram36=n36 + 0.5 * n18, mux=float(width * (rows - 1)))


def place_ram(what: str, depth: int, width: int, sync_read: bool) -> MemoryMap:
    if depth <= 0 or width <= 0:
        return MemoryMap(what, depth, width, "none")
    if depth == 1:
        return MemoryMap(what, depth, width, "ff", ffs=float(width))
    ff_cost = depth * width * RAM_LOGIC_COST_PER_BIT
    cells, luts = lutram_cells(depth, width)
    lr_cost = cells * LUTRAM_CELL_COST
    options = [(ff_cost, "ff"), (lr_cost, "lutram")]
    if sync_read:
        cost, n18, n36, _ = bram_packing(depth, width)
        options.append((cost, "bram"))
    _, kind = min(options)
    if kind == "ff":
        return MemoryMap(what, depth, width, "ff", ffs=float(depth * width), luts=float(depth * width) / 2)
    if kind == "lutram":
        return MemoryMap(what, depth, width, "lutram", luts=luts)
    _, n18, n36, rows = bram_packing(depth, width)
    return MemoryMap(what, depth, width, "bram", bram36=n36 + 0.5 * n18, mux=float(width * (rows - 1)))


# ---------------------------------------------------------------- stage chain (mirrors rtl.backend.plan)


@dataclass
class StageSpec:
    kind: str
    name: str
    layer: Optional[str]
    params: Dict[str, int]
    in_w: int
    fifo_depth: int = 4


def mvtu_params(net: Network, layer, fold: LayerFold) -> Dict[str, int]:
    """The MVTU's parameters, as rtl.backend computes them."""
    fixed = layer.input_kind == "fixed"
    scores = layer.thresholds is None
    lo, hi = acc_range(net, layer)
    p = {"PE": fold.pe, "SIMD": fold.simd, "SF": layer.fan_in // fold.simd, "NF": layer.out_channels // fold.pe,
         "EW": net.input.bits if fixed else 1, "FIXED": int(fixed), "SCORES": int(scores),
         "AW": signed_bits(lo - 1, hi + 1), "FANIN": layer.fan_in}
    if getattr(fold, "lut_pe", 0):
        p["LUTPE"] = int(fold.lut_pe)
    if weight_bits(layer) > 1:  # fixed-point weights: bnn_mvtu_fw (bnnfpga.fixed_weights)
        p["WB"] = weight_bits(layer)
    return p


def strided_rows(k: int, s: int) -> int:
    from .strided import swg_rows

    return swg_rows(k, s)


def stage_specs(net: Network, folding: Dict[str, LayerFold], top_k: int = 1) -> List[StageSpec]:
    """The pipeline's stages with their parameters (same chain as ``rtl.backend.plan``,
    without building weight words, so it is cheap enough for the optimizer)."""
    if net.is_graph:
        from .folding import FoldingError

        raise FoldingError(f"network '{net.name}' is a graph (shortcut connections): the resource model and the "
                           "folding optimizer handle chains only so far; pass --folding FILE or --target-cycles N")
    sp = net.input
    qw = sp.bits
    n0 = sp.height * sp.width * sp.channels
    in_beats = -(-n0 // 8)
    out: List[StageSpec] = [StageSpec("input", "input", None, {"QW": qw}, 64)]
    if sp.binarize_threshold is not None:  # bnn_input_bin: 8 bits per beat (costed as the input stage)
        qw = 1
        out[0].params = {"QW": 1, "BINARIZE": 1}
    st = {"ew": qw, "i": 8, "elems": n0, "lastn": n0 - (in_beats - 1) * 8}

    def convert(o: int, layer_name: Optional[str]):
        if st["i"] == o and st["lastn"] == st["i"]:
            return
        prm = {"EW": st["ew"], "I": st["i"], "O": o, "NIN": -(-st["elems"] // st["i"]), "LASTN": st["lastn"]}
        out.append(StageSpec("dwc", f"dwc {st['i']}->{o}", layer_name, prm, st["i"] * st["ew"]))
        st["i"], st["lastn"] = o, o

    for layer, (ishape, oshape) in zip(net.layers, infer_shapes(net)):
        if isinstance(layer, MaxPool2D):
            h, w, c = ishape
            convert(c, layer.name)
            prm = {"C": c, "W": w, "K": layer.kernel}
            if layer.stride != layer.kernel or h % layer.kernel or w % layer.kernel:  # bnn_maxpool_win (bnnfpga.strided)
                prm.update(H=h, S=layer.stride)
            out.append(StageSpec("maxpool", layer.name, layer.name, prm, c))
            st["elems"] = int(np.prod(oshape))
            continue
        f = folding[layer.name]
        p = mvtu_params(net, layer, f)
        p.update(dram_params(f))  # off-chip weights (bnnfpga.offchip): no weight ROM
        p.update(uram_params(f))  # weights in URAM (bnnfpga.uram)
        g = swg_lanes(layer, f.simd) if isinstance(layer, Conv2D) else f.simd
        npos = swg_positions(layer, f)  # > 1: bnn_swg_multi (bnnfpga.swg_multi)
        convert(g, layer.name)
        if isinstance(layer, Conv2D):
            h, w, c = ishape
            k = layer.kernel
            r = 1
            while r < 2 * k + 1:
                r *= 2
            prm = {"H": h, "W": w, "CW": c // g, "WW": g * st["ew"], "K": k, "PAD": layer.pad, "R": r}
            if layer.stride != 1:  # bnn_swg_stride (bnnfpga.strided)
                prm.update(S=layer.stride, R=strided_rows(k, layer.stride))
            out.append(StageSpec("swg", f"swg {layer.name}", layer.name, prm, g * st["ew"]))
            if npos > 1:
                from .swg_multi import rtl_params

                out[-1].params = rtl_params(h, w, c, st["ew"], k, layer.pad, layer.stride, npos)
            if g * npos != f.simd:  # window words of g lanes -> SIMD lanes (rtl.backend.plan does the same)
                st["i"], st["lastn"], st["elems"] = g, g, oshape[0] * oshape[1] * layer.fan_in
                convert(f.simd, layer.name)
        s = StageSpec(layer.kind, layer.name, layer.name, p, f.simd * st["ew"])
        if isinstance(layer, Dense) or g * npos != f.simd:
            s.fifo_depth = max(4, min(p["SF"] + 2, 1024))
        out.append(s)
        obw = 32 if p["SCORES"] else 1
        st.update(ew=obw, i=f.pe, lastn=f.pe, elems=int(np.prod(oshape)))
    convert(1, None)
    out.append(StageSpec("output", "output", None, {"CLASSES": net.num_classes, "TOPK": top_k}, 32))
    return out


# ---------------------------------------------------------------- the model

# features of each stage kind; coefficients per (kind, resource) come from the calibration file
FEATURES = {
    "mvtu": ["one", "lanes_bin", "lanes_fix", "lanes_fix_aw", "pe_acc", "pe_cmp", "pe_scores", "in_bits", "counters",
             "mem_lut", "mem_ff", "mem_mux"],
    "swg": ["one", "ww", "addr", "mem_lut", "mem_ff"],
    "fifo": ["one", "bram_w", "ptr", "mem_lut", "mem_ff", "mem_mux", "lr_mux"],
    "dwc": ["one", "buf_bits", "ctr", "move_bits", "rot2_bits", "rot2_shared", "rotn_bits", "moven_bits", "units", "unit_cmp", "ou_odd", "iu_odd"],
    "maxpool": ["one", "c", "mem_lut", "mem_ff"],
    "input": ["one"],
    "output": ["one"],
    "control": ["one"],
}
RESOURCES = ["lut", "ff"]
# stage kinds whose flip-flops have features of their own (one per register group of the RTL);
# the other kinds fit FEATURES[kind] for both resources
FF_FEATURES = {
    "mvtu": ["one", "ff_ctl", "counters", "ff_in", "pe_acc", "ff_out", "ff_wreg", "ff_treg"],
}


def linear_lut_ff(coef: Dict[str, Dict[str, float]], feats: Dict[str, float]) -> Tuple[float, float]:
    """(LUT, FF) of one stage: each resource's coefficients times the features, at least 0."""
    lut, ff = (max(0.0, sum(coef[r].get(k, 0.0) * v for k, v in feats.items())) for r in RESOURCES)
    return lut, ff


def feature_names(kind: str, res: str) -> List[str]:
    """The features fitted for one (stage kind, resource)."""
    if res == "ff" and kind in FF_FEATURES:
        return FF_FEATURES[kind]
    return FEATURES[kind]


def mvtu_memories(p: Dict[str, int]) -> List[MemoryMap]:
    pe, simd, sf, nf = p["PE"], p["SIMD"], p["SF"], p["NF"]
    lut_pe = p.get("LUTPE", 0)
    mems = [place_rom("weights", sf * nf, (pe - lut_pe) * simd)]
    if lut_pe:  # rom_style "logic": a LUT ROM whatever its size
        mems.append(MemoryMap("weights (LUT ROM)", sf * nf, lut_pe * simd, "lut",
                              luts=lut_rom_luts(sf * nf, lut_pe * simd), ffs=float(lut_pe * simd)))
    if not p["SCORES"]:
        mems.append(place_rom("thresholds", nf, pe * (p["AW"] + 1)))
    if nf > 1 and sf > 1:  # the input buffer is read only by output folds 1..NF-1
        mems.append(place_ram("input buffer", sf, simd * p["EW"], sync_read=True))
    return mems


def rom_register_bits(width: int, depth: int) -> float:
    """Flip-flops yosys keeps for the output register of a ROM in logic: one per distinct
    non-constant column (a bit's values over the ``depth`` words); constant columns fold
    away and equal ones merge (opt_merge).  Expected count for ``width`` random columns:
    N (1 - (1 - 1/N)^width), N = 2^depth - 2 possible columns."""
    if depth <= 1 or width <= 0:
        return 0.0
    if depth >= 40:
        return float(width)
    n = 2.0 ** depth - 2
    return n * -math.expm1(width * math.log1p(-1.0 / n))


def mvtu_ff_features(p: Dict[str, int], mems: Sequence[MemoryMap]) -> Dict[str, float]:
    """Flip-flop features of bnn_mvtu / bnn_mvtu_fw and the layer wrapper (layer.sv.j2), one
    per register group (checked bit for bit against yosys netlists of the calibration points):

    * ff_ctl: v1, out_valid; first1, last1 when SF > 1 (constant otherwise)
    * counters (shared with the LUT fit, in mvtu_features): the sf, nf and weight-address counters
      (log2 SF + log2 NF + log2 SF*NF bits; a 1-bit count where SF or NF is 1, which yosys
      drops); off-chip units add their batch counters to it
    * ff_in: the input word x1 (SIMD*EW; in the DSPs' B registers for bnn_mvtu_fw's multiplier
      lanes); the input buffer: a register of SIMD*EW bits when
      SF = 1 < NF; in LUT RAM its registered read address (log2 SF); in block RAM the bypass
      of its transparent read port (SIMD*EW + 1: x1 takes the word written in the same cycle)
    * pe_acc: the accumulators, PE*AW (none when SF = 1)
    * ff_out: the output word, PE bits, or PE*(AW+1) score bits (sign extension merged)
    * ff_wreg: weight ROM output register when the ROM is in logic: one per distinct
      non-constant column (:func:`rom_register_bits`); block RAM absorbs it (plus the
      registered row select of depth-stacked block RAMs); URAM's read register
    * ff_treg: threshold ROM output register (in logic): thresholds spread over about a
      quarter of the accumulator range (AW - 2 varying bits) plus the direction bit per PE,
      one register per distinct non-constant column over the NF words
    """
    pe, simd, sf, nf, aw = p["PE"], p["SIMD"], p["SF"], p["NF"], p["AW"]
    iw = simd * p["EW"]

    def lg(n):
        return float(_clog2(n)) if n > 1 else 0.0

    # bnn_mvtu_fw with fixed-point input: yosys maps each lane's WB x EW multiply to a DSP48E1 and
    # moves x1 into the DSPs' B registers (one copy per PE): no fabric flip-flops left for x1
    ff_in = 0.0 if p.get("WB", 1) > 1 and p["FIXED"] else float(iw)
    if nf > 1 and sf == 1:
        ff_in += iw  # ibuf[1]: a plain register
    ff_w = ff_t = 0.0
    for m in mems:
        if m.what == "input buffer":
            ff_in += {"lutram": lg(sf), "bram": iw + 1.0}.get(m.kind, m.ffs)
        elif m.what.startswith("weights"):
            if m.kind == "lut":
                ff_w += rom_register_bits(m.width, m.depth)
            elif m.kind == "bram":
                ff_w += lg(int(round(m.mux / m.width)) + 1) if m.mux else 0.0
            else:
                ff_w += m.ffs
        elif m.what == "thresholds":
            if m.kind == "lut":
                ff_t += rom_register_bits(pe * max(1, aw - 1), m.depth)
        else:
            ff_in += m.ffs
    return {
        "ff_ctl": 2.0 + (2.0 if sf > 1 else 0.0),
        "ff_in": ff_in,
        "ff_out": float(pe * (aw + 1)) if p["SCORES"] else float(pe),
        "ff_wreg": ff_w,
        "ff_treg": ff_t,
    }


def mvtu_features(p: Dict[str, int], mems: Sequence[MemoryMap]) -> Dict[str, float]:
    pe, simd, aw = p["PE"], p["SIMD"], p["AW"]
    fixed = p["FIXED"]
    lanes = pe * simd
    return {
        **mvtu_ff_features(p, mems),
        "one": 1.0,
        "lanes_bin": 0.0 if fixed else float(lanes),
        "lanes_fix": float(lanes) if fixed else 0.0,
        "lanes_fix_aw": float(lanes * aw) if fixed else 0.0,
        "pe_acc": float(pe * aw) if p["SF"] > 1 else 0.0,  # no accumulator when a window is one word
        "pe_cmp": 0.0 if p["SCORES"] else float(pe * aw),
        "pe_scores": float(pe * 32) if p["SCORES"] else 0.0,
        "in_bits": float(simd * p["EW"]),
        "counters": float(_clog2(p["SF"]) + _clog2(p["NF"]) + _clog2(p["SF"] * p["NF"])),
        "mem_lut": sum(m.luts for m in mems),
        "mem_ff": sum(m.ffs for m in mems),
        "mem_mux": sum(m.mux for m in mems),
    }


def swg_memories(p: Dict[str, int]) -> List[MemoryMap]:
    dep = p["R"] * p["W"] * p["CW"]
    return [place_ram("line buffer", dep, p["WW"], sync_read=True)]


def swg_features(p, mems):
    dep = p["R"] * p["W"] * p["CW"]
    return {"one": 1.0, "ww": float(p["WW"]), "addr": float(_clog2(dep)),
            "mem_lut": sum(m.luts for m in mems), "mem_ff": sum(m.ffs for m in mems)}


def fifo_memories(w: int, depth: int) -> List[MemoryMap]:
    # the read address is a register, so yosys turns the read into a synchronous port
    return [place_ram("fifo", depth, w, sync_read=True)]


def fifo_features(w, depth, mems):
    return {"one": 1.0, "ptr": float(_clog2(depth)), "mem_lut": sum(m.luts for m in mems),
            "mem_ff": sum(m.ffs for m in mems), "mem_mux": sum(m.mux for m in mems),
            # a block-RAM FIFO's read path: about a LUT per bit of width
            "bram_w": float(w) if any(m.kind == "bram" for m in mems) else 0.0,
            # a LUT-RAM FIFO deeper than 64 words: banks of 64 words and a read multiplexer over them
            "lr_mux": sum(float(m.width * (-(-m.depth // 64) - 1)) for m in mems if m.kind == "lutram")}


def dwc_structure(p) -> Dict[str, int]:
    """bnn_dwc's structure (rtl_templates/bnn_dwc.sv): the buffer holds I + O elements in
    units of U = gcd(I, O, LASTN) elements (IU per input word, OU per output word); an
    input word lands at the fill level left after an output word leaves (0..OU units), so
    it is rotated by (fill level mod IU) units: NR = min(IU, OU + 1) rotations, RW
    select bits.  Units 0..IU-1 also take the unit OU above them on output (a 2:1 mux per
    bit); the others are written only by the input (clock enable, no logic)."""
    i, o = p["I"], p["O"]
    lastn = p.get("LASTN", i)
    u = math.gcd(math.gcd(i, o), lastn)
    iu, ou = i // u, o // u
    nr = min(iu, ou + 1)
    # write enable of unit j: the input word (at fill level kept <= OU) covers it when
    # j - IU < kept <= j; bounds at 0 or OU need no comparator
    cmps = sum(int(j - iu + 1 > 0) + int(j < ou) for j in range(iu + ou))
    return {"U": u, "IU": iu, "OU": ou, "CU": iu + ou, "NR": nr, "RW": max(1, _clog2(nr)),
            "NW": _clog2(iu + ou + 1), "CMPS": cmps}


def dwc_features(p):
    """Features of bnn_dwc following its structure (:func:`dwc_structure`)."""
    ew = p["EW"]
    st = dwc_structure(p)
    in_bits = p["I"] * ew
    lastn = p.get("LASTN", p["I"])
    return {
        "one": 1.0,
        "buf_bits": float((p["I"] + p["O"]) * ew),
        "ctr": float(st["NW"] + (_clog2(p.get("NIN", 1)) if lastn != p["I"] else 0)),
        # units 0..IU-1: a 2:1 mux per bit (input or the unit moved down on output); packing
        # (O a multiple of I) needs nothing else
        "move_bits": float(in_bits) if st["NR"] == 1 else 0.0,
        # ... merged by synthesis with a 0/1-unit rotation (unpacking: I a multiple of O)
        "rot2_bits": float(in_bits) if st["NR"] == 2 else 0.0,
        # ... except for rotated unit 0, which the top unit IU shares: a mux of its own
        "rot2_shared": float(st["U"] * ew) if st["NR"] == 2 else 0.0,
        # a rotator of its own (RW stages of 2:1 muxes, two per LUT6), then the 2:1 mux
        "rotn_bits": float(in_bits * -(-st["RW"] // 2)) if st["NR"] > 2 else 0.0,
        "moven_bits": float(in_bits) if st["NR"] > 2 else 0.0,
        # per unit: its clock enable (write or move), and the fill-level comparisons of the
        # write enables (NW bits each)
        "units": float(st["CU"]),
        "unit_cmp": float(st["CMPS"] * st["NW"]),
        # the fill level's compare / subtract / add with OU and IU: carry logic unless a
        # power of two
        "ou_odd": 1.0 if st["OU"] & (st["OU"] - 1) else 0.0,
        "iu_odd": 1.0 if st["IU"] & (st["IU"] - 1) else 0.0,
    }


def maxpool_memories(p):
    if "S" in p:  # bnn_maxpool_win: ceil(K/S) memories of OW partial ORs (bnnfpga.strided)
        from .strided import pool_out, pool_slots

        return [place_ram(f"row buffer {i}", pool_out(p["W"], p["K"], p["S"]), p["C"], sync_read=True)
                for i in range(pool_slots(p["K"], p["S"]))]
    return [place_ram("row buffer", max(1, p["W"] // p["K"]), p["C"], sync_read=True)]


def maxpool_features(p, mems):
    return {"one": 1.0, "c": float(p["C"]), "mem_lut": sum(m.luts for m in mems), "mem_ff": sum(m.ffs for m in mems)}


class CalibrationError(ValueError):
    pass


class ResourceModel:
    """Per-stage estimates from calibrated coefficients ``{kind: {resource: {feature: coef}}}``."""

    def __init__(self, coefficients: Dict[str, Dict[str, Dict[str, float]]], source: str = "(in memory)"):
        self.coef = coefficients
        self.source = source
        for kind, feats in FEATURES.items():
            for r in RESOURCES:
                if kind not in coefficients or r not in coefficients[kind]:
                    raise CalibrationError(f"{source}: no '{r}' coefficients for stage kind '{kind}'")

    @classmethod
    def load(cls, path=None) -> "ResourceModel":
        p = Path(path) if path else CALIBRATION_FILE
        return _load_cached(str(p))

    def _linear(self, kind: str, feats: Dict[str, float]) -> Tuple[float, float]:
        return linear_lut_ff(self.coef[kind], feats)

    def _estimate(self, kind: str, feats: Dict[str, float], mems: Sequence[MemoryMap]) -> Resources:
        lut, ff = self._linear(kind, feats)
        lutram = sum(m.luts for m in mems if m.kind == "lutram")
        return Resources(lut=lut, ff=ff, bram36=sum(m.bram36 for m in mems), lutram=lutram,
                         uram=sum(m.uram for m in mems))

    def mvtu(self, p: Dict[str, int]) -> Tuple[Resources, List[MemoryMap]]:
        if p.get("DRAM"):
            return dram_mvtu_resources(self, p)
        if p.get("URAM"):
            return uram_mvtu_resources(self, p)
        if p.get("WB", 1) > 1:
            from .fixed_weights import mvtu_fw_estimate

            return mvtu_fw_estimate(self, p)
        mems = mvtu_memories(p)
        return self._estimate("mvtu", mvtu_features(p, mems), mems), mems

    def swg(self, p: Dict[str, int]):
        if "P" in p:  # bnn_swg_multi: outside the calibration file (bnnfpga.swg_multi.estimate)
            from .swg_multi import estimate

            lut, ff, mems = estimate(p)
            return Resources(lut=lut, ff=ff, bram36=sum(m.bram36 for m in mems),
                             lutram=sum(m.luts for m in mems if m.kind == "lutram")), mems
        mems = swg_memories(p)
        return self._estimate("swg", swg_features(p, mems), mems), mems

    def fifo(self, w: int, depth: int):
        mems = fifo_memories(w, depth)
        return self._estimate("fifo", fifo_features(w, depth, mems), mems), mems

    def dwc(self, p):
        return self._estimate("dwc", dwc_features(p), []), []

    def maxpool(self, p):
        mems = maxpool_memories(p)
        if "S" in p:  # bnn_maxpool_win: outside the calibration file (bnnfpga.strided.window_pool_estimate)
            from .strided import window_pool_estimate

            lut, ff = window_pool_estimate(p)
            lutram = sum(m.luts for m in mems if m.kind == "lutram")
            return Resources(lut=lut, ff=ff, bram36=sum(m.bram36 for m in mems), lutram=lutram), mems
        return self._estimate("maxpool", maxpool_features(p, mems), mems), mems

    def fixed(self, kind: str):
        return self._estimate(kind, {"one": 1.0}, []), []

    def stage(self, s: StageSpec):
        if s.kind in ("conv", "dense"):
            return self.mvtu(s.params)
        if s.kind == "swg":
            return self.swg(s.params)
        if s.kind == "dwc":
            return self.dwc(s.params)
        if s.kind == "maxpool":
            return self.maxpool(s.params)
        return self.fixed(s.kind)

    def network(self, net: Network, folding: Dict[str, LayerFold], top_k: int = 1) -> List[StageEstimate]:
        """Estimates of every stage (each stage's input FIFO is listed as its own entry)."""
        check(net, folding)
        if net.is_graph:  # shortcut networks: the stages and FIFOs of bnnfpga.rtl.graph
            from .graph_resources import graph_network

            return graph_network(self, net, folding, top_k)
        out: List[StageEstimate] = []
        for i, s in enumerate(stage_specs(net, folding, top_k)):
            if i > 0:
                r, m = self.fifo(s.in_w, s.fifo_depth)
                out.append(StageEstimate(f"fifo {i}", "fifo", s.layer, {"W": s.in_w, "DEPTH": s.fifo_depth}, r, m))
            r, m = self.stage(s)
            out.append(StageEstimate(s.name, s.kind, s.layer, dict(s.params), r, m))
        r, _ = self.fixed("control")
        out.append(StageEstimate("control", "control", None, {}, r))
        return out

    def total(self, net: Network, folding: Dict[str, LayerFold], top_k: int = 1) -> Resources:
        return sum((e.res for e in self.network(net, folding, top_k)), Resources())

    def per_layer(self, net: Network, folding: Dict[str, LayerFold], top_k: int = 1) -> Dict[str, Resources]:
        """Resources grouped by layer (FIFOs, converters and window generators go to the layer
        they feed); the shared stages (input, output, control) under ''."""
        out: Dict[str, Resources] = {}
        for e in self.network(net, folding, top_k):
            k = e.layer or ""
            out[k] = out.get(k, Resources()) + e.res
        return out


def read_calibration(p: Path, what: str, script: str) -> dict:
    """A calibration file's JSON object (with its 'coefficients'), or a one-line CalibrationError."""
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise CalibrationError(f"{p}: {what} file not found (run {script})") from None
    except (OSError, json.JSONDecodeError) as e:
        raise CalibrationError(f"{p}: cannot read the {what} file ({e})") from None
    if not isinstance(data, dict) or "coefficients" not in data:
        raise CalibrationError(f"{p}: no 'coefficients' object")
    return data


@lru_cache(maxsize=8)
def _load_cached(path: str) -> ResourceModel:
    data = read_calibration(Path(path), "calibration", "scripts/calibrate_resources.py")
    return ResourceModel(data["coefficients"], source=path)


# ---------------------------------------------------------------- yosys

YOSYS = os.environ.get("BNNFPGA_YOSYS", "yosys")

# LUTs per distributed-RAM primitive
LUTRAM_LUTS = {"RAM32M": 4, "RAM32M16": 8, "RAM64M": 4, "RAM64M8": 8, "RAM32X1D": 2, "RAM64X1D": 2,
               "RAM128X1D": 4, "RAM256X1D": 8, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
               "SRL16E": 1, "SRLC32E": 1, "SRLC16E": 1}


class YosysError(RuntimeError):
    pass


def yosys_available() -> bool:
    return shutil.which(YOSYS) is not None


def cells_to_resources(cells: Dict[str, int]) -> Resources:
    r = Resources()
    for name, n in cells.items():
        if name.startswith("LUT") and name[3:].isdigit():
            r.lut += n
        elif name in LUTRAM_LUTS:
            r.lut += n * LUTRAM_LUTS[name]
            r.lutram += n * LUTRAM_LUTS[name]
        elif name.startswith("FD"):
            r.ff += n
        elif name == "RAMB36E1":
            r.bram36 += n
        elif name == "RAMB18E1":
            r.bram36 += 0.5 * n
        elif name.startswith("DSP48"):
            r.dsp += n
        elif name == "URAM288":
            r.uram += n
    return r


def synthesize(sources: Dict[str, str], top: str, params: Optional[Dict[str, int]] = None,
               timeout: float = 1800) -> Dict[str, int]:
    """Run ``yosys synth_xilinx -family xc7`` on SystemVerilog sources ({file name: text});
    returns the design's cell counts (I/O buffers excluded)."""
    if not yosys_available():
        raise YosysError(f"yosys not found ({YOSYS}); set BNNFPGA_YOSYS or install yosys")
    with tempfile.TemporaryDirectory(prefix="bnnfpga-yosys-") as d:
        names = []
        for name, text in sources.items():  # sources may include data files, e.g. mem/*.mem for $readmemh
            (Path(d) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(d) / name).write_text(text)
            if name.endswith((".sv", ".v")):
                names.append(name)
        script = yosys_script(names, top, params)
        try:
            res = subprocess.run([YOSYS, "-q", "-p", script.replace("\n", " ")], cwd=d, capture_output=True,
                                 text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise YosysError(f"yosys timed out after {timeout:.0f} s on {top}") from None
        if res.returncode != 0:
            tail = (res.stderr or res.stdout)[-800:]
            raise YosysError(f"yosys failed on {top}: {tail}")
        return stat_cells(json.loads((Path(d) / "stat.json").read_text()))


def yosys_script(files: Sequence[str], top: str, params: Optional[Dict[str, int]] = None) -> str:
    """The synthesis script: read, set parameters, synth_xilinx for 7-series, stat as JSON."""
    chp = "".join(f" -chparam {k} {int(v)}" for k, v in (params or {}).items())
    return (f"read_verilog -sv {' '.join(files)};\nhierarchy -top {top}{chp};\n"
            f"synth_xilinx -family xc7 -top {top};\ntee -q -o stat.json stat -json;")


def stat_cells(stat: dict) -> Dict[str, int]:
    """Cell counts of the whole design from yosys ``stat -json`` (I/O buffers excluded)."""
    cells = stat["design"]["num_cells_by_type"]
    return {k: int(v) for k, v in cells.items() if k not in ("IBUF", "OBUF", "BUFG", "IOBUF")}


def relative_error(est: float, ref: float, floor: float = 1.0) -> float:
    return abs(est - ref) / max(abs(ref), floor)
