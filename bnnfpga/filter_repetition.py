"""Filter repetitions in binary convolutions (Hubara et al., "Binarized Neural Networks", supplementary C).

A binary K x K convolution with ``in`` input and ``out`` output channels holds
``out * in`` two-dimensional K x K filters of +-1 values.  There are only
``2**(K*K)`` such filters, and a filter and its negation give the same
XNOR-popcount up to sign (``popcount(xnor(x, -f)) = K*K - popcount(xnor(x, f))``),
so at most ``2**(K*K-1)`` *sign classes* exist (256 for 3 x 3).  All the 2D
filters applied to the same input channel ``c`` see the same input window;
computing each distinct class once per input channel and sharing the result
(sign-flipped where inverted) among the output channels that use it does the
same work with fewer XNOR-popcounts.

Counts, per convolution layer (IR weights, bit 1 = +1, (out, K, K, in) order):

* ``unique[c]``: distinct 2D filters of input channel c up to sign;
* unique ratio = ``sum_c unique[c] / (out * in)`` (the paper reports 42% per
  layer on average for its CIFAR-10 ConvNet);
* XNOR-popcount reduction = ``out * in / sum_c unique[c]`` (the XNOR-popcount
  bit operations of one output pixel go from ``out * in * K*K`` to
  ``sum_c unique[c] * K*K``); sharing then needs ``out * in`` additions of
  small partial sums (K*K+1 values each) per output pixel, which the
  standard datapath folds into one wide popcount: the estimate counts only
  the XNOR-popcount work, as the paper does;
* layer-wide unique: distinct classes over all input channels together;
* the ratio that uniformly random +-1 weights would give, in expectation:
  ``M * (1 - (1 - 1/M)**out) / out`` with ``M = 2**(K*K-1)`` classes.  Wide
  layers repeat filters by counting alone (512 output channels of 3 x 3
  filters: 43% unique at random), so a trained network's ratio means
  something only next to this baseline.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from . import ir


@dataclass
class LayerRepetition:
    name: str
    kernel: int
    in_channels: int
    out_channels: int
    out_pixels: int  # output positions per frame
    input_kind: str
    unique_per_channel: np.ndarray  # (in,) distinct 2D filters up to sign, per input channel
    unique_layer: int  # distinct 2D filters up to sign over the whole layer

    @property
    def filters(self) -> int:
        return self.out_channels * self.in_channels

    @property
    def unique(self) -> int:
        return int(self.unique_per_channel.sum())

    @property
    def unique_ratio(self) -> float:
        return self.unique / max(1, self.filters)

    @property
    def xnor_reduction(self) -> float:
        return self.filters / max(1, self.unique)

    @property
    def ops_standard(self) -> int:
        """XNOR-popcount bit operations per frame, standard datapath."""
        return self.filters * self.kernel ** 2 * self.out_pixels

    @property
    def ops_shared(self) -> int:
        """XNOR-popcount bit operations per frame when unique filters are shared."""
        return self.unique * self.kernel ** 2 * self.out_pixels

    @property
    def random_ratio(self) -> float:
        return expected_random_ratio(self.kernel, self.out_channels)


def expected_random_ratio(kernel: int, out_channels: int) -> float:
    """Expected unique ratio per input channel for uniformly random +-1 filters."""
    m = 2.0 ** (kernel * kernel - 1)
    n = out_channels
    return float(m * -np.expm1(n * np.log1p(-1.0 / m)) / n) if n else 0.0


def filters_2d(layer: ir.Conv2D) -> np.ndarray:
    """The layer's 2D filters as bits (out, in, K*K) in (ky, kx) order."""
    k, cin, cout = layer.kernel, layer.in_channels, layer.out_channels
    w = np.asarray(layer.weights, dtype=np.uint8).reshape(cout, k, k, cin)
    return np.ascontiguousarray(w.transpose(0, 3, 1, 2).reshape(cout, cin, k * k))


