"""Torch model -> IR: binarize weights, fold BatchNorm (+ alpha) + sign into
integer thresholds, drop the argmax-invariant output scale.

Threshold folding, the math
---------------------------
For a hidden channel the torch forward (eval mode) is

    dot   = sum_i w_i x_i                  (exact: +-1 weights, +-1 or q*2**-f inputs)
    y     = dot * alpha                     (alpha = mean|W| when XNOR-Net scaling is on)
    z     = (y - mean) * (gamma / sqrt(var + eps)) + beta      (BatchNorm, float32)
    bit   = z >= 0                          (sign, with sign(0) = +1)

and the hardware sees the accumulator acc: ``acc = popcount(xnor(x, w))`` with
``dot = 2 * acc - n`` for binary inputs, or ``acc = sum_i w_i q_i`` with
``dot = acc * 2**-f`` for fixed-point pixels.  z is a monotone function of acc:
increasing when ``alpha * gamma > 0`` and decreasing when it is negative (a
negative gamma flips the comparison); constant when gamma or alpha is 0 (then
the bit is ``beta >= 0`` for every input; zero variance only scales by
1/sqrt(eps) and keeps the direction).  Each float32 operation rounds
monotonically, so the *computed* z is monotone in acc as well.

Rather than solving ``z = 0`` algebraically (which can disagree with float32
rounding right at the boundary), we evaluate the very same float32 arithmetic
(``nn.bn_eval``) on integer accumulator values and binary-search, per channel,
the first acc whose bit is 1 (increasing: ``bit = acc >= t``) or the last acc
whose bit is 1 (decreasing: ``bit = acc <= t``).  A constant channel gets
``t = lo`` (always 1) or ``t = hi + 1`` (always 0) with direction +1.  The
result equals torch on every possible accumulator value, by construction.

The last layer keeps the integer scores ``dot`` (binary inputs: ``2*acc - n``);
its positive Scale does not change the argmax (ties: lowest index in both torch
and the golden model).  Per-class alpha or BatchNorm on the last layer would
change the argmax and are refused.

Layout: torch flattens (C, H, W); the IR flattens (H, W, C), so the columns of
a dense layer after a feature map are permuted.  Convolution weights
(out, in, ky, kx) become (out, ky, kx, in).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from . import ir
from .nn import BatchNorm, BinaryActivation, BinaryConv2d, BinaryLinear, Flatten, InputQuant, Scale, _BinaryWeights, bn_eval


class ExportError(ValueError):
    """A torch model that cannot be mapped to the IR (the message names the module)."""


def _weight_bits(w: torch.Tensor) -> np.ndarray:
    return (w.detach().cpu().numpy() >= 0).astype(np.uint8)


def _z(layer: _BinaryWeights, bn: Optional[BatchNorm], acc: torch.Tensor, n: int, frac_bits: int) -> torch.Tensor:
    """The float32 pre-sign value torch computes for accumulator values acc (V, C)."""
    if layer.input_kind == "fixed":
        dot = acc.to(torch.float32) * (2.0 ** -frac_bits)
    else:
        dot = (2 * acc - n).to(torch.float32)
    y = dot * layer.alpha().detach().view(1, -1) if layer.use_alpha else dot
    return bn_eval(y, bn) if bn is not None else y


def fold_thresholds(layer: _BinaryWeights, bn: Optional[BatchNorm], lo: int, hi: int, n: int, frac_bits: int) -> ir.Thresholds:
    """Per-channel integer threshold and direction reproducing torch's sign(BN(alpha*dot))."""
    c = layer.weight.shape[0]
    with torch.no_grad():
        bit = lambda a: (_z(layer, bn, a.view(1, -1), n, frac_bits) >= 0).view(-1)
        lo_t = torch.full((c,), lo, dtype=torch.int64)
        hi_t = torch.full((c,), hi, dtype=torch.int64)
        b_lo, b_hi = bit(lo_t), bit(hi_t)
        inc = (~b_lo) & b_hi  # 0 ... 0 1 ... 1: smallest acc with bit 1
        dec = b_lo & (~b_hi)  # 1 ... 1 0 ... 0: largest acc with bit 1
        # binary search on [a, b]: invariant bit(a) == b_lo, bit(b) == b_hi
        a, b = lo_t.clone(), hi_t.clone()
        while bool(((b - a) > 1).any()):
            mid = (a + b) // 2
            m = bit(mid)
            same_as_lo = m == b_lo
            a = torch.where(same_as_lo, mid, a)
            b = torch.where(same_as_lo, b, mid)
        t = torch.where(inc, b, torch.where(dec, a, torch.where(b_lo, lo_t, hi_t + 1)))
        d = torch.where(dec, -1, 1).to(torch.int8)
    return ir.Thresholds(t.numpy().astype(np.int64), d.numpy())


def _sequence(model: nn.Module) -> List[nn.Module]:
    mods = [m for m in model.children()]
    return [m for m in mods if not isinstance(m, nn.Dropout)]


