"""The golden model: a bit-exact numpy executor of the IR.

Binary layers run on packed 64-bit words: ``acc = popcount(xnor(x, w))``,
computed as ``n - popcount(x ^ w)`` on zero-padded words (the padding bits are
0 in both operands, so they never differ).  The first layer multiplies the
signed fixed-point pixels q by +-1 weights; its integer sum is formed exactly
with a float64 matrix product (all values are integers far below 2**53).

Every backend (C simulation, RTL simulation, the board) must reproduce
:func:`run` exactly; :func:`trace` also returns each layer's accumulators.

Fixed-point weights (``weight_bits > 1``, first and last layers): the integer
weights multiply the pixels q or the +-1 inputs, exactly, in float64 too;
the layer's output is that sum itself (never ``2 * popcount - n``).

Graph networks (``Network.is_graph``: Add, Concat, Threshold, ``inputs``) run
layer by layer in list order, each layer reading the outputs it names; integer
streams are int64 (their ranges, ``ir.value_ranges``, are checked by the tests).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .ir import Add, Concat, Conv2D, Dense, MaxPool2D, Network, Threshold, graph_shapes, weight_bits

try:  # numpy >= 2.0
    _bitcount = np.bitwise_count
except AttributeError:  # numpy < 2 (pynq pins it): byte lookup table
    _POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def _bitcount(a):
        b = np.ascontiguousarray(a).view(np.uint8).reshape(a.shape + (8,))
        return _POP8[b].sum(axis=-1, dtype=np.uint8)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(..., n) 0/1 -> (..., ceil(n/64)) uint64, bit i of the row at word i//64, bit i%64."""
    bits = np.asarray(bits, dtype=np.uint8)
    n = bits.shape[-1]
    words = -(-n // 64)
    pad = words * 64 - n
    if pad:
        bits = np.concatenate([bits, np.zeros(bits.shape[:-1] + (pad,), np.uint8)], axis=-1)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").reshape(bits.shape[:-1] + (words,))


def xnor_popcount(x_packed: np.ndarray, w_packed: np.ndarray, n: int, chunk_bytes: int = 1 << 24) -> np.ndarray:
    """x (M, W) uint64, w (O, W) uint64 -> popcount(xnor) (M, O) int32 over n real bits."""
    m, words = x_packed.shape
    o = w_packed.shape[0]
    out = np.empty((m, o), dtype=np.int32)
    step = max(1, chunk_bytes // max(1, o * words * 8))
    for s in range(0, m, step):
        x = x_packed[s : s + step]
        diff = _bitcount(x[:, None, :] ^ w_packed[None, :, :]).sum(axis=-1, dtype=np.int32)
        out[s : s + step] = n - diff
    return out


def im2col(fmap: np.ndarray, k: int, pad: int, pad_value, stride: int = 1) -> np.ndarray:
    """(N, H, W, C) -> (N, Ho, Wo, K*K*C) windows in (ky, kx, c) order (every stride-th window)."""
    if pad:
        fmap = np.pad(fmap, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=pad_value)
    win = np.lib.stride_tricks.sliding_window_view(fmap, (k, k), axis=(1, 2))  # N,Ho,Wo,C,ky,kx
    if stride != 1:
        win = win[:, ::stride, ::stride]
    n, ho, wo, c = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(n, ho, wo, k * k * c)


def maxpool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """Binary max-pool (OR) of (N, H, W, C) bits: k x k windows every s pixels, no padding."""
    nb, h, w, c = x.shape
    if k == s and h % k == 0 and w % k == 0:
        return x.reshape(nb, h // k, k, w // k, k, c).max(axis=(2, 4))
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]  # N,Ho,Wo,C,ky,kx
    return win.max(axis=(4, 5))


@dataclass
class LayerTrace:
    name: str
    acc: Optional[np.ndarray]  # integer accumulators (popcount or fixed sum), None for max-pool
    out: np.ndarray  # bits (hidden), or int32 scores (last layer)


class GoldenModel:
    """Packs the weights once; runs batches of raw uint8 images."""

    def __init__(self, net: Network):
        net.validate()
        self.net = net
        self._graph = graph_shapes(net) if net.is_graph else None
        self._w = {}
        for layer in net.compute_layers():
            if weight_bits(layer) > 1:  # signed integer weights: an exact float64 product
                self._w[layer.name] = layer.weights.astype(np.float64).T.copy()
            elif layer.input_kind == "fixed":
                self._w[layer.name] = (2.0 * layer.weights.astype(np.float64) - 1.0).T.copy()
            else:
                self._w[layer.name] = pack_bits(layer.weights)

    def _accumulate(self, layer, x: np.ndarray) -> np.ndarray:
        """x: (M, n) int (fixed) or 0/1 bits -> acc (M, out) int."""
        w = self._w[layer.name]
        if weight_bits(layer) > 1 and layer.input_kind != "fixed":  # bits -> +-1 times integer weights
            return np.rint((2.0 * x.astype(np.float64) - 1.0) @ w).astype(np.int64)
        if layer.input_kind == "fixed":
            return np.rint(x.astype(np.float64) @ w).astype(np.int64)
        return xnor_popcount(pack_bits(x), w, layer.fan_in)

    def _compute(self, layer, x: np.ndarray) -> LayerTrace:
        """One dense/conv layer on its input x (image q, or bits)."""
        n_img = x.shape[0]
        if isinstance(layer, Conv2D):
            cols = im2col(x, layer.kernel, layer.pad, 0, layer.stride)
            shp = cols.shape[:3]
            acc = self._accumulate(layer, cols.reshape(-1, cols.shape[-1])).reshape(shp + (layer.out_channels,))
        else:
            acc = self._accumulate(layer, x.reshape(n_img, -1))
        if layer.thresholds is not None:
            out = layer.thresholds.apply(acc)
        elif layer.input_kind == "fixed" or weight_bits(layer) > 1:
            out = acc.astype(np.int64)
        else:
            out = 2 * acc.astype(np.int64) - layer.fan_in
        return LayerTrace(layer.name, acc, out)

    def _trace_graph(self, images: np.ndarray) -> List[LayerTrace]:
        net = self.net
        g = self._graph
        vals = {"@image": net.input.quantize(images)}
        left = {k: len(v) for k, v in g.consumers.items()}  # free a stream after its last reader
        traces: List[LayerTrace] = []
        for layer in net.layers:
            ins = [vals[n] for n in g.inputs[layer.name]]
            x = ins[0]
            if isinstance(layer, (Dense, Conv2D)):
                t = self._compute(layer, x)
                if layer is net.layers[-1]:
                    t.out = t.out.astype(np.int32)
            elif isinstance(layer, MaxPool2D):
                t = LayerTrace(layer.name, None, maxpool(x, layer.kernel, layer.stride))
            elif isinstance(layer, Add):
                a, b = (v.astype(np.int64) for v in ins)
                s0, s1 = (int(v) for v in layer.shifts)
                t = LayerTrace(layer.name, None, (a << s0) + (b << s1))
            elif isinstance(layer, Concat):
                t = LayerTrace(layer.name, None, np.concatenate(ins, axis=-1))
            elif isinstance(layer, Threshold):
                t = LayerTrace(layer.name, x, layer.thresholds.apply(x))
            else:  # validate() refuses other types
                raise TypeError(type(layer).__name__)
            traces.append(t)
            vals[layer.name] = t.out
            for n in g.inputs[layer.name]:
                left[n] -= 1
                if left[n] == 0:
                    del vals[n]
        return traces

    def trace(self, images: np.ndarray) -> List[LayerTrace]:
        net = self.net
        if self._graph is not None:
            return self._trace_graph(images)
        x = net.input.values(images)  # (N, H, W, C) int32 q, or bits when the input is binarized
        traces: List[LayerTrace] = []
        for layer in net.layers:
            if isinstance(layer, MaxPool2D):
                x = maxpool(x, layer.kernel, layer.stride)
                traces.append(LayerTrace(layer.name, None, x))
                continue
            t = self._compute(layer, x)
            if layer.thresholds is None:  # the chain's last layer: int32 scores
                t.out = t.out.astype(np.int32)
            traces.append(t)
            x = t.out
        return traces

    def run(self, images: np.ndarray, batch: int = 256, progress: bool = False) -> np.ndarray:
        """Raw uint8 images -> int32 scores (N, classes)."""
        images = np.asarray(images)
        self.net.input.quantize(images[:1])  # validate shape / dtype up front
        outs = []
        rng = range(0, len(images), batch)
        if progress:
            from tqdm import tqdm

            rng = tqdm(rng, desc="golden model", unit="batch")
        for s in rng:
            outs.append(self.trace(images[s : s + batch])[-1].out)
        if not outs:
            return np.zeros((0, self.net.num_classes), np.int32)
        return np.concatenate(outs).astype(np.int32)


    def logits(self, images: np.ndarray, **kw) -> np.ndarray:
        """Real-valued logits: the integer scores times the last layer's ``score_scale`` (float64;
        the scores themselves when no scale is recorded).  Same argmax as :meth:`run`."""
        scale = getattr(self.net.layers[-1], "score_scale", None)
        return self.run(images, **kw).astype(np.float64) * (1.0 if scale is None else float(scale))


def run(net: Network, images: np.ndarray, **kw) -> np.ndarray:
    return GoldenModel(net).run(images, **kw)


def label_select(scores: np.ndarray, k: int = 1) -> np.ndarray:
    """Top-k class indices (N, k): score descending, ties to the lowest index."""
    scores = np.asarray(scores)
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape), -scores.astype(np.int64)), axis=-1)
    return order[:, :k].astype(np.int32)


def predict_labels(scores: np.ndarray) -> np.ndarray:
    return label_select(scores, 1)[:, 0]
