"""Random IR networks and random legal foldings, for tests of every backend.

Thresholds are drawn inside each accumulator's range (and now and then just
outside it, giving constant channels), with both comparison directions, so
that the backends see every case the threshold folding can produce.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .folding import LayerFold, divisors, simd_base
from .ir import Conv2D, Dense, InputSpec, MaxPool2D, Network, Thresholds, acc_range


def _thresholds(rng, net, layer) -> Thresholds:
    lo, hi = acc_range(net, layer)
    c = layer.out_channels
    if layer.input_kind == "fixed":
        # fixed sums concentrate near 0: draw mostly near the middle
        span = max(1, (hi - lo) // 16)
        t = rng.integers(-span, span + 1, size=c)
    else:
        mid, span = layer.fan_in // 2, max(1, int(np.sqrt(layer.fan_in)) * 2)
        t = rng.integers(mid - span, mid + span + 1, size=c)
    edge = rng.random(c) < 0.05
    t = np.where(edge, rng.choice([lo - 1, lo, hi, hi + 1], size=c), np.clip(t, lo - 1, hi + 1))
    d = np.where(rng.random(c) < 0.3, -1, 1).astype(np.int8)
    return Thresholds(t.astype(np.int64), d)


def random_network(rng: np.random.Generator, kind: Optional[str] = None, name: str = "random") -> Network:
    """A small random chain: 'mlp' or 'cnn' (chosen at random when kind is None)."""
    kind = kind or rng.choice(["mlp", "cnn"])
    zp = int(rng.choice([0, 128]))
    if zp == 0:
        spec = InputSpec(0, 0, 0, zero_point=0, frac_bits=8, bits=9)
    else:
        spec = InputSpec(0, 0, 0, zero_point=zp, frac_bits=7, bits=8)
    layers = []
    net = Network(name, spec, layers, metadata={"generator": "random_net"})
    if kind == "mlp":
        h = int(rng.integers(2, 9))
        spec.height, spec.width, spec.channels = h, h, int(rng.choice([1, 1, 3]))
        width = spec.height * spec.width * spec.channels
        depth = int(rng.integers(1, 4))
        for i in range(depth):
            out = int(rng.choice([4, 8, 12, 16, 24, 32, 64]))
            layers.append(Dense(f"fc{i}", width, out, rng.integers(0, 2, (out, width), dtype=np.uint8),
                                input_kind="fixed" if i == 0 else "binary"))
            width = out
    else:
        size = int(rng.choice([6, 8, 10, 12]))
        spec.height = spec.width = size
        spec.channels = int(rng.choice([1, 2, 3]))
        c, h = spec.channels, size
        nconv = int(rng.integers(1, 4))
        for i in range(nconv):
            k = int(rng.choice([1, 3, 3, 5])) if h >= 5 else int(rng.choice([1, 3]))
            pad = "same" if (rng.random() < 0.5 or h - k + 1 < 2) else "valid"
            out = int(rng.choice([2, 4, 8, 16]))
            layers.append(Conv2D(f"conv{i}", c, out, k, pad, rng.integers(0, 2, (out, k * k * c), dtype=np.uint8),
                                 input_kind="fixed" if i == 0 else "binary"))
            h = h if pad == "same" else h - k + 1
            c = out
            if h % 2 == 0 and h >= 4 and rng.random() < 0.5:
                layers.append(MaxPool2D(f"pool{i}", 2, 2))
                h //= 2
        width = h * h * c
        for i in range(int(rng.integers(0, 2))):
            out = int(rng.choice([8, 16, 32]))
            layers.append(Dense(f"fc{i}", width, out, rng.integers(0, 2, (out, width), dtype=np.uint8)))
            width = out
    ncls = int(rng.choice([2, 3, 5, 10]))
    layers.append(Dense("fc_out", width, ncls, rng.integers(0, 2, (ncls, width), dtype=np.uint8),
                        input_kind="fixed" if not net.compute_layers() else "binary"))
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = _thresholds(rng, net, layer)
    net.classes = [f"class{i}" for i in range(ncls)]
    return net.validate()


def random_folding(rng: np.random.Generator, net: Network) -> Dict[str, LayerFold]:
    """A random legal folding; PE=1/SIMD=1 and fully parallel layers both occur."""
    out = {}
    for layer in net.compute_layers():
        pes, simds = divisors(layer.out_channels), divisors(simd_base(layer))
        r = rng.random()
        if r < 0.15:
            out[layer.name] = LayerFold(1, 1)
        elif r < 0.3:
            out[layer.name] = LayerFold(pes[-1], simds[-1])
        else:
            out[layer.name] = LayerFold(int(rng.choice(pes)), int(rng.choice(simds)))
    return out


def random_images(rng: np.random.Generator, net: Network, n: int) -> np.ndarray:
    sp = net.input
    return rng.integers(0, 256, (n, sp.height, sp.width, sp.channels), dtype=np.uint8)