def to_ir(model: nn.Module, input_shape: Tuple[int, int, int], name: str = "bnn", classes: Optional[List[str]] = None,
          metadata: Optional[dict] = None) -> ir.Network:
    """Export a BNNSequential (eval semantics) to the IR. input_shape is torch's (C, H, W)."""
    model = model.eval()
    mods = _sequence(model)
    if not mods or not isinstance(mods[0], InputQuant):
        raise ExportError("the model must start with an InputQuant module (it defines the pixel -> fixed-point mapping)")
    iq = mods[0]
    c, h, w = input_shape
    spec = ir.InputSpec(h, w, c, zero_point=iq.zero_point, frac_bits=iq.frac_bits, bits=iq.bits if iq.zero_point else 9)
    layers: list = []
    net = ir.Network(name, spec, layers, classes=list(classes or []), metadata=dict(metadata or {}))
    shape: Optional[Tuple[int, int, int]] = (c, h, w)  # torch (C, H, W) while spatial; None once flat
    flat_chw: Optional[Tuple[int, int, int]] = None
    counters = {"conv": 0, "fc": 0, "pool": 0}
    i = 1
    compute_seen = 0
    n_compute = sum(isinstance(m, _BinaryWeights) for m in mods)
    while i < len(mods):
        m = mods[i]
        where = f"module {i} ({type(m).__name__})"
        if isinstance(m, Flatten):
            flat_chw, shape = shape, None
            i += 1
            continue
        if isinstance(m, nn.MaxPool2d):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            if shape is None or compute_seen == 0:
                raise ExportError(f"{where}: max-pool must follow a binary feature map")
            if not isinstance(mods[i - 1], BinaryActivation):
                raise ExportError(f"{where}: max-pool must come right after a sign activation (binary max-pool = OR)")
            layers.append(ir.MaxPool2D(f"pool{counters['pool']}", k, s))
            counters["pool"] += 1
            shape = (shape[0], shape[1] // s, shape[2] // s)
            i += 1
            continue
        if not isinstance(m, _BinaryWeights):
            raise ExportError(f"{where}: not supported here (expected a binary dense/conv layer, BatchNorm, sign, max-pool or Flatten)")
        compute_seen += 1
        last = compute_seen == n_compute
        wt = m.weight.detach()
        if isinstance(m, BinaryConv2d):
            if shape is None:
                raise ExportError(f"{where}: convolution after Flatten")
            bits = _weight_bits(wt.permute(0, 2, 3, 1).reshape(wt.shape[0], -1))
            layer = ir.Conv2D(f"conv{counters['conv']}", m.in_channels, m.out_channels, m.kernel_size, m.padding, bits,
                              input_kind=m.input_kind)
            counters["conv"] += 1
            k = m.kernel_size
            ho, wo = (shape[1], shape[2]) if m.padding == "same" else (shape[1] - k + 1, shape[2] - k + 1)
            shape = (m.out_channels, ho, wo)
        else:
            wnp = wt
            if flat_chw is not None and not any(isinstance(l, ir.Dense) for l in layers):
                cc, hh, ww = flat_chw  # torch columns are (c, h, w); the IR reads (h, w, c)
                wnp = wt.view(wt.shape[0], cc, hh, ww).permute(0, 2, 3, 1).reshape(wt.shape[0], -1)
            bits = _weight_bits(wnp)
            layer = ir.Dense(f"fc{counters['fc']}", m.in_features, m.out_features, bits, input_kind=m.input_kind)
            counters["fc"] += 1
            if shape is not None:
                raise ExportError(f"{where}: dense layer on a feature map without Flatten")
        layers.append(layer)
        i += 1
        if last:
            if m.use_alpha:
                raise ExportError(f"{where}: the last layer cannot use per-class alpha (it would change the argmax)")
            rest = mods[i:]
            if any(not isinstance(r, Scale) for r in rest):
                bad = next(r for r in rest if not isinstance(r, Scale))
                raise ExportError(f"{type(bad).__name__} after the last binary layer: only a positive Scale may follow (scores stay integer)")
            break
        bn = None
        if i < len(mods) and isinstance(mods[i], BatchNorm):
            bn = mods[i]
            i += 1
        elif i < len(mods) and isinstance(mods[i], nn.modules.batchnorm._BatchNorm):
            raise ExportError(f"module {i}: use bnnfpga.nn.BatchNorm (its eval arithmetic is what the thresholds reproduce)")
        if i >= len(mods) or not isinstance(mods[i], BinaryActivation):
            raise ExportError(f"{where}: a hidden binary layer must be followed by [BatchNorm and] a sign activation")
        i += 1
        lo, hi = ir.acc_range(net, layer)
        layer.thresholds = fold_thresholds(m, bn, lo, hi, layer.fan_in, spec.frac_bits)
    if not isinstance(layers[-1], ir.Dense) or layers[-1].thresholds is not None:
        raise ExportError("the model must end with a binary dense layer producing scores")
    if not net.classes:
        net.classes = [str(k) for k in range(layers[-1].out_features)]
    return net.validate()


def torch_trace(model: nn.Module, images: np.ndarray) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Run torch (eval) on raw uint8 images (N,H,W[,C]); returns (logits, per-compute-layer integer
    accumulators in the IR's conventions: popcount for binary inputs, fixed sum for the first layer,
    (N, H, W, C) for convolutions)."""
    x = images_to_tensor(images)
    model.eval()
    model.set_record(True)
    try:
        with torch.no_grad():
            logits = model(x).numpy()
        accs = []
        frac = next(m for m in model.children() if isinstance(m, InputQuant)).frac_bits
        for m in [m for m in model.modules() if isinstance(m, _BinaryWeights)]:
            dot = m.last_dot.numpy().astype(np.float64)
            if dot.ndim == 4:
                dot = dot.transpose(0, 2, 3, 1)
            n = m.weight[0].numel()
            acc = dot * (2 ** frac) if m.input_kind == "fixed" else (dot + n) / 2
            accs.append(np.rint(acc).astype(np.int64))
    finally:
        model.set_record(False)
    return logits, accs


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """Raw uint8 (N,H,W) or (N,H,W,C) -> float32 (N,C,H,W) pixel values."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    return torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2).contiguous()


def torch_predict(model: nn.Module, images: np.ndarray, batch: int = 512) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            out.append(model(images_to_tensor(images[s : s + batch])).argmax(dim=1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)
