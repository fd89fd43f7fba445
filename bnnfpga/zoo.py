"""The model zoo: the networks of the BinaryNet paper and of BNN-PYNQ.

Every builder returns a :class:`bnnfpga.nn.BNNSequential` taking raw pixels
(N, C, H, W) as floats 0..255, and records how it was built in
``model.arch = (name, kwargs)`` so that a checkpoint can rebuild it.

* ``mlp``: BinaryNet / BNN-PYNQ MLPs (hidden widths 64, 256, 1024, 2048, 4096, any depth).
  BNN-PYNQ's SFC is 3x256, LFC is 3x1024, TFC is 3x64; BinaryNet's MNIST MLP is 3x4096 (3x2048 in Torch7).
* ``binarynet_cnn``: 2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-2x1024FC-10 ("same" 3x3 convolutions),
  with a width multiplier (0.5 gives the SVHN variant).
* ``cnv``: BNN-PYNQ's CNV: 3x32x32, "valid" 3x3 convolutions 64-64-MP-128-128-MP-256-256, FC 512-512-10.

Blocks are compute -> BatchNorm -> sign (-> binary max-pool); the last layer
is a binary dense layer whose integer scores pass a positive Scale.
"""
from __future__ import annotations

from typing import Sequence

from .nn import (BatchNorm, BinaryActivation, BinaryConv2d, BinaryLinear, BNNSequential, Flatten,
                 InputQuant, Scale)
import torch.nn as nn

ARCHS = {}


def _register(fn):
    ARCHS[fn.__name__] = fn
    return fn


def _finish(model: BNNSequential, name: str, kwargs: dict) -> BNNSequential:
    model.arch = (name, dict(kwargs))
    return model


@_register
def mlp(input_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (1024, 1024, 1024), classes: int = 10,
        t_clip: float = 1.0, alpha: bool = False, stochastic: bool = False, zero_point: int = 128,
        frac_bits: int = 7, dropout: float = 0.0) -> BNNSequential:
    kw = dict(input_shape=list(input_shape), hidden=list(hidden), classes=classes, t_clip=t_clip, alpha=alpha,
              stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits, dropout=dropout)
    c, h, w = input_shape
    layers = [InputQuant(zero_point, frac_bits), Flatten()]
    width = c * h * w
    for i, out in enumerate(hidden):
        layers += [BinaryLinear(width, out, alpha=alpha, stochastic=stochastic, input_kind="fixed" if i == 0 else "binary"),
                   BatchNorm(out), BinaryActivation(t_clip, stochastic)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = out
    layers += [BinaryLinear(width, classes, input_kind="fixed" if not hidden else "binary"), Scale(1.0 / max(1, width) ** 0.5)]
    return _finish(BNNSequential(*layers), "mlp", kw)


def _conv_stack(spec, in_shape, t_clip, alpha, stochastic, padding, zero_point, frac_bits):
    """spec: list of ints (conv out channels) and 'M' (max-pool 2)."""
    c, h, w = in_shape
    layers = [InputQuant(zero_point, frac_bits)]
    first = True
    for item in spec:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
            continue
        layers += [BinaryConv2d(c, item, 3, padding, alpha=alpha, stochastic=stochastic,
                                input_kind="fixed" if first else "binary"),
                   BatchNorm(item), BinaryActivation(t_clip, stochastic)]
        if padding == "valid":
            h, w = h - 2, w - 2
        c, first = item, False
    return layers, (c, h, w)


def _dense_head(layers, width, fc, classes, t_clip, alpha, stochastic):
    layers.append(Flatten())
    for out in fc:
        layers += [BinaryLinear(width, out, alpha=alpha, stochastic=stochastic), BatchNorm(out),
                   BinaryActivation(t_clip, stochastic)]
        width = out
    layers += [BinaryLinear(width, classes), Scale(1.0 / max(1, width) ** 0.5)]
    return layers


@_register
def binarynet_cnn(input_shape: Sequence[int] = (3, 32, 32), width: float = 1.0, classes: int = 10,
                  t_clip: float = 1.0, alpha: bool = False, stochastic: bool = False, zero_point: int = 128,
                  frac_bits: int = 7) -> BNNSequential:
    kw = dict(input_shape=list(input_shape), width=width, classes=classes, t_clip=t_clip, alpha=alpha,
              stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits)
    ch = lambda n: max(1, int(round(n * width)))
    spec = [ch(128), ch(128), "M", ch(256), ch(256), "M", ch(512), ch(512), "M"]
    layers, (c, h, w) = _conv_stack(spec, input_shape, t_clip, alpha, stochastic, "same", zero_point, frac_bits)
    layers = _dense_head(layers, c * h * w, [ch(1024), ch(1024)], classes, t_clip, alpha, stochastic)
    return _finish(BNNSequential(*layers), "binarynet_cnn", kw)


@_register
def cnv(input_shape: Sequence[int] = (3, 32, 32), width: float = 1.0, classes: int = 10, t_clip: float = 1.0,
        alpha: bool = False, stochastic: bool = False, zero_point: int = 128, frac_bits: int = 7) -> BNNSequential:
    kw = dict(input_shape=list(input_shape), width=width, classes=classes, t_clip=t_clip, alpha=alpha,
              stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits)
    ch = lambda n: max(1, int(round(n * width)))
    spec = [ch(64), ch(64), "M", ch(128), ch(128), "M", ch(256), ch(256)]
    layers, (c, h, w) = _conv_stack(spec, input_shape, t_clip, alpha, stochastic, "valid", zero_point, frac_bits)
    layers = _dense_head(layers, c * h * w, [ch(512), ch(512)], classes, t_clip, alpha, stochastic)
    return _finish(BNNSequential(*layers), "cnv", kw)


@_register
def small_cnn(input_shape: Sequence[int] = (1, 8, 8), channels: Sequence = (16, "M", 32), fc: Sequence[int] = (64,),
              classes: int = 10, padding: str = "same", t_clip: float = 1.0, alpha: bool = False,
              stochastic: bool = False, zero_point: int = 128, frac_bits: int = 7) -> BNNSequential:
    """A configurable small ConvNet for tests and small data sets."""
    kw = dict(input_shape=list(input_shape), channels=list(channels), fc=list(fc), classes=classes, padding=padding,
              t_clip=t_clip, alpha=alpha, stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits)
    layers, (c, h, w) = _conv_stack(list(channels), input_shape, t_clip, alpha, stochastic, padding, zero_point, frac_bits)
    layers = _dense_head(layers, c * h * w, list(fc), classes, t_clip, alpha, stochastic)
    return _finish(BNNSequential(*layers), "small_cnn", kw)


def build(name: str, **kwargs) -> BNNSequential:
    if name not in ARCHS:
        raise ValueError(f"unknown architecture '{name}' (known: {', '.join(sorted(ARCHS))})")
    return ARCHS[name](**kwargs)
