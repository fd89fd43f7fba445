"""IR networks with the shapes of BNN-PYNQ's LFC and CNV (random weights and
thresholds), and the foldings the RTL benchmark and slow tests use.

BNN-PYNQ's foldings are in /work/shared/ANCHORS.md.  LFC's 784 input pixels
are not divisible by its SIMD of 64 (BNN-PYNQ pads the input to 832); we keep
784 inputs and take SIMD = 56 (784 = 14 x 56), PE = 32: 448 cycles for that
layer instead of 416, and the pipeline bound stays 512 cycles per frame.
BNN-PYNQ also pads both networks' last layer to 64 outputs; ours have 10, so
PE must divide 10: LFC's (16, 8) becomes (5, 8) (256 cycles) and CNV's (4, 1)
becomes (2, 1) (2,560 cycles), both below the bound as in BNN-PYNQ.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..folding import LayerFold
from ..ir import Conv2D, Dense, InputSpec, MaxPool2D, Network, Thresholds, acc_range


def _thresholds(rng, net, layer) -> Thresholds:
    c = layer.out_channels
    if layer.input_kind == "fixed":
        lo, hi = acc_range(net, layer)
        span = max(1, int(np.sqrt(layer.fan_in) * 40))
        t = np.clip(rng.integers(-span, span + 1, c), lo - 1, hi + 1)
    else:
        n = layer.fan_in
        span = max(1, int(np.sqrt(n)))
        t = rng.integers(n // 2 - span, n // 2 + span + 1, c)
    d = np.where(rng.random(c) < 0.25, -1, 1).astype(np.int8)
    return Thresholds(t.astype(np.int64), d)


def _finish(rng, net: Network) -> Network:
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = _thresholds(rng, net, layer)
    net.classes = [f"class{i}" for i in range(net.num_classes)]
    return net.validate()


def lfc(seed: int = 0) -> Network:
    """784-1024-1024-1024-10 MLP (MNIST shape)."""
    rng = np.random.default_rng(seed)
    sizes, layers, n = (1024, 1024, 1024, 10), [], 784
    for i, m in enumerate(sizes):
        name = f"fc{i}" if i < 3 else "fc_out"
        layers.append(Dense(name, n, m, rng.integers(0, 2, (m, n), dtype=np.uint8),
                            input_kind="fixed" if i == 0 else "binary"))
        n = m
    return _finish(rng, Network("lfc-shaped", InputSpec(28, 28, 1, zero_point=128), layers))


def cnv(seed: int = 0) -> Network:
    """3x32x32, valid 3x3 convolutions 64-64-MP-128-128-MP-256-256, FC 512-512-10 (CIFAR-10 shape)."""
    rng = np.random.default_rng(seed)
    layers, c, h = [], 3, 32
    spec = [64, 64, "M", 128, 128, "M", 256, 256]
    i = 0
    for item in spec:
        if item == "M":
            layers.append(MaxPool2D(f"pool{i}", 2, 2))
            h //= 2
            continue
        layers.append(Conv2D(f"conv{i}", c, item, 3, "valid", rng.integers(0, 2, (item, 9 * c), dtype=np.uint8),
                             input_kind="fixed" if i == 0 else "binary"))
        c, h, i = item, h - 2, i + 1
    n = c * h * h
    for j, m in enumerate((512, 512, 10)):
        name = f"fc{j}" if j < 2 else "fc_out"
        layers.append(Dense(name, n, m, rng.integers(0, 2, (m, n), dtype=np.uint8)))
        n = m
    return _finish(rng, Network("cnv-shaped", InputSpec(32, 32, 3, zero_point=128), layers))


def lfc_folding() -> Dict[str, LayerFold]:
    """BNN-PYNQ's LFC folding (32,64) (64,32) (32,64) (16,8); here (32,56) ... (5,8): 512 cycles per frame."""
    return {"fc0": LayerFold(32, 56), "fc1": LayerFold(64, 32), "fc2": LayerFold(32, 64), "fc_out": LayerFold(5, 8)}


def cnv_folding() -> Dict[str, LayerFold]:
    """BNN-PYNQ's CNV folding (PE, SIMD): (16,3) (32,32) (16,32) (16,32) (4,32) (1,32) (1,4) (1,8) (4,1),
    the last one as (2,1) (10 outputs): 32,768 cycles per frame."""
    f = [(16, 3), (32, 32), (16, 32), (16, 32), (4, 32), (1, 32), (1, 4), (1, 8), (2, 1)]
    names = [f"conv{i}" for i in range(6)] + ["fc0", "fc1", "fc_out"]
    return {n: LayerFold(pe, simd) for n, (pe, simd) in zip(names, f)}
