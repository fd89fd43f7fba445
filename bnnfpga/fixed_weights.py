"""Fixed-point weights (non-binary first and last layers): the helpers the backends share.

A compute layer with ``weight_bits = b > 1`` (see "Fixed-point weights" in the
docstring of :mod:`bnnfpga.ir`) holds signed b-bit integer weights.  In every
weight word (HLS ROM word, RTL weight memory lane) such a layer stores, where a
binary layer stores SIMD bits, SIMD lanes of b bits in two's complement: lane i
(fan-in index sf*SIMD + i) at bits ``[b*i + b-1 : b*i]``.  Its multiply-
accumulate lanes compute ``sum_i w_i * q_i`` (pixels) or ``sum_i w_i * x_i``
(x = +1 for bit 1, -1 for bit 0) and its output is that sum (the scores, a
graph's integer stream, or thresholded bits).

The folding, the stage order and the cycles are those of a binary layer: a
fixed-weight layer only has wider weight words and multipliers in its lanes.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from .ir import Network, weight_bits


def word_lanes(layer, pe: int, simd: int) -> np.ndarray:
    """(PE, NF*SF, SIMD) weights in the HLS word order: [pe][nf*SF + sf] = channel nf*PE + pe, lanes sf*SIMD.."""
    w = np.asarray(layer.weights)
    out_c, n = w.shape
    nf, sf = out_c // pe, n // simd
    return w.reshape(nf, pe, sf, simd).transpose(1, 0, 2, 3).reshape(pe, nf * sf, simd)


def pack_lanes(values: np.ndarray, bits: int) -> List[int]:
    """(..., L) signed integers (or 0/1 bits when bits == 1) -> Python ints, lane i at bits [bits*i +: bits]."""
    v = np.asarray(values).astype(np.int64)
    flat = v.reshape(-1, v.shape[-1]) & ((1 << bits) - 1)
    out = []
    for row in flat:
        x = 0
        for i, lane in enumerate(row.tolist()):
            x |= int(lane) << (bits * i)
        out.append(x)
    return out


def hls_word_ints(layer, pe: int, simd: int) -> List[int]:
    """The HLS weight ROM words of a fixed-weight layer, PE-major, as Python ints of SIMD*weight_bits bits."""
    return pack_lanes(word_lanes(layer, pe, simd), weight_bits(layer))


def hls_wb_arg(layer) -> str:
    """The extra template argument of bnn_mvtu / bnn_mvu_scores / bnn_mvu_int: '' for binary weights."""
    wb = weight_bits(layer)
    return f", {wb}" if wb > 1 else ""


def weights_text(layer, input_fixed: bool) -> str:
    """Comment text: what the layer's lanes multiply."""
    wb = weight_bits(layer)
    x = "fixed-point q" if input_fixed else "binary"
    return f"{x} x {wb}-bit fixed-point weights" if wb > 1 else f"{x} x binary weights"


def output_text(layer, input_fixed: bool) -> str:
    """Comment text: what a layer without thresholds outputs."""
    if weight_bits(layer) > 1:
        return "sum of w * " + ("q" if input_fixed else "(+-1)")
    return "fixed sum" if input_fixed else "2*popcount - n"


def rtl_weight_row(values: np.ndarray, bits: int) -> int:
    """One RTL weight memory word: (PE*SIMD,) lanes (PE p's SIMD lanes at [p*SIMD*bits +: SIMD*bits])."""
    return pack_lanes(np.asarray(values)[None, :], bits)[0]


def param_words(layer, pe: int, simd: int) -> np.ndarray:
    """Run-time parameter values (NF, PE, SF) of a fixed-weight layer (uint64: SIMD lanes of weight_bits)."""
    wb = weight_bits(layer)
    w = np.asarray(layer.weights).astype(np.int64)
    out_c, n = w.shape
    nf, sf = out_c // pe, n // simd
    lanes = (w.reshape(nf, pe, sf, simd) & ((1 << wb) - 1)).astype(np.uint64)
    return (lanes << (np.arange(simd, dtype=np.uint64) * np.uint64(wb))).sum(axis=-1, dtype=np.uint64)


def has_fixed_weights(net: Network) -> bool:
    return any(weight_bits(l) > 1 for l in net.compute_layers())


