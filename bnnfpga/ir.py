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
* **Binarized input** (optional, ``InputSpec.binarize_threshold = t``, an
  integer in [0, 256]): every raw pixel p becomes the bit ``p >= t`` (bit 1 =
  +1), as BNN-PYNQ's LFC binarizes MNIST pixels.  The first compute layer then
  has ``input_kind == "binary"`` and is an ordinary XNOR-popcount layer (its
  scores are ``2 * popcount - n`` if it is also the last); zero_point,
  frac_bits and bits are unused.  "same" padding of the binarized image uses
  bit 0 (-1), as for any binary map.  ``None`` (the default): fixed-point
  input as above.  Chains only (graph networks refuse it).
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
* **Strides** (an additive extension; 1 keeps the rules above).  A convolution
  with stride s >= 1 (torch semantics) pads p = (K-1)//2 ("same") or 0
  ("valid") rows/columns on each side, with the pad values above, and outputs
  ``floor((H + 2p - K) / s) + 1`` rows (columns likewise); output pixel
  (oy, ox) reads the window whose top-left corner is input pixel
  (oy*s - p, ox*s - p).  "same" means this padding rule, so with s > 1 the
  output is about H/s, not H.  A max-pool with kernel k and stride s has no
  padding: ``floor((H - k) / s) + 1`` output rows, window (oy*s, ox*s); k > s
  overlaps windows (AlexNet's 3x3/2), k < s skips pixels, and k == s is the
  classic pool (when k does not divide H, the last H mod k rows are dropped,
  as torch does).
* **Weights** are stored unpacked here as uint8 arrays of 0/1 bits
  (out, fan_in); the model file packs them (see ``bnnfpga.modelfile``).

Fixed-point weights (non-binary first and last layers), an additive extension
-------------------------------------------------------------------------------
A Dense or Conv2D layer has ``weight_bits`` (default 1: binary, everything
above).  With ``weight_bits = b`` in 2..16 its ``weights`` are an **int16**
array (out, fan_in) of signed integers w in ``[-2**(b-1), 2**(b-1) - 1]``
(two's complement b bits; the real weight the torch model uses is
``w * 2**-weight_frac``, informational for the hardware like ``frac_bits``).
Such a layer may only be the first compute layer or the last one (both in a
single-layer network):

* first layer (``input_kind == "fixed"``): ``acc = sum_i w_i * q_i``;
* last layer reading bits x in {-1,+1}: ``acc = sum_i w_i * x_i`` (bit 1 adds
  w_i, bit 0 subtracts it);
* either way the accumulator is an exact integer in :func:`acc_range`
  ``= [-n * 2**(b-1) * m, n * 2**(b-1) * m]`` (m = max |q| for pixels, 1 for
  bits; a bound that holds for every weight of b bits), which must fit in 31
  bits.  A hidden first layer thresholds ``acc`` exactly as above; a layer
  without thresholds outputs ``acc`` itself (the scores, or a graph's integer
  stream): never ``2 * acc - n``.
* ``score_scale`` (Dense, optional float > 0, only on the last layer): the
  positive factor from the integer scores to the torch model's real logits
  (``logits = scores * score_scale``: the fixed scaling layer, the weight and
  pixel scales).  It never changes the argmax; the hardware emits the integer
  scores and :meth:`bnnfpga.golden.GoldenModel.logits` applies it.

Graphs (shortcut networks: binary ResNet and DenseNet), an additive extension
-------------------------------------------------------------------------------
A network whose layers all have ``inputs=None`` and that uses only Dense,
Conv2D and MaxPool2D is a *chain* and follows exactly the rules above.  A
*graph* network (``Network.is_graph``) may also use:

* **inputs.** Every layer has ``inputs: list[str] | None``: the names of the
  earlier layers it reads (``None`` = the previous layer in the list; the first
  layer reads the image).  Layers stay in topological order (a layer names only
  layers before it).  Only ``layers[0]`` reads the image (it is a compute layer
  with ``input_kind == "fixed"``); every other compute layer reads bits.
* **Stream kinds.** Every layer output is a stream of *bits* (thresholded
  compute layers, Threshold, MaxPool2D, Concat) or of *integers* (compute
  layers without thresholds, Add).  Compute layers and MaxPool2D and Concat
  read bits; Add and Threshold read integers.
* **Integer output.** A compute layer without thresholds that is not the last
  layer outputs its integer dot product, exactly like the scores:
  ``2 * popcount - n`` for binary inputs (range [-n, n]), or the fixed
  accumulator ``sum_i w_i q_i`` for the image (range ``acc_range``).
* **Add** (two integer streams of the same shape):
  ``out = (a << shifts[0]) + (b << shifts[1])``.  The shifts align streams of
  different fixed-point scales exactly (a fixed-point stem in units of
  ``2**-frac_bits`` plus binary dot products in units of 1: shifts (0, frac_bits)).
* **Concat** (bit streams of the same height and width, or all flat): the
  channels of its inputs in order (channels innermost: a pixel holds the first
  input's channels, then the second's, ...).
* **Threshold** (an integer stream -> bits): per channel c, bit
  ``x >= t[c]`` (direction +1) or ``x <= t[c]`` (direction -1), exactly as a
  hidden layer's thresholds.  It is BatchNorm + sign on a residual stream.
* **Forks** are implicit: a stream that several layers name is duplicated
  (a duplicator stage in hardware).  Every layer but the last is read at least
  once; the last layer is a Dense layer without thresholds (the scores).
* **Ranges.** :func:`value_ranges` gives the inclusive range of every integer
  stream (from the fan-ins, the input range and the shifts) and
  :func:`range_bits` the two's complement width the hardware uses for it;
  Threshold thresholds must lie within that range plus one on each side.
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
    binarize_threshold: Optional[int] = None  # pixel p -> bit (p >= t); None: fixed-point q (module docstring)

    @property
    def binarized(self) -> bool:
        return self.binarize_threshold is not None

    def values(self, images: np.ndarray) -> np.ndarray:
        """Raw uint8 images -> what the first compute layer reads: q (int32), or bits (uint8) when binarized."""
        q = self.quantize(images)
        if self.binarize_threshold is None:
            return q
        return ((q + int(self.zero_point)) >= int(self.binarize_threshold)).astype(np.uint8)

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
    thresholds: Optional[Thresholds] = None  # None: last layer, integer scores (or integer output in a graph)
    inputs: Optional[List[str]] = None  # graph: names of the layers read (None: the previous layer)
    weight_bits: int = 1  # 1: binary (uint8 bits); 2..16: signed integer weights (int16), see the docstring
    weight_frac: int = 0  # fixed-point weights: the real weight is w * 2**-weight_frac
    score_scale: Optional[float] = None  # last layer: logits = scores * score_scale (None: not recorded)

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
    inputs: Optional[List[str]] = None
    weight_bits: int = 1  # see Dense
    weight_frac: int = 0

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
    inputs: Optional[List[str]] = None

    kind = "maxpool"


@dataclass
class Add:
    """Integer add of two integer streams of one shape: (a << shifts[0]) + (b << shifts[1])."""

    name: str
    inputs: List[str]
    shifts: List[int] = field(default_factory=lambda: [0, 0])

    kind = "add"


@dataclass
class Concat:
    """Channel concatenation of bit streams (same H and W, or all flat), in the order of ``inputs``."""

    name: str
    inputs: List[str]

    kind = "concat"


@dataclass
class Threshold:
    """Integer stream -> bits: per channel, x >= t (direction +1) or x <= t (direction -1)."""

    name: str
    channels: int
    thresholds: Thresholds
    inputs: Optional[List[str]] = None

    kind = "threshold"


Layer = Union[Dense, Conv2D, MaxPool2D, Add, Concat, Threshold]
GRAPH_TYPES = (Add, Concat, Threshold)


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

    @property
    def is_graph(self) -> bool:
        """True when the network uses graph features (inputs, Add, Concat, Threshold): see the module docstring."""
        return any(isinstance(l, GRAPH_TYPES) or getattr(l, "inputs", None) is not None for l in self.layers)

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


def layer_out_shape(layer, shape: Tuple[int, ...], where: str) -> Tuple[int, ...]:
    """Output shape of a dense, convolution or max-pool layer on an input of ``shape``
    (the shape rules shared by chains and graphs); IRError naming ``where`` otherwise."""
    if isinstance(layer, Dense):
        n = int(np.prod(shape))
        if n != layer.in_features:
            raise IRError(f"{where}: in_features={layer.in_features} but its input has {n} values (shape {shape})")
        return (layer.out_features,)
    if isinstance(layer, Conv2D):
        if len(shape) != 3:
            raise IRError(f"{where}: convolution needs an (H, W, C) input, got shape {shape}")
        h, w, c = shape
        if c != layer.in_channels:
            raise IRError(f"{where}: in_channels={layer.in_channels} but its input has {c} channels")
        s = layer.stride
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1:
            raise IRError(f"{where}: field 'stride' must be a positive integer, got {s!r}")
        if layer.padding == "same":
            if layer.kernel % 2 != 1:
                raise IRError(f"{where}: 'same' padding needs an odd kernel, got {layer.kernel}")
            if s == 1:
                return (h, w, layer.out_channels)
        elif layer.padding == "valid":
            if h < layer.kernel or w < layer.kernel:
                raise IRError(f"{where}: kernel {layer.kernel} larger than input {h}x{w}")
            if s == 1:
                return (h - layer.kernel + 1, w - layer.kernel + 1, layer.out_channels)
        else:
            raise IRError(f"{where}: field 'padding' must be 'valid' or 'same', got {layer.padding!r}")
        p = layer.pad  # strided: torch's floor((H + 2p - K) / s) + 1
        return ((h + 2 * p - layer.kernel) // s + 1, (w + 2 * p - layer.kernel) // s + 1, layer.out_channels)
    if isinstance(layer, MaxPool2D):
        if len(shape) != 3:
            raise IRError(f"{where}: max-pool needs an (H, W, C) input, got shape {shape}")
        h, w, c = shape
        k, s = layer.kernel, layer.stride
        for f, v in (("kernel", k), ("stride", s)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise IRError(f"{where}: field '{f}' must be a positive integer, got {v!r}")
        if h < k or w < k:
            raise IRError(f"{where}: max-pool window {k} larger than input {h}x{w}")
        return ((h - k) // s + 1, (w - k) // s + 1, c)  # = (h // k, w // k) when k == s divides them
    raise IRError(f"{where}: unknown layer type {type(layer).__name__}")


def infer_shapes(net: Network):
    """Walk the chain: returns per layer (in_shape, out_shape).

    Spatial shapes are (H, W, C); flat shapes are (F,).  For a graph network
    in_shape is the shape of the layer's first input (see :func:`graph_shapes`).
    """
    if net.is_graph:
        g = graph_shapes(net)
        return [(g.in_shapes[l.name][0], g.out_shapes[l.name]) for l in net.layers]
    shape: Tuple[int, ...] = net.input.shape
    out = []
    for i, layer in enumerate(net.layers):
        new = layer_out_shape(layer, shape, f"layer {i} '{layer.name}'")
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
    bt = sp.binarize_threshold
    if bt is not None and (not isinstance(bt, (int, np.integer)) or isinstance(bt, bool) or not 0 <= bt <= 256):
        raise IRError(f"input: field 'binarize_threshold' must be None or an integer in [0, 256], got {bt!r}")
    names = set()
    compute = net.compute_layers()
    if not compute:
        raise IRError("network has no dense or convolution layer")
    if net.is_graph:
        if bt is not None:
            raise IRError("input: field 'binarize_threshold' is not supported on graph networks (chains only)")
        _validate_graph(net)
        return
    infer_shapes(net)
    for i, layer in enumerate(net.layers):
        where = f"layer {i} '{layer.name}'"
        if not isinstance(layer.name, str) or not layer.name:
            raise IRError(f"layer {i}: field 'name' must be a non-empty string")
        if layer.name in names:
            raise IRError(f"{where}: duplicate layer name")
        names.add(layer.name)
        if isinstance(layer, (Dense, Conv2D)):
            _check_weights(net, where, layer, layer is compute[0] or layer is compute[-1], layer is compute[-1])
            if layer.input_kind not in ("binary", "fixed"):
                raise IRError(f"{where}: field 'input_kind' must be 'binary' or 'fixed', got {layer.input_kind!r}")
            want = "fixed" if layer is compute[0] and bt is None else "binary"
            if layer.input_kind != want:
                why = ("the input is binarized (binarize_threshold), so every compute layer reads bits" if bt is not None
                       else "the first compute layer reads fixed-point pixels, the others bits")
                raise IRError(f"{where}: field 'input_kind' must be {want!r} ({why})")
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


def weight_bits(layer) -> int:
    """1 for binary weights, b for b-bit signed integer weights (see the module docstring)."""
    return int(getattr(layer, "weight_bits", 1) or 1)


def uses_fixed_weights(net: Network) -> bool:
    """True when some layer has fixed-point weights or a score scale (model file format version 3)."""
    return any(weight_bits(l) > 1 or getattr(l, "score_scale", None) is not None for l in net.compute_layers())


def require_binary_weights(net: Network, what: str) -> None:
    """IRError (one line) when ``what`` (a backend or tool) meets a layer with fixed-point weights."""
    for l in net.compute_layers():
        if weight_bits(l) > 1:
            raise IRError(f"layer '{l.name}': {what} does not support fixed-point weights "
                          f"(weight_bits={weight_bits(l)}) yet")


def _check_weights(net: Network, where: str, layer, may_fix: bool, last: bool) -> None:
    """The checks of a compute layer's weights, weight_bits, weight_frac and score_scale."""
    wb = getattr(layer, "weight_bits", 1)
    if not isinstance(wb, (int, np.integer)) or isinstance(wb, bool) or not (wb == 1 or 2 <= wb <= 16):
        raise IRError(f"{where}: field 'weight_bits' must be 1 (binary) or 2..16, got {wb!r}")
    wf = getattr(layer, "weight_frac", 0)
    if not isinstance(wf, (int, np.integer)) or isinstance(wf, bool) or not 0 <= wf <= 31:
        raise IRError(f"{where}: field 'weight_frac' must be an integer in [0, 31], got {wf!r}")
    ss = getattr(layer, "score_scale", None)
    if ss is not None:
        if not last or layer.thresholds is not None:
            raise IRError(f"{where}: field 'score_scale' is only allowed on the last layer (the scores)")
        if not isinstance(ss, (float, int, np.floating)) or isinstance(ss, bool) or not (np.isfinite(ss) and ss > 0):
            raise IRError(f"{where}: field 'score_scale' must be a positive finite number, got {ss!r}")
    w = layer.weights
    exp = (layer.out_channels, layer.fan_in)
    if wb == 1:
        if not isinstance(w, np.ndarray) or w.dtype != np.uint8:
            raise IRError(f"{where}: field 'weights' must be a uint8 bit array, got {getattr(w, 'dtype', type(w))}")
        if w.shape != exp:
            raise IRError(f"{where}: field 'weights' has shape {w.shape}, expected {exp}")
        if w.size and w.max() > 1:
            raise IRError(f"{where}: field 'weights' holds values other than 0/1")
        if wf != 0:
            raise IRError(f"{where}: field 'weight_frac' must be 0 for binary weights (weight_bits=1), got {wf}")
        return
    if not may_fix:
        raise IRError(f"{where}: field 'weight_bits' = {wb}: fixed-point weights are only allowed on the first "
                      "or the last compute layer")
    if not isinstance(w, np.ndarray) or w.dtype != np.int16:
        raise IRError(f"{where}: field 'weights' must be an int16 array for weight_bits={wb}, "
                      f"got {getattr(w, 'dtype', type(w))}")
    if w.shape != exp:
        raise IRError(f"{where}: field 'weights' has shape {w.shape}, expected {exp}")
    if w.size and (int(w.min()) < -(1 << (wb - 1)) or int(w.max()) > (1 << (wb - 1)) - 1):
        raise IRError(f"{where}: field 'weights' holds values outside [{-(1 << (wb - 1))}, {(1 << (wb - 1)) - 1}] "
                      f"(weight_bits={wb})")
    lo, hi = acc_range(net, layer)
    if max(-lo, hi) >= 1 << 31:
        raise IRError(f"{where}: its accumulator range [{lo}, {hi}] does not fit in 32 bits "
                      "(fewer weight bits or a smaller fan-in)")


def acc_range(net: Network, layer) -> Tuple[int, int]:
    """Inclusive range of the layer's accumulator (popcount, or fixed sum)."""
    n = layer.fan_in
    wb = weight_bits(layer)
    if wb > 1:  # fixed-point weights: sum of w*q (pixels) or w*(+-1) (bits), |w| <= 2**(wb-1)
        m = 1
        if layer.input_kind == "fixed":
            m = max(net.input.zero_point, 255 - net.input.zero_point)
        return -m * n * (1 << (wb - 1)), m * n * (1 << (wb - 1))
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


# ---------------------------------------------------------------------------
# graphs (shortcut networks): see "Graphs" in the module docstring

IMAGE = "@image"  # the name graph helpers use for the image (never a layer name)


@dataclass
class GraphShapes:
    inputs: dict  # layer name -> list of input names (IMAGE for the image)
    in_shapes: dict  # layer name -> list of input shapes
    out_shapes: dict  # layer name -> output shape
    kinds: dict  # layer name -> "bits" | "int" | "scores"
    consumers: dict  # layer name -> list of the names of the layers that read it (in layer order)


def layer_inputs(net: Network) -> dict:
    """Layer name -> the names it reads (``None`` resolved to the previous layer; IMAGE for the image)."""
    out, prev = {}, IMAGE
    for i, layer in enumerate(net.layers):
        ins = getattr(layer, "inputs", None)
        out[layer.name] = [prev] if ins is None else list(ins)
        prev = layer.name
    return out


def graph_shapes(net: Network) -> GraphShapes:
    """Resolve inputs, shapes and stream kinds of a graph network; raises IRError naming the layer."""
    known = {IMAGE: net.input.shape}
    kinds = {IMAGE: "image"}
    ins_of, in_shapes, out_shapes, out_kinds = {}, {}, {}, {}
    consumers = {}
    compute = net.compute_layers()
    for i, layer in enumerate(net.layers):
        where = f"layer {i} '{layer.name}'"
        if not isinstance(layer.name, str) or not layer.name:
            raise IRError(f"layer {i}: field 'name' must be a non-empty string")
        if layer.name in known:
            raise IRError(f"{where}: duplicate layer name")
        raw = getattr(layer, "inputs", None)
        if raw is not None and (not isinstance(raw, (list, tuple)) or not all(isinstance(n, str) for n in raw)):
            raise IRError(f"{where}: field 'inputs' must be a list of layer names or None, got {raw!r:.60}")
        if raw is None:
            ins = [IMAGE] if i == 0 else [net.layers[i - 1].name]
        else:
            ins = list(raw)
            for n in ins:
                if n not in known or n == IMAGE:
                    later = any(l.name == n for l in net.layers[i:])
                    raise IRError(f"{where}: field 'inputs' names '{n}', which is "
                                  + ("not an earlier layer (layers must be in topological order)" if later else "no layer"))
        if i == 0 and ins != [IMAGE]:
            raise IRError(f"{where}: the first layer must read the image (inputs None)")
        if len(set(ins)) != len(ins):
            raise IRError(f"{where}: field 'inputs' names a layer twice")
        nin = {Add: 2}.get(type(layer), None)
        if isinstance(layer, Concat):
            if len(ins) < 2:
                raise IRError(f"{where}: concat needs at least two inputs, got {len(ins)}")
        elif nin is not None:
            if len(ins) != nin:
                raise IRError(f"{where}: add needs exactly two inputs, got {len(ins)}")
        elif len(ins) != 1:
            raise IRError(f"{where}: a {type(layer).__name__} layer reads one input, got {len(ins)}")
        shp = [known[n] for n in ins]
        kin = [kinds[n] for n in ins]
        for n in ins:
            consumers.setdefault(n, []).append(layer.name)
        s0 = shp[0]
        if isinstance(layer, (Dense, Conv2D)):
            if i > 0 and kin[0] != "bits":
                raise IRError(f"{where}: a compute layer reads bits, but '{ins[0]}' is an {kin[0]} stream")
            new = layer_out_shape(layer, s0, where)
            if layer is net.layers[-1] and layer.thresholds is None:
                kind = "scores"
            else:
                kind = "bits" if layer.thresholds is not None else "int"
        elif isinstance(layer, MaxPool2D):
            if kin[0] != "bits":
                raise IRError(f"{where}: max-pool reads bits, but '{ins[0]}' is an {kin[0]} stream")
            new, kind = layer_out_shape(layer, s0, where), "bits"
        elif isinstance(layer, Add):
            for n, k in zip(ins, kin):
                if k != "int":
                    raise IRError(f"{where}: add reads integer streams, but '{n}' is a {k} stream")
            if shp[0] != shp[1]:
                raise IRError(f"{where}: add of shapes {shp[0]} and {shp[1]}")
            sh = layer.shifts
            if (not isinstance(sh, (list, tuple)) or len(sh) != 2
                    or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 31 for v in sh)):
                raise IRError(f"{where}: field 'shifts' must be two integers in [0, 31], got {sh!r}")
            new, kind = shp[0], "int"
        elif isinstance(layer, Concat):
            for n, k in zip(ins, kin):
                if k != "bits":
                    raise IRError(f"{where}: concat reads bit streams, but '{n}' is a {k} stream")
            if any(len(s) != len(s0) or s[:-1] != s0[:-1] for s in shp):
                raise IRError(f"{where}: concat needs inputs of one height and width, got {shp}")
            new, kind = tuple(s0[:-1]) + (sum(s[-1] for s in shp),), "bits"
        elif isinstance(layer, Threshold):
            if kin[0] != "int":
                raise IRError(f"{where}: threshold reads an integer stream, but '{ins[0]}' is a {kin[0]} stream")
            if s0[-1] != layer.channels:
                raise IRError(f"{where}: channels={layer.channels} but its input has {s0[-1]} channels")
            new, kind = s0, "bits"
        else:
            raise IRError(f"{where}: unknown layer type {type(layer).__name__}")
        known[layer.name], kinds[layer.name] = new, kind
        ins_of[layer.name], in_shapes[layer.name], out_shapes[layer.name], out_kinds[layer.name] = ins, shp, new, kind
    return GraphShapes(ins_of, in_shapes, out_shapes, out_kinds, consumers)


def _check_thresholds(where: str, th, c: int, lo: int, hi: int) -> None:
    if th is None:
        raise IRError(f"{where}: field 'thresholds' is missing")
    for f, arr in (("thresholds.t", th.t), ("thresholds.direction", th.direction)):
        if not isinstance(arr, np.ndarray) or arr.shape != (c,):
            raise IRError(f"{where}: field '{f}' must have shape ({c},), got {getattr(arr, 'shape', None)}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise IRError(f"{where}: field '{f}' must be integer, got {arr.dtype}")
    if not np.all(np.isin(th.direction, (-1, 1))):
        raise IRError(f"{where}: field 'thresholds.direction' must hold only -1/+1")
    if th.t.min() < lo - 1 or th.t.max() > hi + 1:
        raise IRError(f"{where}: field 'thresholds.t' outside the accumulator range [{lo - 1}, {hi + 1}]")


def _validate_graph(net: Network) -> None:
    g = graph_shapes(net)
    compute = net.compute_layers()
    last = net.layers[-1]
    if not isinstance(last, Dense) or last is not compute[-1] or last.thresholds is not None:
        raise IRError(f"layer {len(net.layers) - 1} '{last.name}': the last layer must be a dense layer without "
                      "thresholds (the scores), after every other compute layer")
    ranges = value_ranges(net, g)
    for i, layer in enumerate(net.layers):
        where = f"layer {i} '{layer.name}'"
        if layer is not last and not g.consumers.get(layer.name):
            raise IRError(f"{where}: its output is read by no layer (every layer but the last must be read)")
        if isinstance(layer, (Dense, Conv2D)):
            _check_weights(net, where, layer, i == 0 or layer is last, layer is last)
            want = "fixed" if i == 0 else "binary"
            if layer.input_kind != want:
                raise IRError(f"{where}: field 'input_kind' must be {want!r} (the first layer reads fixed-point pixels, the others bits)")
            if layer.thresholds is not None:
                lo, hi = acc_range(net, layer)
                _check_thresholds(where, layer.thresholds, layer.out_channels, lo, hi)
            elif layer is not last:
                bad = [n for n in g.consumers[layer.name] if not isinstance(_by_name(net, n), (Add, Threshold))]
                if bad:
                    raise IRError(f"{where}: an integer output (no thresholds) can only feed add/threshold layers, "
                                  f"not '{bad[0]}'")
        elif isinstance(layer, Threshold):
            lo, hi = ranges[g.inputs[layer.name][0]]
            _check_thresholds(where, layer.thresholds, layer.channels, lo, hi)
    if last.name in g.consumers:
        raise IRError(f"layer '{last.name}': the scores layer must not be read by another layer")
    if net.classes and len(net.classes) != net.num_classes:
        raise IRError(f"classes: {len(net.classes)} names for {net.num_classes} outputs")


def _by_name(net: Network, name: str):
    for l in net.layers:
        if l.name == name:
            return l
    raise KeyError(name)


def value_ranges(net: Network, g: Optional[GraphShapes] = None) -> dict:
    """Inclusive (lo, hi) of every integer stream (compute layers without thresholds, Add) by layer name.

    Compute layers: ``[-n, n]`` for binary inputs, ``acc_range`` for the image.
    Add: ``(lo_a << s_a) + (lo_b << s_b)`` .. ``(hi_a << s_a) + (hi_b << s_b)``.
    These are the bounds every value of the stream lies in, for every input image.
    """
    g = g or graph_shapes(net)
    out = {}
    for layer in net.layers:
        if g.kinds[layer.name] not in ("int", "scores"):
            continue
        if isinstance(layer, (Dense, Conv2D)):
            fixed = layer.input_kind == "fixed" or weight_bits(layer) > 1
            out[layer.name] = acc_range(net, layer) if fixed else (-layer.fan_in, layer.fan_in)
        elif isinstance(layer, Add):
            (la, ha), (lb, hb) = (out[n] for n in g.inputs[layer.name])
            sa, sb = (int(v) for v in layer.shifts)
            out[layer.name] = ((la << sa) + (lb << sb), (ha << sa) + (hb << sb))
    return out


def range_bits(lo: int, hi: int) -> int:
    """Bits of the two's complement integer type holding every value in [lo, hi]."""
    return int(max(int(hi), -int(lo) - 1, 0)).bit_length() + 1
