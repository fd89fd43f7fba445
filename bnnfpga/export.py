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

Fixed-point weights (``weight_bits > 1``, first and last layers): the IR holds
the integers ``w_int`` (``nn.fixed_weight_ints``) and ``weight_frac = wf``; the
torch dot product is ``acc * 2**-(wf + frac_bits)`` for pixels and
``acc * 2**-wf`` for +-1 inputs, and the same bisection folds a hidden first
layer's BatchNorm over its accumulator range.  A fixed-weight last layer's
scores are ``acc``; its ``score_scale`` records the Scale times ``2**-(wf [+
frac_bits])`` so that ``GoldenModel.logits`` gives torch's logits.

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
from .nn import (AddNode, BatchNorm, BinaryActivation, BinaryConv2d, BinaryLinear, BNNGraph, ComputeNode, ConcatNode,
                 Flatten, InputQuant, Scale, SignNode, _BinaryWeights, bn_eval, fixed_weight_ints)


class ExportError(ValueError):
    """A torch model that cannot be mapped to the IR (the message names the module)."""


def _weight_bits(w: torch.Tensor, m: Optional[_BinaryWeights] = None) -> np.ndarray:
    """IR weights of module ``m`` from its (re-laid-out) latent weights w: bits, or int16 fixed-point integers."""
    if m is not None and m.weight_bits > 1:
        return fixed_weight_ints(w.detach().cpu(), m.weight_bits, m.weight_frac()).numpy().astype(np.int16)
    return (w.detach().cpu().numpy() >= 0).astype(np.uint8)


def _dot_exponent(layer: _BinaryWeights, frac_bits: int) -> int:
    """The torch dot product is acc * 2**-exponent (fixed-point weights and/or pixels)."""
    return (frac_bits if layer.input_kind == "fixed" else 0) + layer.weight_frac()


def _fixed_weight_fields(m: _BinaryWeights, lname: str, frac_bits: int, lo_hi) -> dict:
    """weight_bits / weight_frac of an IR layer; ExportError when torch's float32 dot product is not exact."""
    if m.weight_bits == 1:
        return {}
    lo, hi = lo_hi
    if max(-lo, hi) >= 2 ** 24:
        raise ExportError(f"layer '{lname}': accumulator range [{lo}, {hi}] of its {m.weight_bits}-bit weights is not "
                          "exact in float32 (must stay below 2**24): fewer weight bits or a smaller fan-in")
    return {"weight_bits": m.weight_bits, "weight_frac": m.weight_frac()}


def _set_fixed(layer, m: _BinaryWeights, net: ir.Network, frac_bits: int) -> None:
    """Give an exported layer its fixed-point weight fields (weights already int16 when weight_bits > 1)."""
    if m.weight_bits == 1:
        return
    layer.weight_bits = m.weight_bits
    for k, v in _fixed_weight_fields(m, layer.name, frac_bits, ir.acc_range(net, layer)).items():
        setattr(layer, k, v)


def _score_scale(m: _BinaryWeights, scale: Optional[Scale], frac_bits: int) -> Optional[float]:
    """logits = scores * score_scale for a fixed-weight last layer (None for a binary one: not recorded)."""
    if m.weight_bits == 1:
        return None
    s = float(torch.exp(scale.log_scale.detach())) if scale is not None else 1.0
    return s * 2.0 ** -_dot_exponent(m, frac_bits)


def _z(layer: _BinaryWeights, bn: Optional[BatchNorm], acc: torch.Tensor, n: int, frac_bits: int) -> torch.Tensor:
    """The float32 pre-sign value torch computes for accumulator values acc (V, C)."""
    if layer.weight_bits > 1:
        dot = acc.to(torch.float32) * (2.0 ** -_dot_exponent(layer, frac_bits))
    elif layer.input_kind == "fixed":
        dot = acc.to(torch.float32) * (2.0 ** -frac_bits)
    else:
        dot = (2 * acc - n).to(torch.float32)
    y = dot * layer.alpha().detach().view(1, -1) if layer.use_alpha else dot
    return bn_eval(y, bn) if bn is not None else y


def fold_thresholds(layer: _BinaryWeights, bn: Optional[BatchNorm], lo: int, hi: int, n: int, frac_bits: int) -> ir.Thresholds:
    """Per-channel integer threshold and direction reproducing torch's sign(BN(alpha*dot))."""
    c = layer.weight.shape[0]
    return _fold_by_search(lambda a: (_z(layer, bn, a.view(1, -1), n, frac_bits) >= 0).view(-1), c, lo, hi)


def _fold_by_search(bit, c: int, lo: int, hi: int) -> ir.Thresholds:
    """Per channel: the threshold and direction of a monotone bit(acc) over [lo, hi] (binary search)."""
    with torch.no_grad():
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