def random_fixed(rng: np.random.Generator, net: Network, first: bool = True, last: bool = True,
                 bits: Optional[int] = None) -> Network:
    """Give a (random) network fixed-point weights on its first and/or last compute layer, for tests.

    Weight bits (2..12) and values are random (extreme values included); thresholds that read a
    changed value (the first layer's, and a graph's Threshold layers) are re-drawn from the values
    the golden model sees on random images, so that they split them (both directions)."""
    from .golden import GoldenModel
    from .ir import Thresholds, Threshold

    compute = net.compute_layers()
    chosen = ([compute[0]] if first else []) + ([compute[-1]] if last and (compute[-1] is not compute[0] or not first) else [])
    for layer in chosen:
        wb = int(bits) if bits is not None else int(rng.choice([2, 3, 4, 6, 8, 8, 12]))
        lo, hi = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
        w = rng.integers(lo, hi + 1, size=layer.weights.shape)
        edge = rng.random(w.shape) < 0.1
        w = np.where(edge, rng.choice([lo, hi], size=w.shape), w)
        layer.weights = w.astype(np.int16)
        layer.weight_bits, layer.weight_frac = wb, int(rng.integers(0, wb + 2))
        if layer.thresholds is not None:  # valid for now; re-drawn below
            layer.thresholds = Thresholds(np.zeros(layer.out_channels, np.int64), np.ones(layer.out_channels, np.int8))
    if weight_bits(compute[-1]) > 1 and rng.random() < 0.5:
        compute[-1].score_scale = float(2.0 ** -int(rng.integers(0, 12)) * rng.uniform(0.5, 2.0))
    sp = net.input
    images = rng.integers(0, 256, (16, sp.height, sp.width, sp.channels), dtype=np.uint8)
    redraw = [l for l in net.layers if (l in chosen and l.thresholds is not None)
              or (isinstance(l, Threshold) and first)]
    for layer in redraw:
        gm = GoldenModel(net)
        tr = {t.name: t for t in gm.trace(images)}[layer.name]
        vals = np.asarray(tr.acc).reshape(-1, tr.acc.shape[-1])
        c = vals.shape[1]
        q = rng.uniform(0.2, 0.8, size=c)
        t = np.array([np.quantile(vals[:, i], q[i], method="nearest") for i in range(c)], dtype=np.int64)
        d = np.where(rng.random(c) < 0.3, -1, 1).astype(np.int8)
        layer.thresholds = Thresholds(t, d)
    return net.validate()


# the RTL modules a design with fixed-point weights adds to rtl.backend.STATIC_MODULES
RTL_MODULES = ["bnn_mvtu_fw.sv"]


def rtl_weight_mem(L) -> str:
    """$readmemh text of a fixed-weight layer's weight memory (rtl.backend.LayerRTL), folds named."""
    out = [f"// Layer '{L.name}': {L.kind} {L.in_shape} -> {L.out_shape}, weights {L.out_channels} x {L.fan_in} "
           f"{L.wb}-bit two's complement integers",
           f"// {L.sf * L.nf} words x {L.pe * L.simd * L.wb} bits (PE={L.pe} x SIMD={L.simd} x {L.wb}); word "
           f"nf*{L.sf} + sf holds, for PE p, weights [sf*{L.simd} +: {L.simd}] of output channel nf*{L.pe} + p "
           f"at bits [p*{L.simd * L.wb} +: {L.simd * L.wb}], lane s at [s*{L.wb} +: {L.wb}] within"]
    for i, w in enumerate(L.weight_words):
        if i % L.sf == 0:
            out.append(f"// nf {i // L.sf}: output channels {i // L.sf * L.pe}..{i // L.sf * L.pe + L.pe - 1}")
        out.append(w)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# resource model of bnn_mvtu_fw: a first model, fitted on yosys synth_xilinx -family xc7 runs of
# whole layer modules (benchmarks/bench_fixed_weights.py prints the comparison: LUT within 15 % on 7 of
# its 8 fixed-weight layers, +37 % where a 32 x 256-bit weight ROM dominates; DSP exact)
#
# The parts a fixed-weight MVTU shares with bnn_mvtu (weight / threshold memories, now WB bits
# per lane; input buffer; accumulators; comparators; counters) use the calibrated bnn_mvtu
# coefficients.  Its lanes replace the XNOR-popcount / bit-plane lanes:
#   * fixed input (pixels x weights): one WB x EW signed multiplier per lane, which yosys maps
#     to one DSP48E1 (DSP_PER_MUL_LANE), plus the PE adder trees: LUT_PER_MUL_LANE_AW LUTs per
#     lane and accumulator bit;
#   * binary input (+-1 x weights): a conditional add/subtract per lane, no DSP:
#     LUT_PER_ADDSUB_LANE_AW LUTs per lane and accumulator bit.
# Flip-flops: the bnn_mvtu register groups (resources.mvtu_ff_features; a fixed-point input word
# sits in the DSP registers), within 8.6% of yosys on bench_fixed_weights.py's 16 layers.
LUT_PER_MUL_LANE_AW = 0.47
DSP_PER_MUL_LANE = 1.0
LUT_PER_ADDSUB_LANE_AW = 1.65


def mvtu_fw_estimate(model, p):
    """(Resources, memories) of a bnn_mvtu_fw stage with parameters p (``resources.mvtu_params`` plus WB)."""
    from .resources import Resources, mvtu_features, mvtu_memories, place_rom

    wb = int(p["WB"])
    lanes = p["PE"] * p["SIMD"]
    mems = mvtu_memories(p)
    mems[0] = place_rom("weights", p["SF"] * p["NF"], lanes * wb)  # WB bits per lane
    feats = mvtu_features(p, mems)
    for k in ("lanes_bin", "lanes_fix", "lanes_fix_aw"):
        feats[k] = 0.0
    base = model._estimate("mvtu", feats, mems)
    if p["FIXED"]:
        lane = Resources(lut=LUT_PER_MUL_LANE_AW * lanes * p["AW"], dsp=DSP_PER_MUL_LANE * lanes)
    else:
        lane = Resources(lut=LUT_PER_ADDSUB_LANE_AW * lanes * p["AW"])
    return base + lane, mems
