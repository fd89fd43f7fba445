"""The model zoo: the networks of the BinaryNet paper and of BNN-PYNQ.

Every builder returns a :class:`bnnfpga.nn.BNNSequential` taking raw pixels
(N, C, H, W) as floats 0..255, and records how it was built in
``model.arch = (name, kwargs)`` so that a checkpoint can rebuild it.

* ``mlp``: BinaryNet / BNN-PYNQ MLPs (hidden widths 64, 256, 1024, 2048, 4096, any depth).
  BNN-PYNQ's SFC is 3x256, LFC is 3x1024, TFC is 3x64; BinaryNet's MNIST MLP is 3x4096 (3x2048 in Torch7).
* ``binarynet_cnn``: 2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-2x1024FC-10 ("same" 3x3 convolutions),
  with a width multiplier (0.5 gives the SVHN variant).
* ``cnv``: BNN-PYNQ's CNV: 3x32x32, "valid" 3x3 convolutions 64-64-MP-128-128-MP-256-256, FC 512-512-10.
* ``wu13`` / ``alexnet_bnn``: ImageNet-class chains with strided convolutions and overlapping
  max-pools (Wu et al.'s network; AlexNet's shape), with a width multiplier and any input size.
* ``binary_resnet`` / ``binary_densenet``: shortcut networks (``bnnfpga.nn.BNNGraph``), Bethge et al.'s
  configurations with a width multiplier; t_clip 0.5 by default.

Blocks are compute -> BatchNorm -> sign (-> binary max-pool); the last layer
is a binary dense layer whose integer scores pass a positive Scale.

``first_last="fixed"`` (every builder): the first layer (convolution or dense
on the pixels) and the last dense layer get 8-bit fixed-point weights
(``first_last_bits``; an MLP's first layer on a wide image gets fewer bits
when needed to stay exact in float32), as in the BinaryNet / XNOR-Net papers; the default
``"binary"`` keeps them binary.  The keyword is recorded in ``model.arch``
only when it is not the default (old checkpoints rebuild unchanged).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

from .nn import (AddNode, BatchNorm, BinaryActivation, BinaryConv2d, BinaryLinear, BNNGraph, BNNSequential,
                 ComputeNode, ConcatNode, Flatten, InputQuant, Scale, SignNode)
import torch.nn as nn

ARCHS = {}


def _register(fn):
    ARCHS[fn.__name__] = fn
    return fn


def _first_last(first_last: str, bits: int, kw: dict) -> int:
    """Weight bits of the first and last layers (1: binary); records non-default choices in ``kw``."""
    if first_last not in ("binary", "fixed"):
        raise ValueError(f"first_last must be 'binary' or 'fixed', got {first_last!r}")
    if first_last == "binary":
        return 1
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"first_last_bits must be an integer in 2..16, got {bits!r}")
    kw["first_last"] = first_last
    if bits != 8:
        kw["first_last_bits"] = bits
    return bits


def _exact_bits(bits: int, fan_in: int, zero_point: int) -> int:
    """At most ``bits`` weight bits for a fixed-point layer on the pixels such that its accumulator range
    (fan_in * max|q| * 2**(bits-1)) stays below 2**24, exact in torch's float32 (a wide MLP input)."""
    m = max(zero_point, 255 - zero_point)
    while bits > 2 and fan_in * m * 2 ** (bits - 1) >= 2 ** 24:
        bits -= 1
    return bits


def _finish(model: BNNSequential, name: str, kwargs: dict) -> BNNSequential:
    model.arch = (name, dict(kwargs))
    return model


