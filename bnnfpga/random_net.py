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


# ---------------------------------------------------------------------------
# random graph networks (binary ResNet / DenseNet shapes), see "Graphs" in bnnfpga.ir


def _int_thresholds(rng, c: int, lo: int, hi: int, std: float) -> Thresholds:
    """Thresholds on an integer stream whose values spread about 0 with roughly ``std``."""
    t = np.rint(rng.normal(0.0, max(1.0, std), size=c)).astype(np.int64)
    edge = rng.random(c) < 0.05
    t = np.where(edge, rng.choice([lo - 1, lo, hi, hi + 1], size=c), np.clip(t, lo - 1, hi + 1))
    d = np.where(rng.random(c) < 0.3, -1, 1).astype(np.int8)
    return Thresholds(t.astype(np.int64), d)


def random_graph_network(rng: np.random.Generator, kind: Optional[str] = None, name: str = "graph") -> Network:
    """A small random shortcut network: 'resnet' (integer residual stream, Add, Threshold, forks,
    1x1 shortcuts after a pool) or 'densenet' (binary concatenation with a growth rate, transitions).

    Block counts, widths, growth rates, kernel sizes, shifts and thresholds are random.
    """
    from .ir import Add, Concat, Threshold

    kind = kind or str(rng.choice(["resnet", "densenet"]))
    zp = int(rng.choice([0, 128]))
    spec = (InputSpec(0, 0, 0, zero_point=0, frac_bits=8, bits=9) if zp == 0
            else InputSpec(0, 0, 0, zero_point=zp, frac_bits=7, bits=8))
    size = int(rng.choice([4, 6, 8]))
    spec.height = spec.width = size
    spec.channels = int(rng.choice([1, 2, 3]))
    layers: list = []
    net = Network(name, spec, layers, metadata={"generator": "random_graph_network", "kind": kind})
    bits = lambda o, n: rng.integers(0, 2, (o, n), dtype=np.uint8)
    h, c = size, spec.channels
    qstd = 74.0 if zp else 147.0  # spread of q for uniform random pixels
    if kind == "resnet":
        width = int(rng.choice([2, 4, 6, 8]))
        layers.append(Conv2D("stem", c, width, 3, "same", bits(width, 9 * c), input_kind="fixed"))
        r, c = "stem", width
        std = qstd * np.sqrt(9 * spec.channels)
        for b in range(int(rng.integers(1, 4))):
            th = Threshold(f"b{b}_in", c, None, inputs=[r])
            layers.append(th)
            src, out_c = th.name, c
            short = r
            if h % 2 == 0 and h >= 4 and rng.random() < 0.4:
                layers.append(MaxPool2D(f"b{b}_pool", 2, 2, inputs=[src]))
                src, h = f"b{b}_pool", h // 2
                out_c = int(rng.choice([c, 2 * c]))
                layers.append(Conv2D(f"b{b}_short", c, out_c, 1, "same", bits(out_c, c), inputs=[src]))
                short, std = f"b{b}_short", np.sqrt(c)
            k1, k2 = int(rng.choice([1, 3, 3])), int(rng.choice([3, 3, 1]))
            layers.append(Conv2D(f"b{b}_conv1", c, out_c, k1, "same", bits(out_c, k1 * k1 * c), inputs=[src]))
            layers.append(Conv2D(f"b{b}_conv2", out_c, out_c, k2, "same", bits(out_c, k2 * k2 * out_c)))
            shifts = [int(rng.choice([0, 0, 1])), int(rng.choice([0, 0, 2, 7]))]
            layers.append(Add(f"b{b}_add", [short, f"b{b}_conv2"], shifts))
            std = np.sqrt((std * 2 ** shifts[0]) ** 2 + (np.sqrt(k2 * k2 * out_c) * 2 ** shifts[1]) ** 2)
            r, c = f"b{b}_add", out_c
        layers.append(Threshold("head_in", c, None, inputs=[r]))
        if h % 2 == 0 and rng.random() < 0.5:
            layers.append(MaxPool2D("head_pool", 2, 2))
            h //= 2
        stds = {}
    else:
        c0 = int(rng.choice([2, 4, 6]))
        layers.append(Conv2D("stem", c, c0, 3, "same", bits(c0, 9 * c), input_kind="fixed"))
        x, c = "stem", c0
        units = int(rng.integers(1, 3))
        for u in range(units):
            growth = int(rng.choice([1, 2, 3, 4]))
            for j in range(int(rng.integers(1, 4))):
                k = int(rng.choice([3, 3, 1]))
                conv = f"u{u}_l{j}"
                layers.append(Conv2D(conv, c, growth, k, "same", bits(growth, k * k * c), inputs=[x]))
                cat = f"u{u}_cat{j}"
                order = [x, conv] if rng.random() < 0.8 else [conv, x]
                layers.append(Concat(cat, order))
                x, c = cat, c + growth
            if u < units - 1:
                src = x
                if h % 2 == 0 and h >= 4:
                    layers.append(MaxPool2D(f"t{u}_pool", 2, 2, inputs=[x]))
                    src, h = f"t{u}_pool", h // 2
                out = max(1, c // 2)
                layers.append(Conv2D(f"t{u}_conv", c, out, 1, "same", bits(out, c), inputs=[src]))
                x, c = f"t{u}_conv", out
    ncls = int(rng.choice([2, 3, 5, 10]))
    last = layers[-1].name
    layers.append(Dense("fc_out", h * h * c, ncls, bits(ncls, h * h * c), inputs=[last]))
    net.classes = [f"class{i}" for i in range(ncls)]
    # thresholds: compute layers that feed a bit consumer get thresholds; the others stay integer
    from .ir import graph_shapes, value_ranges

    int_out = set()
    for l in layers:
        if isinstance(l, Add):
            int_out.update(l.inputs)
        if isinstance(l, Threshold):
            int_out.update(l.inputs)
    for l in net.compute_layers()[:-1]:
        if l.name not in int_out:
            l.thresholds = _thresholds(rng, net, l)
    ranges = value_ranges(net, graph_shapes(net))
    spread = {}
    for l in layers:  # rough spread of each integer stream, for thresholds that split it
        if isinstance(l, (Conv2D, Dense)) and l.name in ranges:
            spread[l.name] = (qstd if l.input_kind == "fixed" else 1.0) * np.sqrt(l.fan_in)
        elif isinstance(l, Add):
            a, b = l.inputs
            spread[l.name] = float(np.hypot(spread[a] * 2 ** l.shifts[0], spread[b] * 2 ** l.shifts[1]))
        elif isinstance(l, Threshold):
            lo, hi = ranges[l.inputs[0]]
            l.thresholds = _int_thresholds(rng, l.channels, lo, hi, spread[l.inputs[0]] * 0.5)
    return net.validate()


# ---------------------------------------------------------------------------
# random strided chains (bnnfpga.strided): strided convolutions, max-pools with kernel != stride


def random_strided_network(rng: np.random.Generator, name: str = "strided") -> Network:
    """A small random chain with strided convolutions ("valid" and "same", strides 2..3, kernels
    1..7) and max-pools whose kernel differs from their stride (3x3/2, 2x2/1, 3x3/1, 1x1/2, ...) or
    does not divide their input, mixed with ordinary layers; then an optional dense layer and the scores."""
    zp = int(rng.choice([0, 128]))
    spec = (InputSpec(0, 0, 0, zero_point=0, frac_bits=8, bits=9) if zp == 0
            else InputSpec(0, 0, 0, zero_point=zp, frac_bits=7, bits=8))
    size = int(rng.choice([7, 8, 9, 11, 12, 13]))
    spec.height = spec.width = size
    spec.channels = int(rng.choice([1, 2, 3]))
    layers: list = []
    net = Network(name, spec, layers, metadata={"generator": "random_strided_network"})
    c, h = spec.channels, size
    strided_seen = False
    for i in range(int(rng.integers(1, 4))):
        k = int(rng.choice([k for k in (1, 3, 5, 7) if k <= h]))
        s = int(rng.choice([1, 2, 2, 3])) if (i > 0 or strided_seen) else int(rng.choice([2, 3]))
        pad = "same" if rng.random() < 0.5 else "valid"
        p = (k - 1) // 2 if pad == "same" else 0
        oh = (h + 2 * p - k) // s + 1
        if oh < 1:
            break
        out = int(rng.choice([2, 4, 6, 8]))
        layers.append(Conv2D(f"conv{i}", c, out, k, pad, rng.integers(0, 2, (out, k * k * c), dtype=np.uint8),
                             input_kind="fixed" if i == 0 else "binary", stride=s))
        strided_seen |= s > 1
        h, c = oh, out
        if h >= 2 and rng.random() < 0.6:
            opts = [(kk, ss) for kk, ss in ((3, 2), (2, 1), (3, 1), (1, 2), (2, 3), (3, 3), (2, 2)) if kk <= h]
            kk, ss = opts[int(rng.integers(len(opts)))]
            layers.append(MaxPool2D(f"pool{i}", kk, ss))
            h = (h - kk) // ss + 1
    width = h * h * c
    if rng.random() < 0.5:
        out = int(rng.choice([8, 16]))
        layers.append(Dense("fc0", width, out, rng.integers(0, 2, (out, width), dtype=np.uint8)))
        width = out
    ncls = int(rng.choice([2, 3, 5, 10]))
    layers.append(Dense("fc_out", width, ncls, rng.integers(0, 2, (ncls, width), dtype=np.uint8)))
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = _thresholds(rng, net, layer)
    net.classes = [f"class{i}" for i in range(ncls)]
    return net.validate()
