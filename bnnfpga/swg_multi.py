"""Multi-position sliding-window generator (issue 10): P kernel positions per word.

A convolution of a chain network whose SIMD is a multiple of its input channels,
``SIMD = P * C_in`` with P > 1 (P then divides K*K, because SIMD divides the
window K*K*C_in), reads its window in words of P whole kernel positions: word j
of a window holds positions ``j*P .. j*P + P - 1`` of the (ky, kx) raster order,
channels innermost, which is exactly the MVTU's input order over (ky, kx, c)
(``bnnfpga.ir``: weights are (out, K, K, in) flattened).  The window generator
emits such words itself, one per cycle, so no width converter follows it and

    window stage = max(H*W, OH*OW*K*K/P) cycles per frame

(one input pixel of C_in lanes written per cycle, one P-position word read per
cycle, concurrently).  Before, the generator emitted one position (C_in lanes)
per cycle and a converter packed P of them: OH*OW*K*K cycles.

Line-buffer banking (RTL ``rtl_templates/bnn_swg_multi.sv``): the P positions of
a word are consecutive in (ky, kx) order, so

* the positions of one kernel row in a word are at most min(P, K) consecutive
  input columns: distinct modulo any NBC >= min(P, K);
* a word touches at most ``rows_touched(K, P)`` consecutive kernel rows, i.e.
  consecutive ring slots of the line buffer: distinct modulo any NBR >= that.

The buffer (R rows of W pixels, a ring) is split into NBR x NBC banks, bank
``(slot mod NBR, x mod NBC)`` holding ``(R/NBR) * ceil(W/NBC)`` pixels; NBR and
NBC are powers of two (so the bank index and the address are bit fields), NBR
divides R.  The P reads of a word then hit P distinct banks, each a simple
dual-port memory with one write port (the writer, one pixel per cycle) and one
read port: P reads per cycle map to real block/LUT RAMs, no multi-port memory.
Each lane picks its bank's read data through an NB:1 multiplexer (NB = NBR*NBC).
The HLS version (``hls_templates/bnn_swg_multi.h``) keeps K row arrays
(partitioned completely) whose columns are partitioned cyclically by NBC.

Nothing changes for SIMD <= C_in or SIMD not a multiple of C_in (``swg_lanes``,
the converter path), nor for graph networks (SIMD | C_in there) or the shared
filter datapath.
"""
from __future__ import annotations

import math
from typing import Dict

from .ir import Conv2D

RTL_MODULE = "bnn_swg_multi.sv"
HLS_HEADER = "bnn_swg_multi.h"


