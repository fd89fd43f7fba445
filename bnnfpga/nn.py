"""PyTorch building blocks for binarized networks (BinaryConnect, BinaryNet, XNOR-Net).

Every block is written so that its eval-mode forward is reproduced exactly by
the integer pipeline (``bnnfpga.export`` folds it, ``bnnfpga.golden`` runs it):

* :class:`BinaryLinear` / :class:`BinaryConv2d` keep latent real weights
  (clipped to [-1, 1] after each optimizer step by :func:`clip_weights`) and use
  their sign (w >= 0 -> +1) in the forward pass; the gradient passes straight
  through to the latent weights.  Stochastic binarization draws +1 with
  probability hard_sigmoid(w) = clip((w + 1) / 2, 0, 1) in training and is
  deterministic in eval mode.  The optional XNOR-Net scale ``alpha = mean|W|``
  per output channel multiplies the integer dot product (after it, so the dot
  product itself stays an exact integer); it folds into the thresholds.
* :class:`BinaryActivation`: sign (x >= 0 -> +1) with the straight-through
  estimator: gradient 1 where |x| <= t_clip, 0 elsewhere (t_clip = 1 in
  BinaryNet, 0.5 recommended by Bethge et al.).
* :class:`BatchNorm`: a BatchNorm whose eval forward is written as explicit
  elementwise float32 operations ``(x - mean) * (gamma / sqrt(var + eps)) + beta``
  so that threshold folding can evaluate the very same arithmetic.
* :class:`InputQuant`: raw pixels p (0..255, as floats) -> (p - zero_point) * 2**-frac_bits,
  exact in float32; the model file records zero_point and frac_bits.
* "same" padding of a binary feature map uses the fixed value -1 (the bit 0 in
  hardware); padding of the fixed-point input uses 0 (q = 0).  A strided
  :class:`BinaryConv2d` pads (K-1)//2 on each side ("same") and then strides as
  torch does (output floor((H + 2p - K) / s) + 1).  ``nn.MaxPool2d(k, s)``
  (no padding, any k and s, e.g. the overlapping 3x3/2) pools +-1 maps, and
  ``nn.Dropout`` may sit anywhere in training: the export skips it.
* :class:`Scale`: a learnable positive scalar on the last layer's integer scores;
  it does not change the argmax and is dropped by the export (which records it
  as the last layer's ``score_scale`` when that layer has fixed-point weights).
* Fixed-point weights (``weight_bits=b > 1`` on BinaryLinear / BinaryConv2d, for
  the first and the last layer, as in the BinaryNet / XNOR-Net papers): the
  forward uses ``w_int * 2**-wf`` with ``w_int = clamp(round(w * 2**wf),
  -2**(b-1), 2**(b-1) - 1)`` and a per-layer power of two ``wf``
  (:meth:`_BinaryWeights.weight_frac`: the largest |w| just fits b bits, at
  most ``max_weight_frac`` when given); the gradient passes straight through.  The dot products stay exact in float32
  (integers times ``2**-(wf + frac_bits)``), so the export's integer
  accumulators equal torch's.
* ``nn.Dropout`` may sit anywhere in a BNNSequential: it acts in training only
  and the export skips it.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD_BINARY = -1.0  # the fixed pad value of binarized feature maps ("same" convolutions)


# ---------------------------------------------------------------- binarization
class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, t_clip: float):
        ctx.save_for_backward(x)
        ctx.t_clip = t_clip
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= ctx.t_clip).to(g.dtype), None


class _StochasticSignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, t_clip: float):
        ctx.save_for_backward(x)
        ctx.t_clip = t_clip
        p = hard_sigmoid(x)
        return torch.where(torch.rand_like(x) < p, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= ctx.t_clip).to(g.dtype), None


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp((x + 1.0) / 2.0, 0.0, 1.0)


def sign_ste(x: torch.Tensor, t_clip: float = 1.0, stochastic: bool = False) -> torch.Tensor:
    """Sign with a straight-through gradient clipped at |x| <= t_clip."""
    fn = _StochasticSignSTE if stochastic else _SignSTE
    return fn.apply(x, float(t_clip))


def fixed_weight_frac(w: torch.Tensor, bits: int) -> int:
    """The per-layer power-of-two scale 2**-wf of b-bit weights: the largest wf (0..31) with
    max|w| * 2**wf <= 2**(b-1) (at least 0, and b-1 for all-zero weights)."""
    m = float(w.detach().abs().max()) if w.numel() else 0.0
    if not m > 0 or not math.isfinite(m):
        return int(bits) - 1
    return int(min(31, max(0, (int(bits) - 1) - math.ceil(math.log2(m)))))


def fixed_weight_ints(w: torch.Tensor, bits: int, frac: int) -> torch.Tensor:
    """Latent weights -> the integers clamp(round(w * 2**frac), -2**(b-1), 2**(b-1) - 1) (float tensor)."""
    q = 2 ** (int(bits) - 1)
    return torch.clamp(torch.round(w * (2.0 ** frac)), -q, q - 1)


def quantize_weight(w: torch.Tensor, bits: int, frac: int) -> torch.Tensor:
    """Latent weights -> fixed point w_int * 2**-frac (straight-through gradient)."""
    return w + (fixed_weight_ints(w, bits, frac) * (2.0 ** -frac) - w).detach()


def binarize_weight(w: torch.Tensor, stochastic: bool = False) -> torch.Tensor:
    """Latent weights -> +-1 (identity gradient: BinaryConnect)."""
    if stochastic:
        b = torch.where(torch.rand_like(w) < hard_sigmoid(w), torch.ones_like(w), -torch.ones_like(w))
    else:
        b = torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))
    return w + (b - w).detach()


class BinaryActivation(nn.Module):
    def __init__(self, t_clip: float = 1.0, stochastic: bool = False):
        super().__init__()
        self.t_clip = float(t_clip)
        self.stochastic = bool(stochastic)

    def forward(self, x):
        return sign_ste(x, self.t_clip, self.stochastic and self.training)

    def extra_repr(self):
        return f"t_clip={self.t_clip}, stochastic={self.stochastic}"


# ------------------------------------------------------------- compute layers
class _BinaryWeights(nn.Module):
    """Shared part of binary dense/conv layers: latent weights, alpha, recording."""

    def _init_binary(self, weight_shape, alpha: bool, stochastic: bool, input_kind: str, weight_bits: int = 1,
                     max_weight_frac: Optional[int] = None):
        self.weight = nn.Parameter(torch.empty(weight_shape))
        # Glorot-uniform latent init inside [-1, 1]
        fan_in = math.prod(weight_shape[1:])
        bound = min(1.0, math.sqrt(6.0 / (fan_in + weight_shape[0])))
        nn.init.uniform_(self.weight, -bound, bound)
        self.use_alpha = bool(alpha)
        self.stochastic = bool(stochastic)
        if input_kind not in ("binary", "fixed"):
            raise ValueError(f"input_kind must be 'binary' or 'fixed', got {input_kind!r}")
        self.input_kind = input_kind
        self.weight_bits = int(weight_bits)
        self.max_weight_frac = None if max_weight_frac is None else int(max_weight_frac)  # caps weight_frac()
        if not (self.weight_bits == 1 or 2 <= self.weight_bits <= 16):
            raise ValueError(f"weight_bits must be 1 (binary) or 2..16, got {weight_bits!r}")
        if self.weight_bits > 1 and (self.use_alpha or self.stochastic):
            raise ValueError("fixed-point weights (weight_bits > 1) cannot use alpha or stochastic binarization")
        self.record = False  # when True, keep the integer-valued dot product of the last call
        self.last_dot: Optional[torch.Tensor] = None

    def binary_weight(self) -> torch.Tensor:
        if self.weight_bits > 1:
            return quantize_weight(self.weight, self.weight_bits, self.weight_frac())
        return binarize_weight(self.weight, self.stochastic and self.training)

    def weight_frac(self) -> int:
        """Fixed-point weights: the exponent wf of the weights' unit 2**-wf (0 for binary weights)."""
        if self.weight_bits == 1:
            return 0
        wf = fixed_weight_frac(self.weight, self.weight_bits)
        return wf if self.max_weight_frac is None else max(0, min(wf, self.max_weight_frac))

    def alpha(self) -> torch.Tensor:
        """XNOR-Net per-output-channel scale mean|W| (latent weights)."""
        return self.weight.abs().flatten(1).mean(dim=1)

    def _finish(self, dot: torch.Tensor, view) -> torch.Tensor:
        if self.record:
            self.last_dot = dot.detach()
        if self.use_alpha:
            return dot * self.alpha().view(view)
        return dot


