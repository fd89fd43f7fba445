"""The shared-filter datapath of a binary convolution (filter repetitions, Hubara et al. supp. C).

Opt-in per layer with ``LayerFold(pe, simd, share=True)`` (``"share": true`` in
the folding JSON).  For a binary K x K convolution (K > 1), the 2D filters of
input channel c, ``w[o, :, :, c]``, group into ``U_c`` sign classes
(:func:`bnnfpga.filter_repetition.share_map`).  Per output pixel and input
channel, the unit computes ``p_u = popcount(xnor(window_c, u))`` once for every
class u of the channel; output channel o then adds ``p_u`` when it uses u and
``K*K - p_u`` when it uses u's complement.  The sum over the channels is the
standard ``popcount(xnor(window, w[o]))`` exactly, so thresholds and scores are
unchanged.

Hardware folding (RTL ``bnn_mvtu_shared`` and HLS ``bnn_mvtu_shared``):

* the window arrives as usual, K*K*C_in/SIMD words of SIMD channels in (ky, kx, c)
  order; a gather stage regroups it into CG = C_in/SIMD *channel-group words*
  of K*K*SIMD bits (bit ``pos*SIMD + s`` = position pos of channel g*SIMD + s),
  taking K*K*CG cycles per window;
* the compute stage takes one (neuron fold nf, channel group g) step per cycle:
  for the SIMD channels of group g it computes all U class popcounts (U = the
  largest U_c of the layer; the pattern ROM holds the classes, word g), then
  every one of the PE output channels selects one popcount per channel
  (selection ROM word nf*CG + g: an index and a complement flag per PE x SIMD)
  and adds them: CG*NF cycles per window.
* a complemented class adds ``K*K - p = ~p - D`` with ``~p`` the PCW-bit ones'
  complement (PCW = bits of K*K, ``D = 2**PCW - 1 - K*K``): the hardware adds
  ``p XOR flip`` (no subtractor per lane) and the constant ``D * nflip[o]``
  (nflip = the output's complemented filters) moves into its threshold:
  ``raw >= t + D*nflip`` is ``acc >= t`` (:meth:`ShareTables.adjusted_thresholds`).

So a window takes ``CG * max(K*K, NF)`` cycles (the two stages overlap); the
standard MVTU with the same PE and SIMD takes ``K*K * CG * NF``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np

from . import ir


def _folding_error(msg: str):
    from .folding import FoldingError

    return FoldingError(msg)


def check_share(net: ir.Network, layer, fold) -> None:
    """Raise FoldingError when ``share`` is set on a layer the shared datapath cannot run."""
    if not isinstance(fold.share, bool):
        raise _folding_error(f"layer '{layer.name}': share must be true or false, got {fold.share!r}")
    if net.is_graph:
        raise _folding_error(f"layer '{layer.name}': the shared-filter datapath (share) supports chain networks only")
    if not isinstance(layer, ir.Conv2D) or layer.kernel < 2 or layer.input_kind != "binary":
        raise _folding_error(f"layer '{layer.name}': share applies to binary-input K x K convolutions (K > 1) only")
    if getattr(layer, "stride", 1) != 1:
        raise _folding_error(f"layer '{layer.name}': share supports stride 1 only")
    if layer.in_channels % fold.simd:
        raise _folding_error(f"layer '{layer.name}': share needs SIMD to divide the {layer.in_channels} input channels "
                             f"(SIMD={fold.simd} runs across kernel positions)")
    if getattr(fold, "lut_pe", 0):
        raise _folding_error(f"layer '{layer.name}': share and lut_pe cannot be combined (the shared datapath has "
                             "its own pattern tables)")


def shared_window_cycles(layer, fold) -> int:
    """Cycles per output pixel of the shared datapath: CG * max(K*K, NF)."""
    cg = layer.in_channels // fold.simd
    return cg * max(layer.kernel ** 2, layer.out_channels // fold.pe)


@dataclass
class ShareTables:
    """The constant tables of one shared layer, in hardware order."""

    k2: int  # K*K
    simd: int  # input channels per channel-group word
    pe: int
    cg: int  # channel groups C_in / SIMD
    nf: int  # neuron folds C_out / PE
    u: int  # pattern slots per channel (the largest class count U_c)
    unique_per_channel: np.ndarray  # (C_in,) U_c
    patterns: np.ndarray  # (CG, SIMD, U, K2) bits; slot u >= U_c of a channel is 0 (unused)
    index: np.ndarray  # (NF, CG, PE, SIMD) pattern slot of output nf*PE+p on channel g*SIMD+s
    flip: np.ndarray  # (NF, CG, PE, SIMD) 1: the output uses the complement

    @property
    def ub(self) -> int:
        """Bits of a slot index (at least 1)."""
        return max(1, int(self.u - 1).bit_length())

    @property
    def pcw(self) -> int:
        """Bits of a K*K-bit popcount."""
        return int(self.k2).bit_length()

    @property
    def pattern_word_bits(self) -> int:
        return self.simd * self.u * self.k2

    @property
    def select_word_bits(self) -> int:
        return self.pe * self.simd * (self.ub + 1)

    @property
    def d(self) -> int:
        """The ones' complement offset: K2 - p = (p XOR all-ones) - D."""
        return (1 << self.pcw) - 1 - self.k2

    @property
    def raw_max(self) -> int:
        """The largest raw accumulator (every term the all-ones PCW-bit value)."""
        return self.cg * self.simd * ((1 << self.pcw) - 1)

    def nflip(self) -> np.ndarray:
        """(C_out,) complemented 2D filters per output channel."""
        return self.flip.sum(axis=(1, 3)).reshape(-1).astype(np.int64)

    def adjusted_thresholds(self, t: np.ndarray) -> np.ndarray:
        """Thresholds on the raw accumulator (``raw = acc + D*nflip``), clipped to [-1, raw_max + 1]."""
        return np.clip(np.asarray(t, np.int64) + self.d * self.nflip(), -1, self.raw_max + 1)

    def pattern_words(self) -> List[int]:
        """CG ints: slot (s, u) at bits [(s*U + u)*K2 +: K2], position pos at bit pos of the slot."""
        out = []
        for g in range(self.cg):
            v = 0
            for s in range(self.simd):
                for u in range(self.u):
                    bits = self.patterns[g, s, u]
                    code = int(sum(int(b) << i for i, b in enumerate(bits)))
                    v |= code << ((s * self.u + u) * self.k2)
            out.append(v)
        return out

    def select_words(self) -> List[int]:
        """NF*CG ints (word nf*CG + g): lane (p, s) at bits [(p*SIMD + s)*(UB+1) +: UB+1] = {flip, index}."""
        out, ub = [], self.ub
        for n in range(self.nf):
            for g in range(self.cg):
                v = 0
                for p in range(self.pe):
                    for s in range(self.simd):
                        e = int(self.index[n, g, p, s]) | (int(self.flip[n, g, p, s]) << ub)
                        v |= e << ((p * self.simd + s) * (ub + 1))
                out.append(v)
        return out