@_register
def mlp(input_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (1024, 1024, 1024), classes: int = 10,
        t_clip: float = 1.0, alpha: bool = False, stochastic: bool = False, zero_point: int = 128,
        frac_bits: int = 7, dropout: float = 0.0, input_binarize: Optional[int] = None, first_last: str = "binary",
        first_last_bits: int = 8) -> BNNSequential:
    """``input_binarize`` (a threshold t): pixels become +1 (p >= t) or -1, as BNN-PYNQ's LFC
    binarizes MNIST; the first layer is then an XNOR layer (IR ``InputSpec.binarize_threshold``).
    ``first_last="fixed"``: fixed-point weights on the first layer (not with ``input_binarize``:
    that first layer stays binary) and on the last layer."""
    kw = dict(input_shape=list(input_shape), hidden=list(hidden), classes=classes, t_clip=t_clip, alpha=alpha,
              stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits, dropout=dropout)
    if input_binarize is not None:  # recorded only when used: older checkpoints rebuild unchanged
        kw["input_binarize"] = int(input_binarize)
    fwb = _first_last(first_last, first_last_bits, kw)
    first = "fixed" if input_binarize is None else "binary"
    c, h, w = input_shape
    layers = [InputQuant(zero_point, frac_bits, binarize=input_binarize), Flatten()]
    width = c * h * w
    for i, out in enumerate(hidden):
        fw = _exact_bits(fwb, width, zero_point) if i == 0 and fwb > 1 and input_binarize is None else 1
        layers += [BinaryLinear(width, out, alpha=alpha and fw == 1, stochastic=stochastic and fw == 1,
                                input_kind=first if i == 0 else "binary", weight_bits=fw),
                   BatchNorm(out), BinaryActivation(t_clip, stochastic)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = out
    fw_last = _exact_bits(fwb, width, zero_point) if not hidden and fwb > 1 and input_binarize is None else fwb
    layers += [BinaryLinear(width, classes, input_kind=first if not hidden else "binary", weight_bits=fw_last),
               Scale(1.0 / max(1, width) ** 0.5)]
    return _finish(BNNSequential(*layers), "mlp", kw)


def _conv_stack(spec, in_shape, t_clip, alpha, stochastic, padding, zero_point, frac_bits, first_bits=1):
    """spec: list of ints (conv out channels) and 'M' (max-pool 2)."""
    c, h, w = in_shape
    layers = [InputQuant(zero_point, frac_bits)]
    first = True
    for item in spec:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
            continue
        fw = first_bits if first else 1
        layers += [BinaryConv2d(c, item, 3, padding, alpha=alpha and fw == 1, stochastic=stochastic and fw == 1,
                                input_kind="fixed" if first else "binary", weight_bits=fw),
                   BatchNorm(item), BinaryActivation(t_clip, stochastic)]
        if padding == "valid":
            h, w = h - 2, w - 2
        c, first = item, False
    return layers, (c, h, w)


def _dense_head(layers, width, fc, classes, t_clip, alpha, stochastic, last_bits=1):
    layers.append(Flatten())
    for out in fc:
        layers += [BinaryLinear(width, out, alpha=alpha, stochastic=stochastic), BatchNorm(out),
                   BinaryActivation(t_clip, stochastic)]
        width = out
    layers += [BinaryLinear(width, classes, weight_bits=last_bits), Scale(1.0 / max(1, width) ** 0.5)]
    return layers


@_register
def binarynet_cnn(input_shape: Sequence[int] = (3, 32, 32), width: float = 1.0, classes: int = 10,
                  t_clip: float = 1.0, alpha: bool = False, stochastic: bool = False, zero_point: int = 128,
                  frac_bits: int = 7, first_last: str = "binary", first_last_bits: int = 8) -> BNNSequential:
    kw = dict(input_shape=list(input_shape), width=width, classes=classes, t_clip=t_clip, alpha=alpha,
              stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits)
    fwb = _first_last(first_last, first_last_bits, kw)
    ch = lambda n: max(1, int(round(n * width)))
    spec = [ch(128), ch(128), "M", ch(256), ch(256), "M", ch(512), ch(512), "M"]
    layers, (c, h, w) = _conv_stack(spec, input_shape, t_clip, alpha, stochastic, "same", zero_point, frac_bits, fwb)
    layers = _dense_head(layers, c * h * w, [ch(1024), ch(1024)], classes, t_clip, alpha, stochastic, fwb)
    return _finish(BNNSequential(*layers), "binarynet_cnn", kw)


@_register
def cnv(input_shape: Sequence[int] = (3, 32, 32), width: float = 1.0, classes: int = 10, t_clip: float = 1.0,
        alpha: bool = False, stochastic: bool = False, zero_point: int = 128, frac_bits: int = 7,
        first_last: str = "binary", first_last_bits: int = 8) -> BNNSequential:
    kw = dict(input_shape=list(input_shape), width=width, classes=classes, t_clip=t_clip, alpha=alpha,
              stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits)
    fwb = _first_last(first_last, first_last_bits, kw)
    ch = lambda n: max(1, int(round(n * width)))
    spec = [ch(64), ch(64), "M", ch(128), ch(128), "M", ch(256), ch(256)]
    layers, (c, h, w) = _conv_stack(spec, input_shape, t_clip, alpha, stochastic, "valid", zero_point, frac_bits, fwb)
    layers = _dense_head(layers, c * h * w, [ch(512), ch(512)], classes, t_clip, alpha, stochastic, fwb)
    return _finish(BNNSequential(*layers), "cnv", kw)


@_register
def small_cnn(input_shape: Sequence[int] = (1, 8, 8), channels: Sequence = (16, "M", 32), fc: Sequence[int] = (64,),
              classes: int = 10, padding: str = "same", t_clip: float = 1.0, alpha: bool = False,
              stochastic: bool = False, zero_point: int = 128, frac_bits: int = 7, first_last: str = "binary",
              first_last_bits: int = 8) -> BNNSequential:
    """A configurable small ConvNet for tests and small data sets."""
    kw = dict(input_shape=list(input_shape), channels=list(channels), fc=list(fc), classes=classes, padding=padding,
              t_clip=t_clip, alpha=alpha, stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits)
    fwb = _first_last(first_last, first_last_bits, kw)
    layers, (c, h, w) = _conv_stack(list(channels), input_shape, t_clip, alpha, stochastic, padding, zero_point, frac_bits,
                                    fwb)
    layers = _dense_head(layers, c * h * w, list(fc), classes, t_clip, alpha, stochastic, fwb)
    return _finish(BNNSequential(*layers), "small_cnn", kw)


# ------------------------------------------------- ImageNet-class chains (strided layers)
# Strided convolutions and overlapping max-pools: see "Strides" in bnnfpga.ir and bnnfpga.strided.


def _block(layers, c_in, c_out, k, stride, t_clip, alpha, stochastic, first=False, weight_bits=1):
    fixed = weight_bits > 1
    layers += [BinaryConv2d(c_in, c_out, k, "same", alpha=alpha and not fixed, stochastic=stochastic and not fixed,
                            input_kind="fixed" if first else "binary", stride=stride, weight_bits=weight_bits),
               BatchNorm(c_out), BinaryActivation(t_clip, stochastic)]
    return c_out


def _head(layers, width, fc, classes, t_clip, alpha, stochastic, dropout, last_bits=1):
    layers.append(Flatten())
    for out in fc:
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [BinaryLinear(width, out, alpha=alpha, stochastic=stochastic), BatchNorm(out),
                   BinaryActivation(t_clip, stochastic)]
        width = out
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [BinaryLinear(width, classes, weight_bits=last_bits), Scale(1.0 / max(1, width) ** 0.5)]
    return layers


@_register
def wu13(input_shape: Sequence[int] = (3, 224, 224), width: float = 1.0, classes: int = 1000,
         first_last: str = "binary", t_clip: float = 1.0, alpha: bool = False, stochastic: bool = False,
         zero_point: int = 128, frac_bits: int = 7, dropout: float = 0.0, first_last_bits: int = 8) -> BNNSequential:
    """Wu et al.'s ImageNet BNN: conv 128@7x7 stride 2 ("same"), max-pool 3x3 stride 2,
    3 x conv 384@3x3, max-pool 2, 6 x conv 512@3x3, max-pool 2, dense 4096, dense ``classes``, Scale.

    ``width`` multiplies every hidden width and ``input_shape`` (C, H, W) sets the image size, so
    that reduced versions (e.g. (3, 64, 64), width 0.25) run in tests; 224x224 gives
    112 -> 55 -> 27 -> 13 pixels per side.  ``first_last="fixed"``: ``first_last_bits``-bit fixed-point
    weights on the first convolution and the last dense layer (as the papers keep them non-binary).
    """
    kw = dict(input_shape=list(input_shape), width=width, classes=classes, first_last=first_last, t_clip=t_clip,
              alpha=alpha, stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits, dropout=dropout)
    fwb = _first_last(first_last, first_last_bits, kw)
    ch = lambda n: max(1, int(round(n * width)))
    c, h, w = input_shape
    layers = [InputQuant(zero_point, frac_bits)]
    c = _block(layers, c, ch(128), 7, 2, t_clip, alpha, stochastic, first=True,
               weight_bits=_exact_bits(fwb, 49 * c, zero_point) if fwb > 1 else 1)
    h, w = (h + 6 - 7) // 2 + 1, (w + 6 - 7) // 2 + 1
    layers.append(nn.MaxPool2d(3, 2))
    h, w = (h - 3) // 2 + 1, (w - 3) // 2 + 1
    for _ in range(3):
        c = _block(layers, c, ch(384), 3, 1, t_clip, alpha, stochastic)
    layers.append(nn.MaxPool2d(2))
    h, w = h // 2, w // 2
    for _ in range(6):
        c = _block(layers, c, ch(512), 3, 1, t_clip, alpha, stochastic)
    layers.append(nn.MaxPool2d(2))
    h, w = h // 2, w // 2
    if h < 1 or w < 1:
        raise ValueError(f"wu13: input {tuple(input_shape)} is too small (the feature map vanishes)")
    layers = _head(layers, c * h * w, [ch(4096)], classes, t_clip, alpha, stochastic, dropout, fwb)
    return _finish(BNNSequential(*layers), "wu13", kw)


@_register
def alexnet_bnn(input_shape: Sequence[int] = (3, 224, 224), width: float = 1.0, classes: int = 1000,
                first_last: str = "binary", t_clip: float = 1.0, alpha: bool = False, stochastic: bool = False,
                zero_point: int = 128, frac_bits: int = 7, dropout: float = 0.5,
                first_last_bits: int = 8) -> BNNSequential:
    """AlexNet-shaped BNN: conv 96@11x11 stride 4, max-pool 3x3/2, conv 256@5x5, max-pool 3x3/2,
    conv 384, 384, 256 @3x3, max-pool 3x3/2, dense 4096, 4096, ``classes``, Scale ("same" padding
    everywhere: 224x224 gives 56 -> 27 -> 13 -> 6 pixels per side).  Dropout (training only; the
    export skips it) before every dense layer.  ``width``, ``input_shape`` and ``first_last`` as in wu13.
    """
    kw = dict(input_shape=list(input_shape), width=width, classes=classes, first_last=first_last, t_clip=t_clip,
              alpha=alpha, stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits, dropout=dropout)
    fwb = _first_last(first_last, first_last_bits, kw)
    ch = lambda n: max(1, int(round(n * width)))
    c, h, w = input_shape
    pool = lambda v: (v - 3) // 2 + 1
    layers = [InputQuant(zero_point, frac_bits)]
    c = _block(layers, c, ch(96), 11, 4, t_clip, alpha, stochastic, first=True,
               weight_bits=_exact_bits(fwb, 121 * c, zero_point) if fwb > 1 else 1)
    h, w = (h + 10 - 11) // 4 + 1, (w + 10 - 11) // 4 + 1
    layers.append(nn.MaxPool2d(3, 2))
    h, w = pool(h), pool(w)
    c = _block(layers, c, ch(256), 5, 1, t_clip, alpha, stochastic)
    layers.append(nn.MaxPool2d(3, 2))
    h, w = pool(h), pool(w)
    for n in (384, 384, 256):
        c = _block(layers, c, ch(n), 3, 1, t_clip, alpha, stochastic)
    layers.append(nn.MaxPool2d(3, 2))
    h, w = pool(h), pool(w)
    if h < 1 or w < 1:
        raise ValueError(f"alexnet_bnn: input {tuple(input_shape)} is too small (the feature map vanishes)")
    layers = _head(layers, c * h * w, [ch(4096), ch(4096)], classes, t_clip, alpha, stochastic, dropout, fwb)
    return _finish(BNNSequential(*layers), "alexnet_bnn", kw)


# ------------------------------------------------------------ shortcut networks
# Binary ResNet and DenseNet without bottlenecks (Bethge et al., "Learning to train a binary
# neural network", and "BinaryDenseNet"): bnnfpga.nn.BNNGraph models; see docs/shortcut-networks.md.


class _Graph:
    """Collects (name, module, inputs) nodes."""

    def __init__(self):
        self.nodes = []

    def add(self, name, module, inputs):
        self.nodes.append((name, module, list(inputs)))
        return name


def _pool_ok(h: int, w: int) -> bool:
    return h % 2 == 0 and w % 2 == 0 and h >= 2


def _stem_frac_cap(fwb, c_in, zero_point, frac_bits, c0, stages, base, ch):
    """Fixed-point stem of a binary ResNet: the largest weight_frac that keeps the residual stream exact in
    float32.  It is in units of 2**-(frac_bits + wf) and adds binary dot products shifted by that exponent,
    so (stem range) + 2**(frac_bits + wf) * (sum of the fan-ins of every added dot product) < 2**24."""
    if fwb == 1:
        return None
    m = max(zero_point, 255 - zero_point)
    stem = m * 9 * c_in * 2 ** (fwb - 1)
    total, c = 0, c0
    for si, nblocks in enumerate(stages):
        for bi in range(nblocks):
            out_c = ch(base * 2 ** si) if si > 0 and bi == 0 else c
            total += 9 * out_c + (c if si > 0 and bi == 0 else 0)  # conv2, and the 1x1 shortcut
            c = out_c
    room = (2 ** 24 - 1 - stem) / max(1, total)
    return max(0, int(math.floor(math.log2(room))) - frac_bits) if room >= 1 else 0


@_register
def binary_resnet(input_shape: Sequence[int] = (1, 28, 28), stages: Sequence[int] = (2, 2, 2, 2), base: int = 64,
                  width: float = 1.0, classes: int = 10, t_clip: float = 0.5, stochastic: bool = False,
                  zero_point: int = 128, frac_bits: int = 7, first_last: str = "binary", first_last_bits: int = 8):
    """Binary ResNet (ResNet-18-style stages of basic blocks, no bottleneck).

    stem: 3x3 fixed-point conv, integer output = the residual stream r (units 2**-frac_bits).
    basic block: BN -> sign -> 3x3 binary conv -> BN -> sign -> 3x3 binary conv (integer dot product),
    added to r.  The first block of stages 2.. doubles the channels: its input bits are
    max-pooled (when the map is even-sized) and a 1x1 binary conv (integer output) is the shortcut.
    head: BN -> sign -> binary dense layer -> scores.  Channels: base * 2**stage * width.
    """
    kw = dict(input_shape=list(input_shape), stages=list(stages), base=base, width=width, classes=classes,
              t_clip=t_clip, stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits)
    fwb = _first_last(first_last, first_last_bits, kw)
    c_in, h, w = input_shape
    ch = lambda n: max(1, int(round(n * width)))
    g = _Graph()
    c = ch(base)
    cap = _stem_frac_cap(fwb, c_in, zero_point, frac_bits, c, stages, base, ch)
    r = g.add("stem", ComputeNode(BinaryConv2d(c_in, c, 3, "same", input_kind="fixed", weight_bits=fwb,
                                               max_weight_frac=cap)), ["input"])
    for si, nblocks in enumerate(stages):
        for bi in range(nblocks):
            p = f"s{si}b{bi}_"
            a = g.add(p + "in", SignNode(c, t_clip, stochastic), [r])
            out_c, short, src = c, r, a
            if si > 0 and bi == 0:
                out_c = ch(base * 2 ** si)
                if _pool_ok(h, w):
                    src = g.add(p + "pool", nn.MaxPool2d(2), [a])
                    h, w = h // 2, w // 2
                short = g.add(p + "short", ComputeNode(BinaryConv2d(c, out_c, 1, "same", stochastic=stochastic)), [src])
            c1 = g.add(p + "conv1", ComputeNode(BinaryConv2d(c, out_c, 3, "same", stochastic=stochastic),
                                                 BatchNorm(out_c), BinaryActivation(t_clip, stochastic)), [src])
            c2 = g.add(p + "conv2", ComputeNode(BinaryConv2d(out_c, out_c, 3, "same", stochastic=stochastic)), [c1])
            r = g.add(p + "add", AddNode(), [short, c2])
            c = out_c
    a = g.add("head_in", SignNode(c, t_clip, stochastic), [r])
    g.add("fc_out", ComputeNode(BinaryLinear(c * h * w, classes, weight_bits=fwb)), [a])
    model = BNNGraph(InputQuant(zero_point, frac_bits), g.nodes, Scale(1.0 / (c * h * w) ** 0.5))
    model.arch = ("binary_resnet", kw)
    return model


@_register
def binary_densenet(input_shape: Sequence[int] = (1, 28, 28), b: int = 2, growth: int = 64, width: float = 1.0,
                    layers_per_unit: Optional[Sequence[int]] = None, reduction: float = 2.0, classes: int = 10,
                    t_clip: float = 0.5, stochastic: bool = False, zero_point: int = 128, frac_bits: int = 7,
                    first_last: str = "binary", first_last_bits: int = 8):
    """Binary DenseNet without bottleneck, n = 8b + 5 layers (Bethge et al.): 4 units of 2b dense layers,
    3 transitions, the stem and the classifier (``layers_per_unit`` overrides the units).

    stem: 3x3 fixed-point conv (2k channels) -> BN -> sign.  dense layer: 3x3 binary conv with growth
    rate k -> BN -> sign, its bits concatenated to its input.  transition: max-pool 2 (when the map is
    even-sized) -> 1x1 binary conv reducing the channels by ``reduction`` -> BN -> sign.
    head: binary dense layer -> scores.  k = growth * width.
    """
    kw = dict(input_shape=list(input_shape), b=b, growth=growth, width=width,
              layers_per_unit=list(layers_per_unit) if layers_per_unit is not None else None, reduction=reduction,
              classes=classes, t_clip=t_clip, stochastic=stochastic, zero_point=zero_point, frac_bits=frac_bits)
    fwb = _first_last(first_last, first_last_bits, kw)
    units = list(layers_per_unit) if layers_per_unit is not None else [2 * b] * 4
    c_in, h, w = input_shape
    k = max(1, int(round(growth * width)))
    g = _Graph()
    act = lambda: BinaryActivation(t_clip, stochastic)
    c = 2 * k
    x = g.add("stem", ComputeNode(BinaryConv2d(c_in, c, 3, "same", input_kind="fixed", weight_bits=fwb), BatchNorm(c),
                                  act()), ["input"])
    for u, n in enumerate(units):
        for j in range(n):
            new = g.add(f"u{u}l{j}", ComputeNode(BinaryConv2d(c, k, 3, "same", stochastic=stochastic), BatchNorm(k), act()), [x])
            x = g.add(f"u{u}cat{j}", ConcatNode(), [x, new])
            c += k
        if u < len(units) - 1:
            src = x
            if _pool_ok(h, w):
                src = g.add(f"t{u}pool", nn.MaxPool2d(2), [x])
                h, w = h // 2, w // 2
            out = max(1, int(round(c / reduction)))
            x = g.add(f"t{u}conv", ComputeNode(BinaryConv2d(c, out, 1, "same", stochastic=stochastic), BatchNorm(out), act()), [src])
            c = out
    g.add("fc_out", ComputeNode(BinaryLinear(c * h * w, classes, weight_bits=fwb)), [x])
    model = BNNGraph(InputQuant(zero_point, frac_bits), g.nodes, Scale(1.0 / (c * h * w) ** 0.5))
    model.arch = ("binary_densenet", kw)
    return model


def build(name: str, **kwargs) -> BNNSequential:
    if name not in ARCHS:
        raise ValueError(f"unknown architecture '{name}' (known: {', '.join(sorted(ARCHS))})")
    return ARCHS[name](**kwargs)
