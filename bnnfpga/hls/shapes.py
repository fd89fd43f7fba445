"""Reference network shapes with random parameters, for the HLS tests and benchmarks.

* :func:`mlp`: an MLP of 28x28 input and hidden layers of one width (64/256/1024).
* :func:`cnv`: BNN-PYNQ's CNV shape, 3x32x32 input, "valid" 3x3 convolutions
  64-64-MP-128-128-MP-256-256, FC 512-512-10, with :data:`CNV_FOLDING`, the
  folding of BNN-PYNQ's CNV-W1A1 (its last layer, padded to 64 there, gets PE=2).
"""
from __future__ import annotations

import numpy as np

from ..folding import LayerFold
from ..ir import Conv2D, Dense, InputSpec, MaxPool2D, Network
from ..random_net import _thresholds


def _finish(rng, net: Network) -> Network:
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = _thresholds(rng, net, layer)
    net.classes = [f"class{i}" for i in range(net.num_classes)]
    return net.validate()


def _bits(rng, shape):
    return rng.integers(0, 2, shape, dtype=np.uint8)


def mlp(rng: np.random.Generator, width: int, depth: int = 3, side: int = 28, classes: int = 10) -> Network:
    spec = InputSpec(side, side, 1, zero_point=128, frac_bits=7, bits=8)
    layers, n = [], side * side
    for i in range(depth):
        layers.append(Dense(f"fc{i}", n, width, _bits(rng, (width, n)), input_kind="fixed" if i == 0 else "binary"))
        n = width
    layers.append(Dense("fc_out", n, classes, _bits(rng, (classes, n))))
    return _finish(rng, Network(f"mlp{width}", spec, layers))


def cnv(rng: np.random.Generator) -> Network:
    spec = InputSpec(32, 32, 3, zero_point=128, frac_bits=7, bits=8)
    layers = []
    c = 3
    for i, (out, pool) in enumerate([(64, 0), (64, 1), (128, 0), (128, 1), (256, 0), (256, 0)]):
        layers.append(Conv2D(f"conv{i}", c, out, 3, "valid", _bits(rng, (out, 9 * c)),
                             input_kind="fixed" if i == 0 else "binary"))
        c = out
        if pool:
            layers.append(MaxPool2D(f"pool{i}", 2, 2))
    n = 256
    for i, out in enumerate([512, 512]):
        layers.append(Dense(f"fc{i}", n, out, _bits(rng, (out, n))))
        n = out
    layers.append(Dense("fc_out", n, 10, _bits(rng, (10, n))))
    return _finish(rng, Network("cnv", spec, layers))


CNV_FOLDING = {
    "conv0": LayerFold(16, 3), "conv1": LayerFold(32, 32), "conv2": LayerFold(16, 32), "conv3": LayerFold(16, 32),
    "conv4": LayerFold(4, 32), "conv5": LayerFold(1, 32), "fc0": LayerFold(1, 4), "fc1": LayerFold(1, 8),
    "fc_out": LayerFold(2, 1),
}


# layer names hostile to C++: spaces, slashes, keywords, unicode, leading digits, clashes
ODD_NAMES = ["conv 1/a-b", "1st", "int", "conv\u00e9\u4e2d", "conv 1/a+b", "x__y", "INT", "return"]


def odd_names(rng: np.random.Generator) -> Network:
    """A small CNN whose layer (and network) names must be sanitized to become C++ identifiers."""
    n = ODD_NAMES
    spec = InputSpec(8, 8, 2, zero_point=128, frac_bits=7, bits=8)
    layers = [
        Conv2D(n[0], 2, 4, 3, "same", _bits(rng, (4, 18)), input_kind="fixed"),
        MaxPool2D(n[1], 2, 2),
        Conv2D(n[2], 4, 8, 3, "valid", _bits(rng, (8, 36))),
        Dense(n[3], 32, 16, _bits(rng, (16, 32))),
        Dense(n[4], 16, 8, _bits(rng, (8, 16))),
        Dense(n[5], 8, 8, _bits(rng, (8, 8))),
        Dense(n[6], 8, 6, _bits(rng, (6, 8))),
        Dense(n[7], 6, 3, _bits(rng, (3, 6))),
    ]
    return _finish(rng, Network("odd net/\u00e9", spec, layers))