def tables(layer: ir.Conv2D, pe: int, simd: int) -> ShareTables:
    """The pattern and selection tables of ``layer`` folded by (PE, SIMD)."""
    from .filter_repetition import share_map

    unique, index, flip = share_map(layer)
    k2, cin, cout = layer.kernel ** 2, layer.in_channels, layer.out_channels
    counts = np.array([len(u) for u in unique], np.int64)
    u = int(counts.max()) if len(counts) else 1
    cg, nf = cin // simd, cout // pe
    pats = np.zeros((cin, u, k2), np.uint8)
    for c in range(cin):
        pats[c, :counts[c]] = unique[c]
    return ShareTables(k2, simd, pe, cg, nf, u, counts, pats.reshape(cg, simd, u, k2),
                       index.reshape(nf, pe, cg, simd).transpose(0, 2, 1, 3).copy(),
                       flip.reshape(nf, pe, cg, simd).transpose(0, 2, 1, 3).copy())


def shared_popcounts(t: ShareTables, windows: np.ndarray) -> np.ndarray:
    """The shared datapath in numpy: windows (N, K*K*C_in) bits in (ky, kx, c) order -> (N, C_out) popcounts.

    Follows the hardware: class popcounts per channel, then per output a
    selection (complemented where flipped) summed over the channels."""
    return shared_raw(t, windows) - t.d * t.nflip()


def shared_raw(t: ShareTables, windows: np.ndarray) -> np.ndarray:
    """The raw accumulators of the hardware (N, C_out): sum of ``p XOR flip`` (PCW bits)."""
    n = len(windows)
    x = np.asarray(windows, np.uint8).reshape(n, t.k2, t.cg, t.simd).transpose(0, 2, 3, 1)  # (N, CG, SIMD, K2)
    pc = (x[:, :, :, None, :] == t.patterns[None]).sum(-1)  # xnor-popcount (N, CG, SIMD, U)
    ones = (1 << t.pcw) - 1
    acc = np.zeros((n, t.nf, t.pe), np.int64)
    for g in range(t.cg):
        for s in range(t.simd):
            v = pc[:, g, s][:, t.index[:, g, :, s]]  # (N, NF, PE)
            acc += np.where(t.flip[:, g, :, s][None] == 1, v ^ ones, v)
    return acc.reshape(n, t.nf * t.pe)
