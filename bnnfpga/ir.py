"""The network description (IR) every stage of bnnfpga reads or writes.

A :class:`Network` is a chain of layers that turns one raw uint8 image into
integer class scores, written in the integer arithmetic the hardware runs.

Conventions (the whole project relies on them):

* **Bits.** A binary value v in {-1, +1} is stored as the bit ``b = (v + 1) / 2``,
  so bit 1 means +1 and bit 0 means -1.
* **XNOR-popcount.** For x, w in {-1,+1}^n stored as bits,
  ``x . w = 2 * popcount(xnor(x, w)) - n``.  Binary layers accumulate the
  popcount ``acc = popcount(xnor(x, w))`` in ``[0, n]``.
* **Fixed-point input.** Raw pixels p (uint8) become signed integers
  ``q = p - zero_point`` (the real input the torch model sees is
  ``q * 2**-frac_bits``).  A layer with ``input_kind == "fixed"`` accumulates
  ``acc = sum_i w_i * q_i`` with w_i in {-1,+1}.
* **Thresholds.** A hidden layer outputs, per output channel c, the bit
  ``acc >= t[c]`` when ``direction[c] == +1`` and ``acc <= t[c]`` when
  ``direction[c] == -1`` (negative BatchNorm gamma, or negative alpha).  A
  constant channel is expressed with a threshold outside the accumulator range.
* **Scores.** The last layer has no thresholds; it outputs integer scores:
  ``2 * popcount - n`` (the +-1 dot product) for binary inputs, or the fixed
  accumulator for fixed inputs.  The predicted class is the index of the
  largest score; ties go to the lowest index (numpy.argmax).  Top-k orders by
  score descending, then index ascending.
* **Layout.** Feature maps are (H, W, C), channels innermost, as the hardware
  streams them.  A Dense layer after a feature map reads it flattened in
  (H, W, C) order.  Convolution weights are (out, K, K, in) flattened to
  (out, K*K*in) in (ky, kx, c) order: exactly the order of an im2col window.
* **Padding.** "same" padding of a binary feature map uses the value -1
  (bit 0): it is the identity of max-pool (OR) and is what torch training uses
  (see ``bnnfpga.nn.BinaryConv2d``).  Padding of fixed-point input uses q = 0.
* **Max-pool** of binary values is the boolean OR of the window's bits.
* **Weights** are stored unpacked here as uint8 arrays of 0/1 bits
  (out, fan_in); the model file packs them (see ``bnnfpga.modelfile``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

import numpy as np

IR_VERSION = 1


class IRError(ValueError):
    """A network description that breaks one of the IR's rules."""


@dataclass
class InputSpec:
    """The raw image the accelerator receives and how it becomes integers."""

    height: int
    width: int
    channels: int
    zero_point: int = 128
    frac_bits: int = 7
    bits: int = 8  # width of q = p - zero_point, two's complement

    @property
    def shape(self) -> Tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    def quantize(self, images: np.ndarray) -> np.ndarray:
        """Raw uint8 images (N,H,W) or (N,H,W,C) -> int32 q (N,H,W,C)."""
        x = np.asarray(images)
        if x.ndim == 3 and self.channels == 1:
            x = x[..., None]
        if x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            raise IRError(
                f"input images have shape {tuple(np.shape(images))}, expected "
                f"(N, {self.height}, {self.width}, {self.channels})"
                + (f" or (N, {self.height}, {self.width})" if self.channels == 1 else "")
            )
        if x.dtype != np.uint8:
            raise IRError(f"input images have dtype {x.dtype}, expected uint8 raw pixels")
        return x.astype(np.int32) - int(self.zero_point)


@dataclass
class Thresholds:
    """Per-output-channel integer threshold and comparison direction."""

    t: np.ndarray  # int64 (C,)
    direction: np.ndarray  # int8 (C,), +1: acc >= t, -1: acc <= t

    def apply(self, acc: np.ndarray) -> np.ndarray:
        """acc (..., C) integer -> bits (..., C) uint8."""
        ge = acc >= self.t
        le = acc <= self.t
        return np.where(self.direction > 0, ge, le).astype(np.uint8)


@dataclass
class Dense:
    name: str
    in_features: int
    out_features: int
    weights: np.ndarray  # uint8 bits (out, in)
    input_kind: str = "binary"  # "binary" | "fixed"
    thresholds: Optional[Thresholds] = None  # None: last layer, integer scores

    kind = "dense"

    @property
    def fan_in(self) -> int:
        return self.in_features

    @property
    def out_channels(self) -> int:
        return self.out_features