def positions(layer, fold) -> int:
    """P: kernel positions per window-generator word; 1 = the single-position generator."""
    if not isinstance(layer, Conv2D) or getattr(fold, "share", False):
        return 1
    c, simd, kk = int(layer.in_channels), int(fold.simd), int(layer.kernel) ** 2
    if simd <= c or simd % c or kk % (simd // c):
        return 1
    return simd // c


def uses(net, folding) -> bool:
    """Whether any layer of a chain network gets the multi-position generator."""
    if net.is_graph:
        return False
    return any(positions(l, folding[l.name]) > 1 for l in net.compute_layers())


def rows_touched(k: int, p: int) -> int:
    """Most kernel rows one word of P positions (P | K*K) spans."""
    return max((j * p + p - 1) // k - (j * p) // k + 1 for j in range(k * k // p))


def _pow2(n: int) -> int:
    r = 1
    while r < n:
        r *= 2
    return r


def banks(k: int, p: int) -> tuple:
    """(NBR, NBC): row and column banks of the line buffer (module docstring)."""
    return _pow2(rows_touched(k, p)), _pow2(min(p, k))


def rtl_params(h: int, w: int, c: int, ew: int, k: int, pad: int, s: int, p: int) -> Dict[str, int]:
    """Parameters of bnn_swg_multi for an H x W x C map of EW-bit values."""
    from .strided import swg_rows

    nbr, nbc = banks(k, p)
    r = swg_rows(k, s)
    assert r % nbr == 0, (r, nbr)
    return {"H": h, "W": w, "PW": c * ew, "K": k, "PAD": pad, "S": s, "P": p, "R": r, "NBR": nbr, "NBC": nbc}


def window_cycles(h: int, w: int, oh: int, ow: int, k: int, p: int) -> int:
    """Cycles per frame of the RTL generator: H*W pixels written, OH*OW*K*K/P words read, concurrently."""
    return max(h * w, oh * ow * k * k // p)


# ---------------------------------------------------------------- resource estimate (first principles)
def memories(p: Dict[str, int]):
    """The NBR*NBC line-buffer banks (synchronous read), placed like any RAM of the resource model."""
    from .resources import place_ram

    nb = p["NBR"] * p["NBC"]
    dep = (p["R"] // p["NBR"]) * -(-p["W"] // p["NBC"])
    return [place_ram(f"line buffer bank {b}", dep, p["PW"], sync_read=True) for b in range(nb)]


def estimate(p: Dict[str, int]) -> tuple:
    """(LUT, FF, memories) of bnn_swg_multi: the NB = NBR*NBC banks placed like any RAM of the
    resource model, plus, per lane (P of them), two terms whose coefficients were fitted on four
    yosys 0.23 synth_xilinx points (within 10%; ``tests/test_swg_multi.py`` SWG_MULTI_YOSYS):

    * the bank-select and address OR: every bank's read address is an OR over the lanes of
      (lane reads this bank) & (lane's address), about 1.8 LUT per bank per address bit per lane;
    * the lane's NB:1 read multiplexer of PW bits, about 1.05 LUT per 4 banks per bit;

    and the counters and flow control of bnn_swg_stride (about 120 LUT, 70 FF).
    """
    nb = p["NBR"] * p["NBC"]
    dep = (p["R"] // p["NBR"]) * -(-p["W"] // p["NBC"])
    ab = max(1, math.ceil(math.log2(max(2, dep))))
    mems = memories(p)
    lanes = p["P"]
    lut = 120 + lanes * (1.8 * nb * ab + 1.05 * p["PW"] * -(-nb // 4)) + sum(m.luts for m in mems)
    ff = 70 + nb * p["PW"] + lanes * (math.ceil(math.log2(max(2, nb))) + 1) + sum(m.ffs for m in mems)
    return float(lut), float(ff), mems


# ---------------------------------------------------------------- backend hooks
def rtl_stage(stage, layer, ishape, ew: int, p: int):
    """The RTL plan's window stage (``bnnfpga.rtl.backend.Stage``) turned into a bnn_swg_multi stage."""
    import dataclasses

    h, w, c = ishape
    prm = rtl_params(h, w, c, ew, layer.kernel, layer.pad, layer.stride, p)
    return dataclasses.replace(stage, module="bnn_swg_multi", params=list(prm.items()), in_w=c * ew,
                               out_w=p * c * ew, comment=stage.comment + f", {p} kernel positions per word "
                               f"({prm['NBR']}x{prm['NBC']} line-buffer banks)")


def hls_stage(stage, layer, ishape, src: str, dst: str, qb: int, p: int):
    """The HLS plan's window stage (``bnnfpga.hls.backend.Stage``) turned into a bnn_swg_multi call."""
    import dataclasses

    h, w, c = ishape
    k, s, pad = layer.kernel, layer.stride, layer.pad
    oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
    pw = c * qb
    nbc = min(p, k)
    cyc = h * w + oh * ow * k * k // p  # the HLS loop reads rows, then emits words (not concurrently)
    return dataclasses.replace(
        stage, call=f"bnn_swg_multi<{k}, {s}, {h}, {w}, {p}, {pad}, {pw}, {nbc}>({src}, {dst}, frames)",
        out_type=f"ap_uint<{p * pw}>", cycles=cyc, simd=str(p * c),
        comments=[f"{h}x{w}x{c} -> {oh}x{ow} windows of {k}x{k}x{c} in (ky, kx, c) order, {k * k // p} word(s) of "
                  f"{p} kernel positions x {c} channels = {p * c} lanes (bnn_swg_multi.h)",
                  f"pad {pad} ({'q = 0' if qb > 1 else 'bit 0 = -1'}); line buffer of {k} rows, columns in {nbc} "
                  f"cyclic banks; {cyc} cycles"])