class BinaryLinear(_BinaryWeights):
    def __init__(self, in_features, out_features, alpha=False, stochastic=False, input_kind="binary", weight_bits=1,
                 max_weight_frac=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self._init_binary((self.out_features, self.in_features), alpha, stochastic, input_kind, weight_bits,
                          max_weight_frac)

    def forward(self, x):
        return self._finish(F.linear(x, self.binary_weight()), (1, -1))

    def extra_repr(self):
        return (f"{self.in_features}, {self.out_features}, alpha={self.use_alpha}, input={self.input_kind}"
                + (f", weight_bits={self.weight_bits}" if self.weight_bits > 1 else ""))


class BinaryConv2d(_BinaryWeights):
    def __init__(self, in_channels, out_channels, kernel_size=3, padding="valid", alpha=False,
                 stochastic=False, input_kind="binary", stride=1, weight_bits=1, max_weight_frac=None):
        super().__init__()
        self.stride = int(stride)
        if self.stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        if padding == "same" and kernel_size % 2 != 1:
            raise ValueError("'same' padding needs an odd kernel size")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.padding = int(kernel_size), padding
        self._init_binary((self.out_channels, self.in_channels, self.kernel_size, self.kernel_size),
                          alpha, stochastic, input_kind, weight_bits, max_weight_frac)

    @property
    def pad_value(self) -> float:
        return 0.0 if self.input_kind == "fixed" else PAD_BINARY

    def forward(self, x):
        if self.padding == "same":
            p = (self.kernel_size - 1) // 2
            x = F.pad(x, (p, p, p, p), value=self.pad_value)
        return self._finish(F.conv2d(x, self.binary_weight(), stride=self.stride), (1, -1, 1, 1))

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, padding={self.padding}, "
                + (f"stride={self.stride}, " if self.stride != 1 else "")
                + f"alpha={self.use_alpha}, input={self.input_kind}"
                + (f", weight_bits={self.weight_bits}" if self.weight_bits > 1 else ""))


