"""Packed test vectors of the accelerator's streams (docs/interface.md).

Input: a frame is the raw uint8 image in (H, W, C) order, byte i at bits
[8*(i%8)+7 : 8*(i%8)] of 64-bit beat i/8, the last beat zero-padded.
Output: per frame the int32 scores, then the top-k labels, one 32-bit word each.
Run-time parameters: do_init writes (target_layer, target_mem, target_index, value).
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ..folding import LayerFold
from ..ir import Network, weight_bits


def pack_input_beats(net: Network, images: np.ndarray) -> np.ndarray:
    """Raw uint8 images (N,H,W[,C]) -> uint64 beats (N * ceil(H*W*C/8),), little-endian."""
    x = np.asarray(images)
    net.input.quantize(x[:1])  # shape / dtype check (IRError)
    n = x.shape[0]
    flat = x.reshape(n, -1).astype(np.uint8)
    pad = (-flat.shape[1]) % 8
    if pad:
        flat = np.concatenate([flat, np.zeros((n, pad), np.uint8)], axis=1)
    return np.ascontiguousarray(flat).view("<u8").reshape(-1)


def expected_words(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, classes) int32 scores + (N, k) labels -> uint32 words (N * (classes + k),)."""
    s = np.asarray(scores, dtype=np.int32)
    l = np.asarray(labels, dtype=np.int32)
    return np.concatenate([s, l], axis=1).astype("<i4").view("<u4").reshape(-1)


def split_output_words(words: np.ndarray, classes: int, top_k: int) -> Tuple[np.ndarray, np.ndarray]:
    """uint32 words -> (int32 scores (N, classes), int32 labels (N, k))."""
    w = np.asarray(words, dtype="<u4").view("<i4").reshape(-1, classes + top_k)
    return w[:, :classes].copy(), w[:, classes:].copy()


def param_init_words(net: Network, folding: Dict[str, LayerFold]) -> np.ndarray:
    """All do_init writes that load ``net``'s weights and thresholds into a runtime_params build
    of the same shape and folding: uint32 (writes, 5) rows (layer, mem, index, value_lo, value_hi)."""
    rows = []
    for li, layer in enumerate(net.compute_layers()):
        f = folding[layer.name]
        pe, simd = f.pe, f.simd
        wb = weight_bits(layer)
        if simd * wb > 64:
            raise ValueError(f"layer '{layer.name}': SIMD={simd} x {wb} weight bits > 64 is not loadable at run time")
        w = np.asarray(layer.weights, dtype=np.uint64) if wb == 1 else np.asarray(layer.weights)
        c_out, n = w.shape
        nf, sf = c_out // pe, n // simd
        if wb > 1:  # SIMD lanes of wb-bit two's complement weights
            from ..fixed_weights import param_words

            vals = param_words(layer, pe, simd)
        else:
            vals = (w.reshape(nf, pe, sf, simd) << np.arange(simd, dtype=np.uint64)).sum(axis=-1, dtype=np.uint64)
        # index = ((c / PE) * SF + j / SIMD) * PE + c % PE, with c = nf*PE + pe
        nf_i, pe_i, sf_i = np.meshgrid(np.arange(nf), np.arange(pe), np.arange(sf), indexing="ij")
        idx = (nf_i * sf + sf_i) * pe + pe_i
        for i, v in zip(idx.reshape(-1), vals.reshape(-1)):
            v = int(v)
            rows.append((li, 0, int(i), v & 0xFFFFFFFF, v >> 32))
        th = layer.thresholds
        if th is not None:
            for c in range(c_out):
                t = int(th.t[c]) & 0xFFFFFFFF
                rows.append((li, 1, c, t, 1 if int(th.direction[c]) < 0 else 0))
    return np.asarray(rows, dtype=np.uint32).reshape(-1, 5)