def fold_stream_thresholds(bn: BatchNorm, lo: int, hi: int, exponent: int) -> ir.Thresholds:
    """Thresholds reproducing torch's sign(BN(x)) on an integer stream whose torch value is
    ``v * 2**-exponent`` (v in [lo, hi]): BN then sign at a residual block's input."""
    if max(abs(lo), abs(hi)) >= 2 ** 24:
        raise ExportError(f"an integer stream of range [{lo}, {hi}] is not exact in float32 (|v| must stay below 2**24)")
    c = bn.num_features

    def bit(a):
        x = a.view(1, -1).to(torch.float32) * (2.0 ** -exponent)
        return (bn_eval(x, bn) >= 0).view(-1)

    return _fold_by_search(bit, c, lo, hi)


def _sequence(model: nn.Module) -> List[nn.Module]:
    mods = [m for m in model.children()]
    return [m for m in mods if not isinstance(m, nn.Dropout)]


def to_ir(model: nn.Module, input_shape: Tuple[int, int, int], name: str = "bnn", classes: Optional[List[str]] = None,
          metadata: Optional[dict] = None) -> ir.Network:
    """Export a BNNSequential (eval semantics) to the IR. input_shape is torch's (C, H, W)."""
    if isinstance(model, BNNGraph):
        return graph_to_ir(model, input_shape, name=name, classes=classes, metadata=metadata)
    model = model.eval()
    mods = _sequence(model)
    if not mods or not isinstance(mods[0], InputQuant):
        raise ExportError("the model must start with an InputQuant module (it defines the pixel -> fixed-point mapping)")
    iq = mods[0]
    c, h, w = input_shape
    spec = ir.InputSpec(h, w, c, zero_point=iq.zero_point, frac_bits=iq.frac_bits, bits=iq.bits if iq.zero_point else 9)
    if getattr(iq, "binarize", None) is not None:  # pixels -> bits (p >= t): every compute layer reads bits
        spec.binarize_threshold = int(iq.binarize)
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
            k, s = _pool_params(m, where)
            if shape is None or compute_seen == 0:
                raise ExportError(f"{where}: max-pool must follow a binary feature map")
            if not isinstance(mods[i - 1], BinaryActivation):
                raise ExportError(f"{where}: max-pool must come right after a sign activation (binary max-pool = OR)")
            layers.append(ir.MaxPool2D(f"pool{counters['pool']}", k, s))
            counters["pool"] += 1
            shape = (shape[0],) + _pool_out(shape[1:], k, s)
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
            bits = _weight_bits(wt.permute(0, 2, 3, 1).reshape(wt.shape[0], -1), m)
            layer = ir.Conv2D(f"conv{counters['conv']}", m.in_channels, m.out_channels, m.kernel_size, m.padding, bits,
                              input_kind=m.input_kind, stride=getattr(m, "stride", 1))
            counters["conv"] += 1
            shape = (m.out_channels,) + _conv_out(shape[1:], m)
        else:
            wnp = wt
            if flat_chw is not None and not any(isinstance(l, ir.Dense) for l in layers):
                cc, hh, ww = flat_chw  # torch columns are (c, h, w); the IR reads (h, w, c)
                wnp = wt.view(wt.shape[0], cc, hh, ww).permute(0, 2, 3, 1).reshape(wt.shape[0], -1)
            bits = _weight_bits(wnp, m)
            layer = ir.Dense(f"fc{counters['fc']}", m.in_features, m.out_features, bits, input_kind=m.input_kind)
            counters["fc"] += 1
            if shape is not None:
                raise ExportError(f"{where}: dense layer on a feature map without Flatten")
        _set_fixed(layer, m, net, spec.frac_bits)
        layers.append(layer)
        i += 1
        if last:
            layer.score_scale = _score_scale(m, next((r for r in mods[i:] if isinstance(r, Scale)), None),
                                             spec.frac_bits)
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


def _pool_params(m: nn.MaxPool2d, where: str) -> Tuple[int, int]:
    """(kernel, stride) of a square torch max-pool without padding, dilation or ceil mode."""
    two = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    k, s = two(m.kernel_size), two(m.stride if m.stride is not None else m.kernel_size)
    if k[0] != k[1] or s[0] != s[1]:
        raise ExportError(f"{where}: max-pool kernel {k} / stride {s} must be square")
    if two(m.padding) != (0, 0) or two(m.dilation) != (1, 1) or m.ceil_mode:
        raise ExportError(f"{where}: max-pool with padding, dilation or ceil_mode is not supported")
    return int(k[0]), int(s[0])