def canonical(f: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Sign-canonical form of 2D filters (..., K*K): (filters with first bit 0, flip flags).

    ``flip`` is 1 where the filter is the negation of its canonical form.
    """
    flip = f[..., :1]
    return f ^ flip, flip[..., 0].astype(np.uint8)


def _codes(c: np.ndarray) -> np.ndarray:
    """Canonical filters (..., K*K) -> one comparable key per filter."""
    n = c.shape[-1]
    if n <= 63:
        return (c.astype(np.uint64) << np.arange(n, dtype=np.uint64)).sum(-1, dtype=np.uint64)
    packed = np.packbits(c, axis=-1)  # wide kernels: compare the packed bytes
    return packed.view(np.dtype((np.void, packed.shape[-1])))[..., 0]


def share_map(layer: ir.Conv2D):
    """Per input channel: the unique 2D filters, and per (out, in) which one and whether sign-flipped.

    Returns ``(unique, index, flip)``: ``unique[c]`` is a (u_c, K*K) uint8 bit
    array of canonical filters (first bit 0) in ascending code order,
    ``index`` (out, in) int32 points into it and ``flip`` (out, in) uint8 is 1
    where the output channel uses the negated filter.  So the popcount of
    output o on channel c is ``p`` or ``K*K - p`` with
    ``p = popcount(xnor(window_c, unique[c][index[o, c]]))``.
    """
    f = filters_2d(layer)
    canon, flip = canonical(f)
    codes = _codes(canon)
    index = np.zeros(codes.shape, np.int32)
    unique = []
    for c in range(layer.in_channels):
        _, first, inv = np.unique(codes[:, c], return_index=True, return_inverse=True)
        unique.append(canon[first, c])
        index[:, c] = inv.reshape(-1)
    return unique, index, flip


def _unique_counts(layer: ir.Conv2D) -> Tuple[np.ndarray, int]:
    canon, _ = canonical(filters_2d(layer))
    codes = _codes(canon)  # (out, in)
    s = np.sort(codes, axis=0)
    per_channel = 1 + (s[1:] != s[:-1]).sum(axis=0) if len(s) else np.zeros(codes.shape[1], np.int64)
    return per_channel.astype(np.int64), int(len(np.unique(codes.reshape(-1))))


def analyze_layer(layer: ir.Conv2D, out_pixels: int = 1) -> LayerRepetition:
    per_channel, layer_wide = _unique_counts(layer)
    return LayerRepetition(layer.name, layer.kernel, layer.in_channels, layer.out_channels, int(out_pixels),
                           layer.input_kind, per_channel, layer_wide)


def analyze(net: ir.Network, include_fixed: bool = False) -> List[LayerRepetition]:
    """Every binary K x K convolution (K > 1) of ``net``; ``include_fixed`` adds the pixel-input convolution."""
    out = []
    for layer, (_, oshape) in zip(net.layers, net.shapes()):
        if not isinstance(layer, ir.Conv2D) or layer.kernel < 2:
            continue
        if layer.input_kind != "binary" and not include_fixed:
            continue
        if ir.weight_bits(layer) > 1:  # fixed-point weights: no sign-symmetric binary filters to share
            continue
        out.append(analyze_layer(layer, oshape[0] * oshape[1]))
    return out


def summary(stats: List[LayerRepetition]) -> dict:
    filters = sum(s.filters for s in stats)
    unique = sum(s.unique for s in stats)
    ops_std = sum(s.ops_standard for s in stats)
    ops_sh = sum(s.ops_shared for s in stats)
    return {"layers": len(stats), "filters": filters, "unique": unique,
            "mean_unique_ratio": float(np.mean([s.unique_ratio for s in stats])) if stats else 0.0,
            "overall_unique_ratio": unique / max(1, filters),
            "mean_random_ratio": float(np.mean([s.random_ratio for s in stats])) if stats else 0.0,
            "ops_standard": ops_std, "ops_shared": ops_sh, "xnor_reduction": ops_std / max(1, ops_sh)}


def repetition_table(net: ir.Network, include_fixed: bool = False, paper: Optional[float] = 0.42) -> str:
    """A text table: unique 2D filters (up to sign) per binary convolution and the XNOR-popcount saving."""
    stats = analyze(net, include_fixed)
    if not stats:
        return f"{net.name}: no binary K x K convolution (K > 1): nothing to share"
    head = ("layer", "K", "in", "out", "2D filters", "unique", "unique %", "random %", "layer-wide",
            "XNOR-pc reduction", "Mops/frame std -> shared")
    rows = []
    for s in stats:
        name = s.name + (" (pixels)" if s.input_kind != "binary" else "")
        rows.append((name, str(s.kernel), str(s.in_channels), str(s.out_channels), str(s.filters), str(s.unique),
                     f"{100 * s.unique_ratio:.1f}", f"{100 * s.random_ratio:.1f}",
                     f"{s.unique_layer}/{2 ** (s.kernel ** 2 - 1)}", f"{s.xnor_reduction:.2f}x",
                     f"{s.ops_standard / 1e6:.2f} -> {s.ops_shared / 1e6:.2f}"))
    sm = summary(stats)
    rows.append(("all", "", "", "", str(sm["filters"]), str(sm["unique"]), f"{100 * sm['overall_unique_ratio']:.1f}",
                 "", "", f"{sm['xnor_reduction']:.2f}x", f"{sm['ops_standard'] / 1e6:.2f} -> {sm['ops_shared'] / 1e6:.2f}"))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = lambda r: "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
    lines = [f"{net.name}: unique 2D filters per input channel, up to sign (Hubara et al. supp. C)",
             fmt(head), fmt(tuple("-" * w for w in widths))] + [fmt(r) for r in rows]
    lines.append(f"mean unique ratio per layer {100 * sm['mean_unique_ratio']:.1f}%"
                 + (f" (paper: {100 * paper:.0f}% on its CIFAR-10 ConvNet)" if paper else "")
                 + f"; uniformly random weights of these shapes: {100 * sm['mean_random_ratio']:.1f}%")
    return "\n".join(lines)
