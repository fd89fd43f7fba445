"""Small networks for tests/test_uram.py."""
import numpy as np

from bnnfpga import random_net as rn
from bnnfpga.folding import LayerFold
from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network


def small_cnn(seed: int = 0, fixed_last: bool = False) -> Network:
    """8x8x1 -> conv 3x3 'same' 1->4 (fixed-point input) -> conv 3x3 'same' 4->8 -> max-pool 2
    -> dense 128 -> 10 (8-bit weights when ``fixed_last``)."""
    rng = np.random.default_rng(seed)
    bits = lambda m, n: rng.integers(0, 2, (m, n), dtype=np.uint8)  # noqa: E731
    layers = [Conv2D("conv0", 1, 4, 3, "same", bits(4, 9), input_kind="fixed"),
              Conv2D("conv1", 4, 8, 3, "same", bits(8, 36)),
              MaxPool2D("pool1", 2, 2)]
    if fixed_last:
        layers.append(Dense("fc", 128, 10, rng.integers(-128, 128, (10, 128)).astype(np.int16), weight_bits=8))
    else:
        layers.append(Dense("fc", 128, 10, bits(10, 128)))
    net = Network("uram-cnn", InputSpec(8, 8, 1), layers, classes=[str(i) for i in range(10)])
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = rn._thresholds(rng, net, layer)
    return net.validate()


# conv1 in URAM: PE=2, SIMD=12 (3 input folds x 4 output folds = 12 words of 24 bits)
URAM_FOLD = {"conv0": LayerFold(2, 9), "conv1": LayerFold(2, 12, weights="uram"), "fc": LayerFold(2, 16)}