def _pool_out(hw, k: int, s: int) -> Tuple[int, int]:
    return tuple((v - k) // s + 1 for v in hw)


def _conv_out(hw, m: BinaryConv2d) -> Tuple[int, int]:
    """torch's output size of a (strided) BinaryConv2d: floor((H + 2p - K) / s) + 1."""
    k, s = m.kernel_size, getattr(m, "stride", 1)
    p = (k - 1) // 2 if m.padding == "same" else 0
    return tuple((v + 2 * p - k) // s + 1 for v in hw)


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
            if m.weight_bits > 1:
                acc = dot * 2.0 ** _dot_exponent(m, frac)
            else:
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


# ---------------------------------------------------------------------------
# graphs: bnnfpga.nn.BNNGraph -> an IR graph (see "Graphs" in bnnfpga.ir)
#
# Every torch node value is exact in float32 and maps to the IR stream:
#   bits:     torch +-1            <-> bit (v + 1) / 2
#   integers: torch v * 2**-e      <-> integer v, e = the stream's exponent
#             (frac_bits for the fixed-point first layer, 0 for binary dot products,
#              the larger of the two inputs' exponents for an add, whose IR shifts align them)
# BN + sign on an integer stream folds into a Threshold layer by the same evaluation of
# torch's float32 arithmetic as fold_thresholds.


def _conv_or_dense(m: _BinaryWeights, lname: str, inputs, flat_chw) -> ir.Layer:
    wt = m.weight.detach()
    if isinstance(m, BinaryConv2d):
        bits = _weight_bits(wt.permute(0, 2, 3, 1).reshape(wt.shape[0], -1), m)
        return ir.Conv2D(lname, m.in_channels, m.out_channels, m.kernel_size, m.padding, bits,
                         input_kind=m.input_kind, stride=getattr(m, "stride", 1), inputs=inputs)
    if flat_chw is not None:
        cc, hh, ww = flat_chw  # torch columns are (c, h, w); the IR reads (h, w, c)
        wt = wt.view(wt.shape[0], cc, hh, ww).permute(0, 2, 3, 1).reshape(wt.shape[0], -1)
    return ir.Dense(lname, m.in_features, m.out_features, _weight_bits(wt, m), input_kind=m.input_kind, inputs=inputs)


def graph_to_ir(model: BNNGraph, input_shape: Tuple[int, int, int], name: str = "bnn",
                classes: Optional[List[str]] = None, metadata: Optional[dict] = None) -> ir.Network:
    """Export a BNNGraph (eval semantics) to an IR graph. input_shape is torch's (C, H, W)."""
    model = model.eval()
    iq = model.input_quant
    if getattr(iq, "binarize", None) is not None:
        raise ExportError("binarized input (InputQuant binarize) is supported on chain models only, not graphs")
    c, h, w = input_shape
    spec = ir.InputSpec(h, w, c, zero_point=iq.zero_point, frac_bits=iq.frac_bits, bits=iq.bits if iq.zero_point else 9)
    layers: list = []
    net = ir.Network(name, spec, layers, classes=list(classes or []), metadata=dict(metadata or {}))
    shape = {"input": (c, h, w)}  # torch shapes (C, H, W) or (F,)
    kind = {"input": "image"}
    expo = {}
    names = list(model.nodes.keys())
    for idx, (nname, m) in enumerate(model.nodes.items()):
        where = f"node '{nname}' ({type(m).__name__})"
        ins = model.node_inputs[nname]
        if (ins == ["input"]) != (idx == 0):
            raise ExportError(f"{where}: only the first node reads 'input' (the quantized image)")
        ir_ins = None if idx == 0 else list(ins)
        kin = [kind[i] for i in ins]
        last = idx == len(names) - 1
        if isinstance(m, ComputeNode):
            lm = m.layer
            if (lm.input_kind == "fixed") != (idx == 0):
                raise ExportError(f"{where}: input_kind must be 'fixed' exactly for the first node")
            if idx > 0 and kin[0] != "bits":
                raise ExportError(f"{where}: a binary layer reads +-1 values, but '{ins[0]}' is an integer stream")
            s_in = shape[ins[0]]
            flat = None
            if isinstance(lm, BinaryLinear) and len(s_in) == 3:
                flat = s_in
            layer = _conv_or_dense(lm, nname, ir_ins, flat)
            _set_fixed(layer, lm, net, spec.frac_bits)
            layers.append(layer)
            if isinstance(lm, BinaryConv2d):
                if len(s_in) != 3:
                    raise ExportError(f"{where}: convolution of a flat input")
                shape[nname] = (lm.out_channels,) + _conv_out(s_in[1:], lm)
            else:
                shape[nname] = (lm.out_features,)
            if m.act is not None:
                if last:
                    raise ExportError(f"{where}: the last node must output integer scores (no activation)")
                lo, hi = ir.acc_range(net, layer)
                layer.thresholds = fold_thresholds(lm, m.bn, lo, hi, layer.fan_in, spec.frac_bits)
                kind[nname] = "bits"
            else:
                kind[nname] = "int"
                expo[nname] = _dot_exponent(lm, spec.frac_bits)
        elif isinstance(m, AddNode):
            if kin != ["int", "int"]:
                raise ExportError(f"{where}: add reads two integer streams, got {kin}")
            if shape[ins[0]] != shape[ins[1]]:
                raise ExportError(f"{where}: add of shapes {shape[ins[0]]} and {shape[ins[1]]}")
            e = max(expo[ins[0]], expo[ins[1]])
            layers.append(ir.Add(nname, list(ins), [e - expo[ins[0]], e - expo[ins[1]]]))
            shape[nname], kind[nname], expo[nname] = shape[ins[0]], "int", e
        elif isinstance(m, SignNode):
            if kin != ["int"]:
                raise ExportError(f"{where}: BN + sign of a residual stream reads an integer stream, got {kin[0]}")
            ch = shape[ins[0]][0]
            if m.bn.num_features != ch:
                raise ExportError(f"{where}: BatchNorm of {m.bn.num_features} channels on {ch} channels")
            layers.append(ir.Threshold(nname, ch, None, inputs=list(ins)))
            lo, hi = ir.value_ranges(net)[ins[0]]
            layers[-1].thresholds = fold_stream_thresholds(m.bn, lo, hi, expo[ins[0]])
            shape[nname], kind[nname] = shape[ins[0]], "bits"
        elif isinstance(m, ConcatNode):
            if any(k != "bits" for k in kin):
                raise ExportError(f"{where}: concat reads +-1 feature maps, got {kin}")
            layers.append(ir.Concat(nname, list(ins)))
            s0 = shape[ins[0]]
            shape[nname], kind[nname] = (sum(shape[i][0] for i in ins),) + tuple(s0[1:]), "bits"
        elif isinstance(m, nn.MaxPool2d):
            k, st = _pool_params(m, where)
            if kin != ["bits"]:
                raise ExportError(f"{where}: max-pool must read a +-1 feature map (binary max-pool = OR)")
            layers.append(ir.MaxPool2D(nname, k, st, inputs=list(ins)))
            s0 = shape[ins[0]]
            shape[nname], kind[nname] = (s0[0],) + _pool_out(s0[1:], k, st), "bits"
        else:
            raise ExportError(f"{where}: not supported in a graph (expected ComputeNode, SignNode, AddNode, "
                              "ConcatNode or MaxPool2d)")
    lastm = model.nodes[names[-1]]
    if not isinstance(lastm, ComputeNode) or not isinstance(lastm.layer, BinaryLinear) or lastm.act is not None:
        raise ExportError("the graph must end with a binary dense node producing scores")
    if lastm.layer.use_alpha:
        raise ExportError("the last layer cannot use per-class alpha (it would change the argmax)")
    layers[-1].score_scale = _score_scale(lastm.layer, model.scale, spec.frac_bits)
    if not net.classes:
        net.classes = [str(k) for k in range(layers[-1].out_features)]
    try:
        return net.validate()
    except ir.IRError as e:
        raise ExportError(f"the exported graph is not valid: {e}") from None


def graph_trace(model: BNNGraph, images: np.ndarray, net: Optional[ir.Network] = None) -> dict:
    """Every node's torch output on raw uint8 images, in the IR's terms: bits (uint8, channels last)
    for +-1 nodes, exact integers (int64) for integer nodes (torch value * 2**exponent).  Raises
    AssertionError if a torch value is not exactly representable that way."""
    net = net or graph_to_ir(model, tuple(images_to_tensor(images[:1]).shape[1:]))
    g = ir.graph_shapes(net)
    ranges = ir.value_ranges(net, g)
    with torch.no_grad():
        vals = model.eval().forward_all(images_to_tensor(images))
    expo = {}
    out = {}
    for layer in net.layers:
        v = vals[layer.name].numpy().astype(np.float64)
        if v.ndim == 4:
            v = v.transpose(0, 2, 3, 1)
        if g.kinds[layer.name] == "bits":
            assert np.all(np.abs(v) == 1), f"node '{layer.name}': not +-1"
            out[layer.name] = (v > 0).astype(np.uint8)
            continue
        if isinstance(layer, (ir.Conv2D, ir.Dense)):
            e = (net.input.frac_bits if layer.input_kind == "fixed" else 0) + int(layer.weight_frac)
        else:
            e = max(expo[i] for i in layer.inputs)
        expo[layer.name] = e
        iv = v * 2.0 ** e
        assert np.array_equal(iv, np.rint(iv)), f"node '{layer.name}': torch value is not an exact integer"
        out[layer.name] = iv.astype(np.int64)
    return out