@dataclass
class Conv2D:
    name: str
    in_channels: int
    out_channels: int
    kernel: int
    padding: str  # "valid" | "same"
    weights: np.ndarray  # uint8 bits (out, K*K*in) in (ky, kx, c) order
    input_kind: str = "binary"
    thresholds: Optional[Thresholds] = None
    stride: int = 1

    kind = "conv"

    @property
    def fan_in(self) -> int:
        return self.kernel * self.kernel * self.in_channels

    @property
    def pad(self) -> int:
        return (self.kernel - 1) // 2 if self.padding == "same" else 0


@dataclass
class MaxPool2D:
    name: str
    kernel: int = 2
    stride: int = 2

    kind = "maxpool"


Layer = Union[Dense, Conv2D, MaxPool2D]


@dataclass
class Network:
    name: str
    input: InputSpec
    layers: List[Layer]
    classes: List[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return self.layers[-1].out_features if isinstance(self.layers[-1], Dense) else 0

    def compute_layers(self) -> List[Union[Dense, Conv2D]]:
        return [l for l in self.layers if isinstance(l, (Dense, Conv2D))]

    def shapes(self) -> List[Tuple[Tuple[int, ...], Tuple[int, ...]]]:
        """(input shape, output shape) of every layer; validates the chain."""
        return infer_shapes(self)

    def validate(self) -> "Network":
        validate(self)
        return self


def sanitize_identifier(name: str, used: Optional[set] = None) -> str:
    """A C/Verilog-safe identifier derived from a layer name, unique within ``used``."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", str(name)) or "layer"
    if not (s[0].isalpha()):
        s = "l_" + s
    s = s[:48]
    if used is not None:
        base, i = s, 1
        while s.lower() in used:
            s = f"{base}_{i}"
            i += 1
        used.add(s.lower())
    return s


def infer_shapes(net: Network):
    """Walk the chain: returns per layer (in_shape, out_shape).

    Spatial shapes are (H, W, C); flat shapes are (F,).
    """
    shape: Tuple[int, ...] = net.input.shape
    out = []
    for i, layer in enumerate(net.layers):
        where = f"layer {i} '{layer.name}'"
        if isinstance(layer, Dense):
            n = int(np.prod(shape))
            if n != layer.in_features:
                raise IRError(f"{where}: in_features={layer.in_features} but its input has {n} values (shape {shape})")
            new = (layer.out_features,)
        elif isinstance(layer, Conv2D):
            if len(shape) != 3:
                raise IRError(f"{where}: convolution needs an (H, W, C) input, got shape {shape}")
            h, w, c = shape
            if c != layer.in_channels:
                raise IRError(f"{where}: in_channels={layer.in_channels} but its input has {c} channels")
            if layer.stride != 1:
                raise IRError(f"{where}: stride {layer.stride} is not supported (only 1)")
            if layer.padding == "same":
                if layer.kernel % 2 != 1:
                    raise IRError(f"{where}: 'same' padding needs an odd kernel, got {layer.kernel}")
                new = (h, w, layer.out_channels)
            else:
                if h < layer.kernel or w < layer.kernel:
                    raise IRError(f"{where}: kernel {layer.kernel} larger than input {h}x{w}")
                new = (h - layer.kernel + 1, w - layer.kernel + 1, layer.out_channels)
        elif isinstance(layer, MaxPool2D):
            if len(shape) != 3:
                raise IRError(f"{where}: max-pool needs an (H, W, C) input, got shape {shape}")
            h, w, c = shape
            if layer.kernel != layer.stride:
                raise IRError(f"{where}: max-pool kernel {layer.kernel} != stride {layer.stride} is not supported")
            if h % layer.kernel or w % layer.kernel:
                raise IRError(f"{where}: max-pool {layer.kernel} does not divide input {h}x{w}")
            new = (h // layer.kernel, w // layer.kernel, c)
        else:
            raise IRError(f"{where}: unknown layer type {type(layer).__name__}")
        out.append((shape, new))
        shape = new
    return out


def validate(net: Network) -> None:
    """Raise IRError (one line, naming the layer and field) if the network is malformed."""
    if not net.layers:
        raise IRError("network has no layers")
    sp = net.input
    for f in ("height", "width", "channels", "bits"):
        v = getattr(sp, f)
        if not isinstance(v, (int, np.integer)) or v <= 0:
            raise IRError(f"input: field '{f}' must be a positive integer, got {v!r}")
    if not (0 <= sp.zero_point <= 255):
        raise IRError(f"input: zero_point must be in [0, 255], got {sp.zero_point}")
    if (255 - sp.zero_point) >= 2 ** (sp.bits - 1) or sp.zero_point > 2 ** (sp.bits - 1):
        raise IRError(f"input: q = p - {sp.zero_point} does not fit in {sp.bits} signed bits")
    names = set()
    compute = net.compute_layers()
    if not compute:
        raise IRError("network has no dense or convolution layer")
    infer_shapes(net)
    for i, layer in enumerate(net.layers):
        where = f"layer {i} '{layer.name}'"
        if not isinstance(layer.name, str) or not layer.name:
            raise IRError(f"layer {i}: field 'name' must be a non-empty string")
        if layer.name in names:
            raise IRError(f"{where}: duplicate layer name")
        names.add(layer.name)
        if isinstance(layer, (Dense, Conv2D)):
            w = layer.weights
            if not isinstance(w, np.ndarray) or w.dtype != np.uint8:
                raise IRError(f"{where}: field 'weights' must be a uint8 bit array, got {getattr(w, 'dtype', type(w))}")
            exp = (layer.out_channels, layer.fan_in)
            if w.shape != exp:
                raise IRError(f"{where}: field 'weights' has shape {w.shape}, expected {exp}")
            if w.size and w.max() > 1:
                raise IRError(f"{where}: field 'weights' holds values other than 0/1")
            if layer.input_kind not in ("binary", "fixed"):
                raise IRError(f"{where}: field 'input_kind' must be 'binary' or 'fixed', got {layer.input_kind!r}")
            want = "fixed" if layer is compute[0] else "binary"
            if layer.input_kind != want:
                raise IRError(f"{where}: field 'input_kind' must be {want!r} (the first compute layer reads fixed-point pixels, the others bits)")
            th = layer.thresholds
            last = layer is compute[-1]
            if last:
                if th is not None:
                    raise IRError(f"{where}: the last layer emits scores and must not have thresholds")
                if not isinstance(layer, Dense):
                    raise IRError(f"{where}: the last layer must be dense")
                if i != len(net.layers) - 1:
                    raise IRError(f"{where}: the last compute layer must be the last layer")
            else:
                if th is None:
                    raise IRError(f"{where}: a hidden layer needs thresholds")
                c = layer.out_channels
                for f, arr in (("thresholds.t", th.t), ("thresholds.direction", th.direction)):
                    if not isinstance(arr, np.ndarray) or arr.shape != (c,):
                        raise IRError(f"{where}: field '{f}' must have shape ({c},), got {getattr(arr, 'shape', None)}")
                    if not np.issubdtype(arr.dtype, np.integer):
                        raise IRError(f"{where}: field '{f}' must be integer, got {arr.dtype}")
                if not np.all(np.isin(th.direction, (-1, 1))):
                    raise IRError(f"{where}: field 'thresholds.direction' must hold only -1/+1")
                lo, hi = acc_range(net, layer)
                if th.t.min() < lo - 1 or th.t.max() > hi + 1:
                    raise IRError(f"{where}: field 'thresholds.t' outside the accumulator range [{lo - 1}, {hi + 1}]")
        if isinstance(layer, MaxPool2D) and not any(isinstance(l, (Dense, Conv2D)) for l in net.layers[:i]):
            raise IRError(f"{where}: max-pool must follow a compute layer (it pools binary maps)")
        if isinstance(layer, Conv2D) and layer.padding not in ("valid", "same"):
            raise IRError(f"{where}: field 'padding' must be 'valid' or 'same', got {layer.padding!r}")
    if net.classes and len(net.classes) != net.num_classes:
        raise IRError(f"classes: {len(net.classes)} names for {net.num_classes} outputs")


def acc_range(net: Network, layer) -> Tuple[int, int]:
    """Inclusive range of the layer's accumulator (popcount, or fixed sum)."""
    n = layer.fan_in
    if layer.input_kind == "fixed":
        qmin = -net.input.zero_point
        qmax = 255 - net.input.zero_point
        m = max(abs(qmin), abs(qmax))
        return -m * n, m * n
    return 0, n


def acc_bits(net: Network, layer) -> int:
    """Bits of a two's complement (fixed) or unsigned (popcount) accumulator."""
    lo, hi = acc_range(net, layer)
    if lo < 0:
        return int(max(hi, -lo - 1)).bit_length() + 1
    return int(hi).bit_length()