# ------------------------------------------------------------------ the rest
def bn_eval(x: torch.Tensor, bn: "BatchNorm") -> torch.Tensor:
    """BatchNorm inference as explicit float32 elementwise ops (the folding evaluates exactly this)."""
    view = (1, -1) + (1,) * (x.dim() - 2)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (x - bn.running_mean.view(view)) * scale.view(view) + bn.bias.view(view)


class BatchNorm(nn.BatchNorm1d):
    """BatchNorm over channel dim 1 of (N, C) or (N, C, H, W) inputs."""

    def _check_input_dim(self, x):
        if x.dim() not in (2, 4):
            raise ValueError(f"expected a 2D or 4D input, got {x.dim()}D")

    def forward(self, x):
        if self.training:
            return super().forward(x)
        return bn_eval(x, self)


class InputQuant(nn.Module):
    """Raw pixels (0..255 floats) -> fixed point (p - zero_point) * 2**-frac_bits.

    ``binarize`` (an integer threshold t, IR ``InputSpec.binarize_threshold``): pixels
    become +1 where p >= t, else -1, exactly the bits the hardware makes; the first
    compute layer then reads binary values (``input_kind="binary"``)."""

    def __init__(self, zero_point: int = 128, frac_bits: int = 7, bits: int = 8, binarize: Optional[int] = None):
        super().__init__()
        self.zero_point, self.frac_bits, self.bits = int(zero_point), int(frac_bits), int(bits)
        self.binarize = None if binarize is None else int(binarize)

    def forward(self, x):
        if self.binarize is not None:
            return torch.where(torch.round(x) >= self.binarize, 1.0, -1.0).to(x.dtype)
        return (torch.round(x) - self.zero_point) * (2.0 ** -self.frac_bits)

    def extra_repr(self):
        return f"zero_point={self.zero_point}, frac_bits={self.frac_bits}" + (
            f", binarize={self.binarize}" if self.binarize is not None else "")


class Scale(nn.Module):
    """Learnable positive scalar on the final scores (argmax-invariant)."""

    def __init__(self, init: float = 1.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(float(math.log(init))))

    def forward(self, x):
        return x * torch.exp(self.log_scale)


class Flatten(nn.Module):
    def forward(self, x):
        return x.flatten(1)


class BNNSequential(nn.Sequential):
    """A chain of the blocks above; ``bnnfpga.export`` turns it into the IR."""

    def clip_weights(self):
        clip_weights(self)

    def set_record(self, on: bool = True):
        for m in self.modules():
            if isinstance(m, _BinaryWeights):
                m.record = on
                if not on:
                    m.last_dot = None


