"""Off-chip (DRAM) weights: the weight image a DMA streams to a layer, and its traffic.

A compute layer whose folding says ``weights="dram"`` (:class:`bnnfpga.folding.LayerFold`)
has no weight ROM: its weights stream in on an AXI4-Stream port, one weight word per
beat, in the order the MVTU consumes them (word ``nf * SF + sf``; PE p's SIMD bits at
``[p*SIMD +: SIMD]``, the same words as the on-chip ROM), and each word is applied to a
batch of up to ``batch`` frames.  A beat is the weight word rounded up to whole bytes
(zero padding above); the DRAM buffer holds the beats back to back, little-endian.
Per run of N frames the DMA streams the buffer ``ceil(N / batch)`` times (the last
batch of a run holds the frames left).  See docs/offchip-weights.md.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from .folding import LayerFold

DRAM = "dram"
ONCHIP = "onchip"


def is_dram(f: LayerFold) -> bool:
    return getattr(f, "weights", ONCHIP) == DRAM


def dram_layers(net, folding: Dict[str, LayerFold]) -> List:
    """The compute layers whose weights stream from DRAM, in network order."""
    return [l for l in net.compute_layers() if is_dram(folding[l.name])]


def beat_bits(pe: int, simd: int) -> int:
    """Width of a weight beat: PE*SIMD bits rounded up to whole bytes."""
    return -(-pe * simd // 8) * 8


def words_per_pass(layer, f: LayerFold) -> int:
    return (layer.fan_in // f.simd) * (layer.out_channels // f.pe)


def bytes_per_pass(layer, f: LayerFold) -> int:
    """Bytes the DMA reads for one pass over the layer's weights (one batch)."""
    return words_per_pass(layer, f) * beat_bits(f.pe, f.simd) // 8


def dram_bytes_per_frame(layer, f: LayerFold) -> float:
    """DRAM bytes per frame in steady state (a pass serves ``batch`` frames)."""
    return bytes_per_pass(layer, f) / f.batch


def passes(num_frames: int, batch: int) -> int:
    """Passes over the weights a run of num_frames frames needs."""
    return -(-int(num_frames) // int(batch))


def weight_matrix(layer, f: LayerFold) -> np.ndarray:
    """(NF*SF, PE*SIMD) uint8 bits: row nf*SF + sf, PE p's SIMD bits at columns [p*SIMD, (p+1)*SIMD)."""
    nf, sf = layer.out_channels // f.pe, layer.fan_in // f.simd
    w = np.asarray(layer.weights, dtype=np.uint8)
    return w.reshape(nf, f.pe, sf, f.simd).transpose(0, 2, 1, 3).reshape(nf * sf, f.pe * f.simd)


def dram_image(layer, f: LayerFold) -> bytes:
    """The layer's DRAM weight buffer: the beats of one pass, back to back, little-endian."""
    m = weight_matrix(layer, f)
    bb = beat_bits(f.pe, f.simd)
    if bb > m.shape[1]:
        m = np.concatenate([m, np.zeros((m.shape[0], bb - m.shape[1]), np.uint8)], axis=1)
    return np.packbits(m, axis=1, bitorder="little").tobytes()


def weights_from_image(image: bytes, layer, f: LayerFold) -> np.ndarray:
    """Inverse of :func:`dram_image`: the (out, fan_in) weight bits."""
    nf, sf = layer.out_channels // f.pe, layer.fan_in // f.simd
    bb = beat_bits(f.pe, f.simd)
    rows = np.unpackbits(np.frombuffer(image, np.uint8).reshape(nf * sf, bb // 8), axis=1, bitorder="little")
    m = rows[:, : f.pe * f.simd]
    return m.reshape(nf, sf, f.pe, f.simd).transpose(0, 2, 1, 3).reshape(layer.out_channels, layer.fan_in)
