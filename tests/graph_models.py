"""Shortcut networks for the graph tests: random torch graphs with random BatchNorm, and a tiny
binary ResNet / DenseNet trained here on a few hundred Fashion-MNIST images (digits when the
data set is absent)."""
from __future__ import annotations

import functools

import numpy as np
import torch

from bnnfpga import zoo
from bnnfpga.nn import BatchNorm, ComputeNode


def randomize_bn(model, gen: torch.Generator, rng: np.random.Generator):
    """Random BatchNorm statistics at several scales: negative and zero gammas, tiny and zero variances."""
    for m in model.modules():
        if isinstance(m, BatchNorm):
            c = m.num_features
            scale = float(rng.choice([0.5, 2.0, 10.0, 40.0]))
            m.running_mean.copy_((torch.rand(c, generator=gen) - 0.5) * 2 * scale)
            var = torch.rand(c, generator=gen) * scale
            var[torch.rand(c, generator=gen) < 0.05] = 0.0
            m.running_var.copy_(var)
            g = torch.randn(c, generator=gen)
            g[torch.rand(c, generator=gen) < 0.05] = 0.0
            m.weight.data.copy_(g)
            m.bias.data.copy_(torch.randn(c, generator=gen))


def random_graph_model(seed: int):
    """A random binary ResNet or DenseNet (random stages, widths, growth, alpha on thresholded layers)."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    c, h = int(rng.choice([1, 2, 3])), int(rng.choice([4, 6, 8]))
    zp = int(rng.choice([0, 128]))
    fb = 8 if zp == 0 else 7
    if seed % 2 == 0:
        kw = dict(input_shape=[c, h, h], stages=[int(v) for v in rng.integers(1, 3, size=rng.integers(1, 4))],
                  base=int(rng.choice([2, 4, 6])), width=1.0, classes=int(rng.choice([2, 5, 10])),
                  zero_point=zp, frac_bits=fb)
        model = zoo.build("binary_resnet", **kw)
    else:
        kw = dict(input_shape=[c, h, h], layers_per_unit=[int(v) for v in rng.integers(1, 4, size=rng.integers(1, 4))],
                  growth=int(rng.choice([1, 2, 3, 4])), reduction=float(rng.choice([1.0, 2.0])),
                  classes=int(rng.choice([3, 10])), zero_point=zp, frac_bits=fb)
        model = zoo.build("binary_densenet", **kw)
    for m in model.modules():
        if isinstance(m, ComputeNode):
            m.layer.weight.data.uniform_(-1, 1, generator=gen)
            if m.act is not None and rng.random() < 0.3:
                m.layer.use_alpha = True
    randomize_bn(model, gen, rng)
    return model.eval(), kw


@functools.lru_cache(maxsize=None)
def trained(kind: str):
    """(model, dataset) of a tiny binary ResNet or DenseNet trained on 600 images for 1 epoch."""
    from bnnfpga import data
    from bnnfpga.train import TrainConfig, train

    try:
        ds = data.load_dataset("fashion-mnist", "/work/shared/data")
    except Exception:  # noqa: BLE001 - no Fashion-MNIST here: the small digits set
        ds = data.load_dataset("digits")
    h, w, c = ds.image_shape
    torch.manual_seed(0)
    if kind == "resnet":
        model = zoo.build("binary_resnet", input_shape=[c, h, w], stages=[1, 1], base=4, classes=ds.num_classes)
    else:
        model = zoo.build("binary_densenet", input_shape=[c, h, w], layers_per_unit=[2, 2], growth=3,
                          classes=ds.num_classes)
    n = min(600, len(ds.x_train))
    train(model, ds.x_train[:n], ds.y_train[:n], TrainConfig(epochs=1, batch_size=50, val_fraction=0.2, threads=1),
          progress=False)
    return model.eval(), ds