def clip_weights(model: nn.Module) -> None:
    """Clip latent binary weights to [-1, 1] (BinaryConnect), after each optimizer step."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BinaryWeights):
                m.weight.clamp_(-1.0, 1.0)


def binary_layers(model: nn.Module):
    return [m for m in model.modules() if isinstance(m, _BinaryWeights)]


# ------------------------------------------------------ graphs (shortcut networks)
class ComputeNode(nn.Module):
    """A binary dense/conv layer, optionally followed by [BatchNorm and] a sign activation.

    With an activation the node outputs +-1 (bits in hardware).  Without one it
    outputs the layer's integer dot product itself (an integer stream in
    hardware): then it may not use alpha or BatchNorm, so that the value stays
    an exact integer (times 2**-frac_bits for the fixed-point first layer).
    A BinaryLinear node flattens a 4D input (torch's (C, H, W) order).
    """

    def __init__(self, layer: _BinaryWeights, bn: Optional["BatchNorm"] = None,
                 act: Optional[BinaryActivation] = None):
        super().__init__()
        if act is None and (bn is not None or layer.use_alpha):
            raise ValueError("a compute node without a sign activation outputs its integer dot product: "
                             "it cannot have BatchNorm or alpha")
        self.layer, self.bn, self.act = layer, bn, act

    def forward(self, x):
        if isinstance(self.layer, BinaryLinear) and x.dim() > 2:
            x = x.flatten(1)
        y = self.layer(x)
        if self.act is None:
            return y
        if self.bn is not None:
            y = self.bn(y)
        return self.act(y)


class SignNode(nn.Module):
    """BatchNorm then sign on an integer stream (the input of a residual block): a Threshold in the IR."""

    def __init__(self, channels: int, t_clip: float = 0.5, stochastic: bool = False):
        super().__init__()
        self.bn = BatchNorm(channels)
        self.act = BinaryActivation(t_clip, stochastic)

    def forward(self, x):
        return self.act(self.bn(x))


class AddNode(nn.Module):
    """Sum of two integer streams (the residual add).  The export aligns their fixed-point scales
    with exact power-of-two shifts (a fixed-point stem is in units of 2**-frac_bits)."""

    def forward(self, a, b):
        return a + b


class ConcatNode(nn.Module):
    """Channel concatenation of +-1 feature maps (dense connectivity)."""

    def forward(self, *xs):
        return torch.cat(xs, dim=1)


class BNNGraph(nn.Module):
    """A directed acyclic graph of BNN nodes in topological order.

    ``nodes``: list of (name, module, inputs); ``inputs`` names earlier nodes,
    or ``"input"`` for the quantized image (only the first node reads it).
    Modules: :class:`ComputeNode`, :class:`SignNode`, :class:`AddNode`,
    :class:`ConcatNode`, ``nn.MaxPool2d`` (on +-1 maps).  The last node is a
    ComputeNode without activation (the integer scores); ``scale`` multiplies
    them (argmax-invariant).  ``bnnfpga.export.graph_to_ir`` turns it into an
    IR graph, node names becoming layer names.
    """

    def __init__(self, input_quant: InputQuant, nodes, scale: Optional[Scale] = None):
        super().__init__()
        self.input_quant = input_quant
        self.nodes = nn.ModuleDict()
        self.node_inputs = {}
        for name, module, inputs in nodes:
            if name in self.nodes or name == "input":
                raise ValueError(f"duplicate or reserved node name {name!r}")
            for i in inputs:
                if i != "input" and i not in self.nodes:
                    raise ValueError(f"node {name!r} reads {i!r}, which is not an earlier node")
            self.nodes[name] = module
            self.node_inputs[name] = list(inputs)
        self.scale = scale if scale is not None else Scale(1.0)

    def forward_all(self, x):
        """Every node's output (dict name -> tensor), the pre-scale scores under the last name."""
        vals = {"input": self.input_quant(x)}
        for name, m in self.nodes.items():
            vals[name] = m(*[vals[i] for i in self.node_inputs[name]])
        return vals

    def scores(self, x):
        """The integer scores (before the argmax-invariant scale)."""
        vals = {"input": self.input_quant(x)}
        left = {}
        for ins in self.node_inputs.values():
            for i in ins:
                left[i] = left.get(i, 0) + 1
        out = None
        for name, m in self.nodes.items():
            out = m(*[vals[i] for i in self.node_inputs[name]])
            vals[name] = out
            for i in self.node_inputs[name]:
                left[i] -= 1
                if left[i] == 0:
                    del vals[i]
        return out

    def forward(self, x):
        return self.scale(self.scores(x))

    def clip_weights(self):
        clip_weights(self)
