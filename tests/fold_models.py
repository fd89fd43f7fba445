"""Small networks for the binarized-input and SIMD | K*K*C_in tests (issue 7)."""
import numpy as np

from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network
from bnnfpga.random_net import _thresholds


def _bits(rng, m, n):
    return rng.integers(0, 2, (m, n), dtype=np.uint8)


def binarized_mlp(seed=0, hw=4, sizes=(16, 12, 4), threshold=128) -> Network:
    """A random MLP whose input is binarized (pixel >= threshold)."""
    rng = np.random.default_rng(seed)
    spec = InputSpec(hw, hw, 1, binarize_threshold=threshold)
    layers, n = [], hw * hw
    for i, m in enumerate(sizes):
        layers.append(Dense(f"fc{i}", n, m, _bits(rng, m, n)))
        n = m
    net = Network(f"bin-mlp-{seed}", spec, layers, classes=[f"c{i}" for i in range(sizes[-1])])
    for layer in layers[:-1]:
        layer.thresholds = _thresholds(rng, net, layer)
    return net.validate()


def conv_net(seed=0, c_in=3, hw=6, k=3, padding="valid", channels=(4, 6), classes=3, binarize=None,
             pool=False) -> Network:
    """Random convolutions (then one dense scores layer); fixed-point or binarized input."""
    rng = np.random.default_rng(seed)
    spec = InputSpec(hw, hw, c_in, binarize_threshold=binarize)
    layers, c, h = [], c_in, hw
    for i, oc in enumerate(channels):
        kind = "fixed" if i == 0 and binarize is None else "binary"
        layers.append(Conv2D(f"conv{i}", c, oc, k, padding, _bits(rng, oc, k * k * c), input_kind=kind))
        c = oc
        h = h if padding == "same" else h - k + 1
        if pool and i == 0 and h % 2 == 0:
            layers.append(MaxPool2D(f"pool{i}", 2, 2))
            h //= 2
    n = h * h * c
    layers.append(Dense("fc", n, classes, _bits(rng, classes, n)))
    net = Network(f"conv-{c_in}-{seed}", spec, layers, classes=[f"c{i}" for i in range(classes)])
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = _thresholds(rng, net, layer)
    return net.validate()


def binarized(net: Network, threshold: int) -> Network:
    """The same network reading binarized pixels (first layer XNOR; its thresholds redrawn)."""
    import copy

    net = copy.deepcopy(net)
    net.input.binarize_threshold = int(threshold)
    first = net.compute_layers()[0]
    first.input_kind = "binary"
    if first.thresholds is not None:
        first.thresholds = _thresholds(np.random.default_rng(threshold), net, first)
    net.name += "-bin"
    return net.validate()


def random_window_folding(rng, net: Network):
    """A random legal folding where a convolution's SIMD may divide K*K*C_in without dividing C_in."""
    from bnnfpga.folding import LayerFold, divisors, simd_options

    out = {}
    for layer in net.compute_layers():
        simds = simd_options(net, layer)
        odd = [s for s in simds if hasattr(layer, "kernel") and layer.in_channels % s]
        simd = int(rng.choice(odd)) if odd and rng.random() < 0.7 else int(rng.choice(simds))
        out[layer.name] = LayerFold(int(rng.choice(divisors(layer.out_channels))), simd)
    return out
