"""Import binarized networks from ONNX / QONNX / FINN graphs into the IR.

Accepted graphs are chains (one activation tensor flows from the graph input
to the graph output) made of:

* linear nodes: ``MatMul``, ``Gemm``, ``Conv`` (stride 1, square kernel, no
  groups/dilation) whose constant weights are binary, i.e. +-alpha per output
  channel (after folding the constant sub-graph that produces them:
  ``BipolarQuant``/1-bit ``Quant``/``Transpose``/``Mul``... on initializers);
* activations that produce two values per channel: ``Sign``,
  ``BipolarQuant``, 1-bit ``Quant``, ``MultiThreshold`` with one threshold;
* monotone element-wise nodes folded into the thresholds: ``Mul``/``Add``/
  ``Sub``/``Div`` by constants (scalar or per channel), ``BatchNormalization``,
  ``Relu``, ``Clip``, multi-bit ``Quant``, ``Neg``, ``Identity``,
  ``Dropout``;
* layout nodes: ``Reshape``, ``Flatten``, ``Transpose``, ``Squeeze``,
  ``Unsqueeze`` (tracked with a permutation, folded into the weight order);
* ``MaxPool`` (kernel == stride) on binary maps, or before an increasing
  activation; ``Pad`` with the value of a -1 activation before a convolution
  ("same" padding of binary maps);
* on the input: element-wise nodes and an input ``Quant`` are evaluated on the
  256 possible pixel values; the first linear node must then see ``s * q``
  with ``q = p - zero_point`` (any scale s).

Thresholds are computed EXACTLY by evaluating, in float32, the computation the
graph describes between a linear node and its activation on every integer
accumulator value (a vectorised bisection when the range is large), not by
algebra only, so that the golden model agrees with onnxruntime / torch at the
boundary.  The accumulator range is extended by two values on each side so
that constant channels keep the threshold and direction the graph encodes
(this makes IR -> ONNX -> IR exact).

Anything that cannot be mapped is refused with one line naming the node
(name and op_type) and the reason: :class:`OnnxImportError`.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .cli import UserError
from .ir import Conv2D, Dense, InputSpec, IRError, MaxPool2D, Network, Thresholds

F32 = np.float32
# ops that only move data around, evaluated symbolically on activations
_LAYOUT_OPS = ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze")
_PASS_OPS = ("Identity", "Dropout")
# exhaustive threshold search up to this many evaluations, bisection beyond
EXHAUSTIVE_LIMIT = 1 << 24


class OnnxImportError(UserError):
    """An ONNX graph that cannot be mapped to the IR (one-line message)."""


def node_label(node) -> str:
    name = node.name or (node.output[0] if len(node.output) else "?")
    return f"node '{name}' ({node.op_type})"


def _fail(node, why: str):
    raise OnnxImportError(f"{node_label(node)}: {why}")


# ----------------------------------------------------------------------------
# reading the file
# ----------------------------------------------------------------------------


def load_model(path):
    """onnx.ModelProto from a path (or a ModelProto passed through)."""
    import onnx

    if isinstance(path, onnx.ModelProto):
        return path
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p}: no such file")
    with open(p, "rb") as f:
        data = f.read()
    if not data:
        raise OnnxImportError(f"{p}: empty file, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # protobuf DecodeError
        raise OnnxImportError(f"{p}: not a valid ONNX file (truncated or corrupt: {str(e).splitlines()[0] if str(e) else type(e).__name__})")
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxImportError(f"{p}: ONNX model has no graph nodes (truncated or not a model)")
    return model


def _attrs(node) -> dict:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[a.name] = v
    return out


def _tensor(t) -> np.ndarray:
    from onnx import numpy_helper

    return np.asarray(numpy_helper.to_array(t))


# ----------------------------------------------------------------------------
# the state of the activation tensor as it flows through the chain
# ----------------------------------------------------------------------------


@dataclass
class ChainOp:
    desc: str
    fn: Callable  # fn(v (R, K) float32, *params (R, 1)) -> (R, K)
    params: Tuple[np.ndarray, ...]


@dataclass
class State:
    """The dynamic tensor.

    ``shape`` is its ONNX shape with batch 1; ``perm`` (shape[1:]) gives, for
    every element, its flat index in the IR layout ``ir_shape``.

    kind 'input': ``table`` (n, 256) float32: value of every IR element for
    each q = p - zero_point.  kind 'acc': the output of ``layer`` before its
    activation, ``chain`` of per-channel ops on top of ``off + scale * g(acc)``.
    kind 'bits': every IR element takes ``v0`` (bit 0) or ``v1`` (bit 1).
    """

    kind: str
    shape: Tuple[int, ...]
    perm: np.ndarray
    ir_shape: Tuple[int, ...]
    table: Optional[np.ndarray] = None
    layer: object = None
    scale: Optional[np.ndarray] = None
    off: Optional[np.ndarray] = None
    chain: List[ChainOp] = field(default_factory=list)
    pools: List[tuple] = field(default_factory=list)  # (node, kernel)
    multibit: object = None  # node of a multi-bit quantizer in the chain
    v0: Optional[np.ndarray] = None
    v1: Optional[np.ndarray] = None
    pad: Optional[tuple] = None  # (node, p, value)

    @property
    def n_ir(self) -> int:
        return int(np.prod(self.ir_shape))

    def ir_channel(self) -> np.ndarray:
        """IR channel of every IR flat index."""
        c = self.ir_shape[-1]
        return np.arange(self.n_ir) % c

    def canonical(self) -> bool:
        """ONNX (1, C, H, W) laid over IR (H, W, C) in the standard way."""
        if len(self.shape) != 4 or len(self.ir_shape) != 3:
            return False
        h, w, c = self.ir_shape
        return tuple(self.shape) == (1, c, h, w) and np.array_equal(self.perm, _canon_perm(h, w, c))

    def copy(self, **kw) -> "State":
        d = dict(self.__dict__)
        d["chain"] = list(self.chain)
        d["pools"] = list(self.pools)
        d.update(kw)
        return State(**d)


def _canon_perm(h, w, c) -> np.ndarray:
    """perm[c, y, x] = IR index of (y, x, c) in an (H, W, C) layout."""
    idx = np.arange(h * w * c).reshape(h, w, c)
    return np.ascontiguousarray(idx.transpose(2, 0, 1))


# ----------------------------------------------------------------------------
# element-wise functions (float32, the semantics of ONNX / QONNX)
# ----------------------------------------------------------------------------


def _f_mul(v, c):
    return (v * c).astype(F32)


def _f_add(v, c):
    return (v + c).astype(F32)


def _f_sub(v, c):
    return (v - c).astype(F32)


def _f_rsub(v, c):
    return (c - v).astype(F32)


def _f_div(v, c):
    return (v / c).astype(F32)


def _f_neg(v):
    return (-v).astype(F32)


def _f_sign(v):
    return np.sign(v).astype(F32)


def _f_relu(v):
    return np.maximum(v, F32(0)).astype(F32)


def _f_clip(v, lo, hi):
    return np.minimum(np.maximum(v, lo), hi).astype(F32)


def _f_bn(v, gamma, beta, mean, var, eps):
    # the inference formula of onnxruntime / torch: x * s + (beta - mean * s)
    s = (gamma * (F32(1) / np.sqrt(var + eps))).astype(F32)
    return (v * s + (beta - mean * s).astype(F32)).astype(F32)


def _f_bipolar(v, scale):
    return (np.where(v >= 0, F32(1), F32(-1)) * scale).astype(F32)


def _quant_bounds(signed, narrow, bits):
    if signed:
        lo = -(2 ** (bits - 1)) + (1 if narrow else 0)
        hi = 2 ** (bits - 1) - 1
    else:
        lo = 0
        hi = 2**bits - 1 - (1 if narrow else 0)
    return lo, hi


def _make_quant(signed: bool, narrow: bool, bits: int, rounding: str):
    rnd = {"ROUND": np.round, "CEIL": np.ceil, "FLOOR": np.floor}[rounding]

    def f(v, scale, zeropt):
        y = (v / scale + zeropt).astype(F32)
        if bits == 1 and signed:  # QONNX: a signed 1-bit Quant is bipolar
            y = np.where(y >= 0, F32(1), F32(-1))
        else:
            lo, hi = _quant_bounds(signed, narrow, bits)
            y = rnd(np.clip(y, lo, hi))
        return ((y - zeropt) * scale).astype(F32)

    return f


def _make_multithreshold(out_scale: float, out_bias: float):
    def f(v, *ts):
        cnt = np.zeros(v.shape, F32)
        for t in ts:
            cnt += (v >= t)
        return (cnt * F32(out_scale) + F32(out_bias)).astype(F32)

    return f


# ----------------------------------------------------------------------------
# the importer
# ----------------------------------------------------------------------------


@dataclass
class ImportReport:
    lines: List[str] = field(default_factory=list)

    def add(self, s: str):
        self.lines.append(s)

    def __str__(self):
        return "\n".join(self.lines)


def _bits_for_zero_point(zp: int) -> int:
    b = 2
    while (255 - zp) >= 2 ** (b - 1) or zp > 2 ** (b - 1):
        b += 1
    return b


def _pow2_exponent(s: float) -> Optional[int]:
    if s <= 0 or not np.isfinite(s):
        return None
    m, e = np.frexp(s)
    return int(1 - e) if m == 0.5 else None  # s == 2**-(1 - e)


class _Importer:
    def __init__(self, model, zero_point=None, frac_bits=None, name=None, source="model.onnx"):
        self.model = model
        self.g = model.graph
        self.source = source
        self.report = ImportReport()
        self.consts: Dict[str, np.ndarray] = {}
        self.const_origin: Dict[str, object] = {}
        self.dyn: Dict[str, State] = {}
        self.layers: list = []
        self.names: set = set()
        self.meta = {p.key: p.value for p in model.metadata_props}
        stem = os.path.splitext(os.path.basename(source))[0] if not source.startswith("<") else ""
        self.name = name or self.meta.get("bnnfpga.name") or stem or self.g.name or "imported"
        self.zp_opt, self.fb_opt = zero_point, frac_bits
        self.first_scale = None

    # ---- helpers -------------------------------------------------------
    def ir_name(self, node, fallback: str) -> str:
        raw = node.name or fallback
        parts = [p for p in raw.split("/") if p]
        if len(parts) >= 2:  # torch exporter: /module/path/OpType -> the module path
            raw = parts[-2].replace(".", "_")
        s = re.sub(r"[^0-9A-Za-z_.\-]+", "_", raw).strip("_./-") or fallback
        base, i = s, 1
        while s in self.names:
            s = f"{base}_{i}"
            i += 1
        self.names.add(s)
        return s

    def const(self, node, name: str, what: str) -> np.ndarray:
        if name in self.consts:
            return self.consts[name]
        if name in self.dyn:
            _fail(node, f"{what} '{name}' must be a constant, but it is computed from the input")
        _fail(node, f"{what} '{name}' is missing (no initializer, Constant node or graph input of that name)")

    # ---- input -----------------------------------------------------------
    def _input_spec(self):
        inits = {t.name for t in self.g.initializer}
        ins = [i for i in self.g.input if i.name not in inits]
        if len(ins) != 1:
            raise OnnxImportError(f"{self.source}: the graph must have exactly one input tensor (images), it has {len(ins)}: {[i.name for i in ins]}")
        gi = ins[0]
        tt = gi.type.tensor_type
        dims = []
        for d in tt.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None)
        if len(dims) < 2 or any(d is None for d in dims[1:]):
            raise OnnxImportError(f"{self.source}: input '{gi.name}' needs a known shape apart from the batch, got {dims}")
        if dims[0] not in (None, 1) and len(dims) > 0:
            pass  # any batch works: it is ignored
        rest = dims[1:]
        if len(rest) == 3:
            c, h, w = rest
        elif len(rest) == 2:
            c, (h, w) = 1, rest
        elif len(rest) == 1:
            f = rest[0]
            r = int(round(np.sqrt(f)))
            c, h, w = (1, r, r) if r * r == f else (1, 1, f)
        else:
            raise OnnxImportError(f"{self.source}: input '{gi.name}' has shape {dims}; expected (N, C, H, W), (N, H, W) or (N, F)")
        zp, fb, scale, how = self._input_scaling(gi.name)
        spec = InputSpec(h, w, c, zero_point=zp, frac_bits=fb, bits=_bits_for_zero_point(zp))
        self.spec = spec
        sdesc = f"2**-{fb}" if scale == 2.0 ** -fb else f"{scale:g}"
        self.report.add(f"input '{gi.name}' {tuple(['N'] + rest)} -> IR input (H, W, C) = ({h}, {w}, {c}), "
                        f"assuming x = (p - {zp}) * {sdesc} ({how})")
        qv = (np.arange(256) - zp).astype(F32)
        table = np.broadcast_to(qv * F32(scale), (h * w * c, 256)).astype(F32)
        shape = (1,) + tuple(rest)
        perm = _canon_perm(h, w, c).reshape(rest)
        self.dyn[gi.name] = State("input", shape, perm, (h, w, c), table=table)
        self.input_name = gi.name

    def _input_scaling(self, input_name):
        zp = self.zp_opt
        fb = self.fb_opt
        scale = None
        how = []
        if zp is not None or fb is not None:
            how.append("options")
        if (zp is None or fb is None) and "bnnfpga.zero_point" in self.meta:
            zp = int(self.meta["bnnfpga.zero_point"]) if zp is None else zp
            fb = int(self.meta["bnnfpga.frac_bits"]) if fb is None else fb
            how.append("bnnfpga metadata")
        if zp is None or fb is None:
            guess = self._guess_from_input_quant(input_name)
            if guess is not None:
                gzp, gscale = guess
                zp = gzp if zp is None else zp
                if fb is None:
                    k = _pow2_exponent(gscale)
                    if k is not None:
                        fb = k
                    else:  # the quantizer's integer grid is the pixel grid
                        fb, scale = int(round(-np.log2(gscale))), gscale
                how.append("the 8-bit Quant on the input")
        if zp is None:
            zp = 128
            how.append("default zero_point")
        if fb is None:
            fb = 7
            how.append("default frac_bits")
        if not (0 <= int(zp) <= 255):
            raise OnnxImportError(f"--zero-point must be in [0, 255], got {zp}")
        if not (0 <= int(fb) <= 30):
            raise OnnxImportError(f"--frac-bits must be in [0, 30], got {fb}")
        return int(zp), int(fb), (2.0 ** -int(fb) if scale is None else float(scale)), ", ".join(how)

    def _guess_from_input_quant(self, input_name):
        inits = {t.name: t for t in self.g.initializer}
        consts = {}
        for n in self.g.node:
            if n.op_type == "Constant":
                a = _attrs(n)
                if "value" in a:
                    consts[n.output[0]] = _tensor(a["value"])
        for n in self.g.node:
            if n.op_type == "Quant" and n.input and n.input[0] == input_name:
                vals = []
                for nm in n.input[1:4]:
                    if nm in inits:
                        vals.append(_tensor(inits[nm]))
                    elif nm in consts:
                        vals.append(consts[nm])
                    else:
                        return None
                scale, zpt, bits = (np.asarray(v, np.float64) for v in vals)
                a = _attrs(n)
                if scale.size != 1 or zpt.size != 1 or float(zpt) != 0 or float(bits) != 8 or not float(scale) > 0:
                    return None
                return (128 if int(a.get("signed", 1)) else 0), float(np.float32(scale))
        return None

    # ---- constants -------------------------------------------------------
    def _collect_constants(self):
        for t in self.g.initializer:
            self.consts[t.name] = _tensor(t)

    def _eval_const(self, node, ins: List[Optional[np.ndarray]]) -> List[np.ndarray]:
        op, a = node.op_type, _attrs(node)
        x = ins[0] if ins else None
        if op == "Constant":
            if "value" in a:
                return [_tensor(a["value"])]
            for k in ("value_float", "value_int"):
                if k in a:
                    return [np.array(a[k])]
            for k in ("value_floats", "value_ints"):
                if k in a:
                    return [np.array(a[k])]
            _fail(node, "unsupported Constant attribute")
        if op in _PASS_OPS:
            return [x]
        if op == "Cast":
            from onnx import helper

            return [x.astype(helper.tensor_dtype_to_np_dtype(a["to"]))]
        if op == "Transpose":
            return [np.transpose(x, a.get("perm"))]
        if op == "Reshape":
            return [np.reshape(x, _reshape_target(node, x.shape, ins[1], a.get("allowzero", 0)))]
        if op == "Flatten":
            ax = a.get("axis", 1) % max(1, x.ndim)
            return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
        if op in ("Squeeze", "Unsqueeze"):
            axes = a.get("axes") if "axes" in a else (list(ins[1]) if len(ins) > 1 and ins[1] is not None else None)
            if op == "Squeeze":
                return [np.squeeze(x, axis=tuple(int(i) for i in axes) if axes is not None else None)]
            out = x
            nd = x.ndim + len(axes)
            for ax in sorted(int(i) % nd for i in axes):
                out = np.expand_dims(out, ax)
            return [out]
        if op == "Concat":
            return [np.concatenate(ins, axis=a["axis"])]
        if op == "Gather":
            return [np.take(x, ins[1], axis=a.get("axis", 0))]
        if op in ("Mul", "Add", "Sub", "Div"):
            f = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide}[op]
            r = f(ins[0], ins[1])
            if op == "Div" and np.issubdtype(np.asarray(ins[0]).dtype, np.integer):
                r = np.floor_divide(ins[0], ins[1])
            return [np.asarray(r).astype(np.result_type(ins[0], ins[1]))]
        if op == "Neg":
            return [-x]
        if op == "Sign":
            return [np.sign(x)]
        if op == "BipolarQuant":
            return [_f_bipolar(x.astype(F32), np.asarray(ins[1], F32))]
        if op == "Quant":
            bits = float(np.asarray(ins[3]).reshape(-1)[0])
            f = _make_quant(bool(a.get("signed", 1)), bool(a.get("narrow", 0)), int(bits), a.get("rounding_mode", "ROUND").upper())
            return [f(x.astype(F32), np.asarray(ins[1], F32), np.asarray(ins[2], F32))]
        if op == "Shape":
            return [np.array(x.shape, np.int64)]
        _fail(node, f"op '{op}' is not supported on constants")

    # ---- the walk --------------------------------------------------------
    def run(self) -> Tuple[Network, ImportReport]:
        g = self.g
        if len(g.output) != 1:
            raise OnnxImportError(f"{self.source}: the graph must have exactly one output (class scores), it has {len(g.output)}")
        self._collect_constants()
        self._input_spec()
        users: Dict[str, int] = {}
        for n in g.node:
            if n.op_type == "Shape":
                continue
            for i in n.input:
                if i:
                    users[i] = users.get(i, 0) + 1
        for n in g.node:
            for i in n.input:
                if i and i not in self.consts and i not in self.dyn:
                    _fail(n, f"input '{i}' is missing (no initializer, Constant node, graph input or earlier node output)")
            dyn_in = [i for i in n.input if i and i in self.dyn]
            if not dyn_in:
                outs = self._eval_const(n, [self.consts[i] if i else None for i in n.input])
                for o, v in zip(n.output, outs):
                    self.consts[o] = np.asarray(v)
                    if n.op_type in ("Quant", "BipolarQuant"):
                        self.const_origin[o] = n
                    elif n.input and n.input[0] in self.const_origin:
                        self.const_origin[o] = self.const_origin[n.input[0]]
                continue
            if n.op_type == "Shape":
                self.consts[n.output[0]] = np.array(self.dyn[dyn_in[0]].shape, np.int64)
                continue
            if len(dyn_in) > 1 or len(set(dyn_in)) != len(dyn_in):
                _fail(n, "combines several activation tensors (residual, concat and other branches are not supported)")
            if users.get(dyn_in[0], 0) > 1:
                _fail(n, f"activation tensor '{dyn_in[0]}' feeds several nodes (branches are not supported)")
            st = self.dyn[dyn_in[0]]
            if st.pad is not None and n.op_type != "Conv":
                _fail(n, f"follows Pad {node_label(st.pad[0])} but is not a convolution")
            new = self._dynamic(n, st)
            self.dyn[n.output[0]] = new
            for extra in n.output[1:]:
                if extra and users.get(extra):
                    _fail(n, f"second output '{extra}' is used (not supported)")
        out = g.output[0].name
        if out not in self.dyn:
            raise OnnxImportError(f"{self.source}: graph output '{out}' does not depend on the input")
        return self._finish(self.dyn[out])

    # ---- dynamic nodes ---------------------------------------------------
    def _dynamic(self, node, st: State) -> State:
        op = node.op_type
        a = _attrs(node)
        if op in _PASS_OPS:
            if op == "Dropout" and len(node.input) > 2 and node.input[2] and bool(np.asarray(self.consts.get(node.input[2], False))):
                _fail(node, "Dropout in training mode")
            return st.copy()
        if op in _LAYOUT_OPS:
            return self._layout(node, st, a)
        if op in ("MatMul", "Gemm", "Conv"):
            return self._linear(node, st, a)
        if op == "MaxPool":
            return self._maxpool(node, st, a)
        if op == "Pad":
            return self._pad(node, st, a)
        if op in ("Mul", "Add", "Sub", "Div"):
            dyn_first = node.input[0] in self.dyn
            c = np.asarray(self.consts[node.input[1] if dyn_first else node.input[0]], dtype=F32)
            if op == "Div" and not dyn_first:
                _fail(node, "divides a constant by an activation (not monotone-affine)")
            fn = {"Mul": _f_mul, "Add": _f_add, "Div": _f_div, "Sub": _f_sub if dyn_first else _f_rsub}[op]
            if op == "Div" and np.any(c == 0):
                _fail(node, "divides by zero")
            return self._elementwise(node, st, fn, [c], f"{op} by {_describe(c)}")
        if op == "Neg":
            return self._elementwise(node, st, _f_neg, [], "Neg")
        if op == "Relu":
            return self._elementwise(node, st, _f_relu, [], "Relu")
        if op == "Clip":
            lo = a.get("min", -np.inf) if len(node.input) < 2 or not node.input[1] else float(self.const(node, node.input[1], "min"))
            hi = a.get("max", np.inf) if len(node.input) < 3 or not node.input[2] else float(self.const(node, node.input[2], "max"))
            return self._elementwise(node, st, _f_clip, [np.array(lo, F32), np.array(hi, F32)], f"Clip [{lo}, {hi}]")
        if op == "BatchNormalization":
            if int(a.get("training_mode", 0)):
                _fail(node, "BatchNormalization in training mode")
            eps = F32(a.get("epsilon", 1e-5))
            rank = len(st.shape)
            if rank < 2:
                _fail(node, f"BatchNormalization on a tensor of rank {rank}")
            ps = []
            for i, what in zip(range(1, 5), ("scale", "B", "mean", "var")):
                v = np.asarray(self.const(node, node.input[i], what), F32).reshape(-1)
                if v.size != st.shape[1]:
                    _fail(node, f"{what} has {v.size} values for {st.shape[1]} channels")
                ps.append(v.reshape((1, -1) + (1,) * (rank - 2)))
            ps.append(np.array(eps, F32))
            return self._elementwise(node, st, _f_bn, ps, "BatchNormalization")
        if op in ("Sign", "BipolarQuant", "Quant", "MultiThreshold"):
            return self._activation(node, st, a)
        if op in ("Softmax", "LogSoftmax"):
            if not self._is_final(node) or st.kind != "acc":
                _fail(node, f"{op} is only accepted as the very last node, on the class scores (it is dropped there)")
            self.report.add(f"  dropped final {node_label(node)}: the IR outputs the integer scores before it "
                            f"(same predicted class, except where the float softmax rounds two scores to a tie)")
            return st.copy()
        if op in ("AveragePool", "GlobalAveragePool"):
            _fail(node, "average pooling of binary activations is not binary (only MaxPool maps to the IR)")
        if op in ("LSTM", "GRU", "RNN"):
            _fail(node, "recurrent layers are not supported (feed-forward chains of dense/conv/max-pool only)")
        _fail(node, f"op '{op}' cannot be mapped to the IR (dense, convolution, max-pool, thresholds)")

    def _is_final(self, node) -> bool:
        return node.output[0] == self.g.output[0].name

    # layout --------------------------------------------------------------
    def _layout(self, node, st: State, a) -> State:
        op = node.op_type
        full = st.perm.reshape((1,) + tuple(st.perm.shape))
        try:
            if op == "Transpose":
                p = a.get("perm") or list(range(full.ndim))[::-1]
                if p[0] != 0:
                    _fail(node, f"transposes the batch axis (perm {list(p)})")
                new = np.transpose(full, p)
            elif op == "Flatten":
                ax = a.get("axis", 1) % full.ndim
                if ax != 1:
                    _fail(node, f"Flatten with axis {a.get('axis')} mixes the batch with features (only axis=1)")
                new = full.reshape(1, -1)
            elif op == "Reshape":
                target = self.const(node, node.input[1], "shape")
                new = np.reshape(full, _reshape_target(node, full.shape, target, a.get("allowzero", 0)))
                if new.ndim == 0 or new.shape[0] != 1:
                    _fail(node, f"reshape to {list(np.asarray(target))} mixes the batch with features")
            elif op == "Squeeze":
                axes = a.get("axes") if "axes" in a else (list(self.const(node, node.input[1], "axes")) if len(node.input) > 1 and node.input[1] else None)
                if axes is None:
                    axes = [i for i in range(1, full.ndim) if full.shape[i] == 1]
                axes = [int(i) % full.ndim for i in axes]
                if 0 in axes:
                    _fail(node, "squeezes the batch axis")
                new = np.squeeze(full, axis=tuple(axes))
            else:  # Unsqueeze
                axes = a.get("axes") if "axes" in a else list(self.const(node, node.input[1], "axes"))
                nd = full.ndim + len(axes)
                new = full
                for ax in sorted(int(i) % nd for i in axes):
                    if ax == 0:
                        _fail(node, "unsqueezes before the batch axis")
                    new = np.expand_dims(new, ax)
        except ValueError as e:
            _fail(node, f"cannot apply to shape {st.shape}: {e}")
        return st.copy(shape=tuple(new.shape), perm=np.ascontiguousarray(new[0]))

    # element-wise --------------------------------------------------------
    def _to_ir(self, node, st: State, c: np.ndarray) -> np.ndarray:
        """A constant broadcast over the activation -> (n_ir,) in IR order."""
        c = np.asarray(c, F32)
        try:
            b = np.broadcast_to(c, np.broadcast_shapes(c.shape, st.shape))
        except ValueError:
            _fail(node, f"constant of shape {c.shape} does not broadcast with the activation {st.shape}")
        if b.shape != tuple(st.shape):
            _fail(node, f"constant of shape {c.shape} would change the activation shape {st.shape} to {b.shape}")
        out = np.empty(st.n_ir, F32)
        out[st.perm.reshape(-1)] = b.reshape(-1)
        return out

    def _per_channel(self, node, st: State, cir: np.ndarray) -> np.ndarray:
        ch = st.ir_channel()
        nch = st.ir_shape[-1]
        v = np.zeros(nch, F32)
        v[ch] = cir
        if not np.array_equal(v[ch], cir, equal_nan=True):
            _fail(node, "constant varies across the positions of a channel (only scalars or per-channel constants fold into thresholds)")
        return v

    def _elementwise(self, node, st: State, fn, consts: Sequence[np.ndarray], desc: str) -> State:
        params = [self._to_ir(node, st, c) for c in consts]
        if st.kind == "input":
            table = fn(st.table, *[p[:, None] for p in params])
            return st.copy(table=np.asarray(table, F32))
        if st.kind == "bits":
            v = np.stack([st.v0, st.v1], axis=1)
            v = fn(v, *[p[:, None] for p in params])
            return st.copy(v0=np.asarray(v[:, 0], F32), v1=np.asarray(v[:, 1], F32))
        pc = tuple(self._per_channel(node, st, p)[:, None] for p in params)
        new = st.copy()
        new.chain.append(ChainOp(f"{desc} ({node_label(node)})", fn, pc))
        return new

    # activations ---------------------------------------------------------
    def _act_fn(self, node, st: State, a):
        """(fn, const params, description) of a Sign/BipolarQuant/Quant/MultiThreshold."""
        op = node.op_type
        if op == "Sign":
            return _f_sign, [], "Sign", None
        if op == "BipolarQuant":
            return _f_bipolar, [self.const(node, node.input[1], "scale")], "BipolarQuant", 1
        if op == "Quant":
            if len(node.input) < 4:
                _fail(node, "Quant needs 4 inputs (x, scale, zeropt, bitwidth)")
            bits = np.asarray(self.const(node, node.input[3], "bitwidth")).reshape(-1)
            if bits.size != 1 or bits[0] != int(bits[0]) or bits[0] < 1:
                _fail(node, f"bitwidth must be a positive integer scalar, got {bits.tolist()}")
            rnd = a.get("rounding_mode", "ROUND").upper()
            if rnd not in ("ROUND", "CEIL", "FLOOR"):
                _fail(node, f"rounding_mode {rnd} is not supported")
            fn = _make_quant(bool(a.get("signed", 1)), bool(a.get("narrow", 0)), int(bits[0]), rnd)
            return fn, [self.const(node, node.input[1], "scale"), self.const(node, node.input[2], "zeropt")], f"{int(bits[0])}-bit Quant", int(bits[0])
        # MultiThreshold
        t = np.asarray(self.const(node, node.input[1], "thresholds"), F32)
        if t.ndim != 2:
            _fail(node, f"thresholds must be (C, T), got shape {t.shape}")
        layout = a.get("data_layout", "NCHW")
        rank = len(st.shape)
        cax = 1 if (layout == "NCHW" or rank == 2) else rank - 1
        cols = []
        for j in range(t.shape[1]):
            col = t[:, j]
            shp = [1] * rank
            shp[cax] = col.size
            if col.size not in (1, st.shape[cax]):
                _fail(node, f"thresholds for {col.size} channels, activation has {st.shape[cax]}")
            cols.append(col.reshape(shp))
        fn = _make_multithreshold(float(a.get("out_scale", 1.0)), float(a.get("out_bias", 0.0)))
        return fn, cols, f"MultiThreshold ({t.shape[1]} thresholds)", t.shape[1]

    def _activation(self, node, st: State, a) -> State:
        fn, consts, desc, _ = self._act_fn(node, st, a)
        if st.kind != "acc":
            return self._elementwise(node, st, fn, consts, desc)
        params = tuple(self._per_channel(node, st, self._to_ir(node, st, c))[:, None] for c in consts)
        act = ChainOp(f"{desc} ({node_label(node)})", fn, params)
        res = _find_steps(st, act, self.spec)
        if node.op_type == "Sign" and (res is None or np.any(res[2] == 0) or np.any(res[3] == 0)):
            _fail(node, f"outputs 0 for some accumulator value of layer '{st.layer.name}' (ONNX Sign(0) = 0 is not binary); "
                        f"use BipolarQuant, or move the threshold off the integers (e.g. Add 0.5)")
        if res is None:  # more than two values: a multi-bit quantizer stays in the chain
            new = st.copy(multibit=node)
            new.chain.append(act)
            return new
        t, d, v0, v1, nconst = res
        layer = st.layer
        for pnode, k in st.pools:
            bad = np.nonzero((d < 0) & ~nconst)[0]
            if bad.size:
                _fail(pnode, f"max-pool before a decreasing activation (channel {int(bad[0])} of layer '{layer.name}'): pool the binary outputs instead")
        layer.thresholds = Thresholds(t.astype(np.int64), d.astype(np.int8))
        folded = [op.desc for op in st.chain]
        self.report.add(f"  thresholds of '{layer.name}' from {desc} ({node_label(node)})"
                        + (f", folded: {'; '.join(folded)}" if folded else "")
                        + f"; {int((d < 0).sum())} decreasing, {int(nconst.sum())} constant channels")
        for pnode, k in st.pools:
            pname = self.ir_name(pnode, f"pool{len(self.layers)}")
            self.layers.append(MaxPool2D(pname, k, k))
            self.report.add(f"  max-pool {k}x{k} '{pname}' from {node_label(pnode)} (moved after the activation: it is increasing)")
        ch = st.ir_channel()
        return State("bits", st.shape, st.perm, st.ir_shape, v0=v0[ch].astype(F32), v1=v1[ch].astype(F32))

    # max-pool / pad ------------------------------------------------------
    def _maxpool(self, node, st: State, a) -> State:
        if st.kind == "input":
            _fail(node, "max-pool of the input image is not supported (the IR pools binary maps)")
        if not st.canonical():
            _fail(node, f"needs an NCHW feature map, got shape {st.shape}")
        ks = list(a.get("kernel_shape", []))
        strides = list(a.get("strides", [1] * len(ks)))
        pads = list(a.get("pads", [0] * 2 * len(ks)))
        dil = list(a.get("dilations", [1] * len(ks)))
        if len(ks) != 2 or ks[0] != ks[1]:
            _fail(node, f"kernel {ks} is not square 2-D")
        k = int(ks[0])
        if strides != [k, k]:
            _fail(node, f"stride {strides} differs from the kernel {k} (only non-overlapping pooling)")
        if any(pads) or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or any(x != 1 for x in dil):
            _fail(node, "padded or dilated max-pool is not supported")
        h, w, c = st.ir_shape
        if h % k or w % k:
            _fail(node, f"kernel {k} does not divide the {h}x{w} map")
        if len(node.output) > 1 and node.output[1]:
            _fail(node, "max-pool indices output is not supported")
        nh, nw = h // k, w // k
        shape, perm = (1, c, nh, nw), _canon_perm(nh, nw, c)
        if st.kind == "bits":
            if np.any(st.v1 <= st.v0):
                _fail(node, "max-pool of activations where bit 1 is not the larger value")
            v0 = st.v0.reshape(h, w, c)[::k, ::k].reshape(-1)
            v1 = st.v1.reshape(h, w, c)[::k, ::k].reshape(-1)
            if not (np.all(st.v0.reshape(h, w, c) == st.v0.reshape(h, w, c)[:1, :1]) and np.all(st.v1.reshape(h, w, c) == st.v1.reshape(h, w, c)[:1, :1])):
                _fail(node, "activation values vary across positions of a channel")
            name = self.ir_name(node, f"pool{len(self.layers)}")
            self.layers.append(MaxPool2D(name, k, k))
            self.report.add(f"  max-pool {k}x{k} '{name}' from {node_label(node)}")
            return st.copy(shape=shape, perm=perm, ir_shape=(nh, nw, c), v0=v0, v1=v1)
        # acc: max-pool commutes with an increasing activation; checked there
        new = st.copy(shape=shape, perm=perm, ir_shape=(nh, nw, c))
        new.pools.append((node, k))
        return new

    def _pad(self, node, st: State, a) -> State:
        if st.kind == "acc":
            _fail(node, "padding before the activation is not supported")
        mode = a.get("mode", "constant")
        if mode != "constant":
            _fail(node, f"pad mode '{mode}' is not supported (constant only)")
        pads = a.get("pads")
        if pads is None:
            pads = self.const(node, node.input[1], "pads")
        pads = [int(x) for x in np.asarray(pads).reshape(-1)]
        val = a.get("value", 0.0)
        if len(node.input) > 2 and node.input[2]:
            val = float(np.asarray(self.const(node, node.input[2], "constant_value")).reshape(-1)[0])
        if len(node.input) > 3 and node.input[3]:
            _fail(node, "Pad with an axes input is not supported")
        if not st.canonical() or len(pads) != 8:
            _fail(node, f"needs an NCHW feature map, got shape {st.shape}")
        p = pads[2]
        if pads != [0, 0, p, p, 0, 0, p, p] or p <= 0:
            _fail(node, f"pads {pads} are not the same on all four sides of H and W")
        self._check_pad_value(node, st, F32(val))
        return st.copy(pad=(node, p, val))

    def _check_pad_value(self, node, st: State, val):
        if st.kind == "input":
            if val != 0:
                _fail(node, f"pads the input with {val}; the IR pads fixed-point input with q = 0 (value 0)")
        elif np.any(st.v0 != val):
            bad = np.unique(st.v0[st.v0 != val])[:3]
            _fail(node, f"pads with {val} but bit 0 of the activation is {bad.tolist()}; the IR pads binary maps with bit 0 (-1)")

    # linear --------------------------------------------------------------
    def _linear(self, node, st: State, a) -> State:
        op = node.op_type
        if node.input[0] not in self.dyn:
            _fail(node, "the activation must be the first input (weights second)")
        if st.kind == "acc":
            why = (f"{st.multibit.op_type} '{st.multibit.name}' is not binary" if st.multibit is not None
                   else f"no binary activation after layer '{st.layer.name}'")
            _fail(node, f"its input is not binary: {why} (only 1-bit activations are supported)")
        wname = node.input[1]
        W = np.asarray(self.const(node, wname, "weight"), np.float64)
        bias = None
        alpha = 1.0
        if op == "MatMul":
            if len(st.shape) != 2 or W.ndim != 2:
                _fail(node, f"needs a 2-D activation and weight (got {st.shape} and {W.shape}); flatten first")
            Wk = W.T  # (out, in)
        elif op == "Gemm":
            if int(a.get("transA", 0)):
                _fail(node, "transA=1 is not supported")
            Wk = W if int(a.get("transB", 0)) else W.T
            alpha = float(a.get("alpha", 1.0))
            if len(node.input) > 2 and node.input[2]:
                bias = np.asarray(self.const(node, node.input[2], "bias C"), np.float64) * float(a.get("beta", 1.0))
            if len(st.shape) != 2:
                _fail(node, f"needs a 2-D activation, got {st.shape}")
        else:
            return self._conv(node, st, a, W)
        if Wk.shape[1] != st.shape[1]:
            _fail(node, f"weight has {Wk.shape[1]} inputs, activation has {st.shape[1]}")
        out_f = Wk.shape[0]
        alpha_j, wbits = self._binary_weights(node, wname, Wk * alpha)
        # ONNX feature j is IR feature perm[j]
        n = st.n_ir
        W_ir = np.zeros((out_f, n))
        W_ir[:, st.perm.reshape(-1)] = Wk * alpha
        wb_ir = np.zeros((out_f, n), np.uint8)
        wb_ir[:, st.perm.reshape(-1)] = wbits
        layer_in = self._input_side(node, st)
        kind, sigma, m, delta = layer_in
        wb_ir = np.where(sigma[None, :] < 0, 1 - wb_ir, wb_ir).astype(np.uint8)
        off = W_ir @ m if m is not None else np.zeros(out_f)
        if bias is not None:
            bflat = np.broadcast_to(bias, (out_f,)) if bias.size in (1, out_f) else _fail(node, f"bias has {bias.size} values for {out_f} outputs")
            off = off + bflat
        name = self.ir_name(node, f"fc{len(self.layers)}")
        layer = Dense(name, n, out_f, wb_ir, input_kind=kind)
        return self._new_layer(node, layer, st, off, delta * alpha_j, (1, out_f), np.arange(out_f), (out_f,), bias is not None)

    def _conv(self, node, st: State, a, W) -> State:
        if W.ndim != 4:
            _fail(node, f"only 2-D convolutions are supported (weight shape {W.shape})")
        if not st.canonical():
            _fail(node, f"needs an NCHW feature map, got shape {st.shape}")
        o, cin, kh, kw = W.shape
        h, w, c = st.ir_shape
        if int(a.get("group", 1)) != 1:
            _fail(node, f"grouped convolution (group={a.get('group')}) is not supported")
        if list(a.get("dilations", [1, 1])) != [1, 1]:
            _fail(node, f"dilated convolution {list(a.get('dilations'))} is not supported")
        strides = list(a.get("strides", [1, 1]))
        if strides != [1, 1]:
            _fail(node, f"stride {strides} is not supported (only stride 1)")
        if kh != kw:
            _fail(node, f"kernel {kh}x{kw} is not square")
        if cin != c:
            _fail(node, f"weight has {cin} input channels, activation has {c}")
        k = kh
        pads = [int(v) for v in a.get("pads", [0, 0, 0, 0])]
        auto = a.get("auto_pad", "NOTSET")
        same = False
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            if k % 2 == 0:
                _fail(node, f"auto_pad {auto} with an even kernel {k}")
            pads, same = [(k - 1) // 2] * 4, True
        elif auto not in ("NOTSET", "VALID"):
            _fail(node, f"auto_pad {auto} is not supported")
        if st.pad is not None:
            if any(pads):
                _fail(node, "padding both by a Pad node and by the convolution")
            pnode, p, val = st.pad
            pads = [p] * 4
        elif any(pads):
            self._check_pad_value(node, st, F32(0.0))
        if pads == [0, 0, 0, 0] and not same:
            padding = "valid"
            if h < k or w < k:
                _fail(node, f"kernel {k} larger than the {h}x{w} map")
            nh, nw = h - k + 1, w - k + 1
        elif len(set(pads)) == 1 and k % 2 == 1 and pads[0] == (k - 1) // 2:
            padding, nh, nw = "same", h, w
        else:
            _fail(node, f"pads {pads} with kernel {k}: only no padding or 'same' ((k-1)/2 on every side) are supported")
        alpha_j, wbits = self._binary_weights(node, node.input[1], W.reshape(o, -1))
        wbits = wbits.reshape(o, cin, k, k)
        kind, sigma, m, delta = self._input_side(node, st)
        # per input channel values (uniform over positions: checked in _input_side)
        sig_c = sigma[:c] if len(sigma) == c else sigma.reshape(h, w, c)[0, 0]
        wbits = np.where(sig_c[None, :, None, None] < 0, 1 - wbits, wbits)
        w_ir = np.ascontiguousarray(wbits.transpose(0, 2, 3, 1)).reshape(o, -1).astype(np.uint8)
        off = np.zeros(o)
        if m is not None:
            m_c = m.reshape(h, w, c)[0, 0]
            off = np.einsum("ocyx,c->o", W, m_c)
        has_bias = len(node.input) > 2 and bool(node.input[2])
        if has_bias:
            b = np.asarray(self.const(node, node.input[2], "bias"), np.float64).reshape(-1)
            if b.size != o:
                _fail(node, f"bias has {b.size} values for {o} outputs")
            off = off + b
        name = self.ir_name(node, f"conv{len(self.layers)}")
        layer = Conv2D(name, c, o, k, padding, w_ir, input_kind=kind)
        return self._new_layer(node, layer, st, off, delta * alpha_j, (1, o, nh, nw), _canon_perm(nh, nw, o), (nh, nw, o), has_bias)

    def _binary_weights(self, node, wname, Wk) -> Tuple[np.ndarray, np.ndarray]:
        """Wk (out, fan_in) float -> (alpha per out channel, bits)."""
        absw = np.abs(Wk)
        ok = np.all(absw == absw[:, :1], axis=1) & (absw[:, 0] > 0)
        if not np.all(ok):
            j = int(np.nonzero(~ok)[0][0])
            vals = np.unique(Wk[j])
            src = self.const_origin.get(wname)
            via = ""
            if src is not None and src.op_type == "Quant":
                bits = np.asarray(self.consts.get(src.input[3], [-1])).reshape(-1)[0]
                via = f" ({int(bits)}-bit Quant '{src.name}')"
            _fail(node, f"weights are not binary{via}: output channel {j} has {vals.size} distinct values "
                        f"{vals[:4].tolist()}{'...' if vals.size > 4 else ''} (need +-alpha)")
        return absw[:, 0].astype(np.float64), (Wk > 0).astype(np.uint8)

    def _input_side(self, node, st: State):
        """(input_kind, sign per IR input element, offsets m or None, magnitude delta)."""
        if st.kind == "input":
            if any(isinstance(l, (Dense, Conv2D)) for l in self.layers):
                _fail(node, "internal: second layer on the input")
            qv = np.arange(256, dtype=np.int64) - self.spec.zero_point
            k = int(np.nonzero(qv)[0][0])
            s = F32(st.table[0, k] / F32(qv[k]))
            want = (s * qv.astype(F32)).astype(F32)
            if s == 0 or not np.all(st.table == want[None, :]):
                _fail(node, f"its input is not a uniform scaling s * q of the pixels q = p - {self.spec.zero_point} "
                            f"(the IR's first layer needs it; check --zero-point/--frac-bits and the input preprocessing)")
            e = _pow2_exponent(abs(float(s)))
            self.first_scale = abs(float(s))
            if e is not None:
                self.spec.frac_bits = e
            self.report.add(f"  first layer input: x = {float(s):g} * q" + (f" (frac_bits {e})" if e is not None else " (scale is not a power of two: frac_bits kept)"))
            sigma = np.full(st.n_ir, -1.0 if s < 0 else 1.0)
            return "fixed", sigma, None, abs(float(s))
        if st.kind != "bits":
            _fail(node, "its input is not binary")
        if not any(isinstance(l, (Dense, Conv2D)) for l in self.layers):
            _fail(node, "the first layer must read the (scaled) pixels, but its input is binarized")
        d = (st.v1.astype(np.float64) - st.v0.astype(np.float64)) / 2
        m = (st.v1.astype(np.float64) + st.v0.astype(np.float64)) / 2
        ad = np.abs(d)
        if np.any(ad == 0) or not np.all(ad == ad[0]):
            _fail(node, f"its binary input has different magnitudes per element ({np.unique(ad)[:4].tolist()}): a per-channel activation scale cannot map to XNOR-popcount")
        if len(st.ir_shape) == 3:
            h, w, c = st.ir_shape
            if not (np.all(d.reshape(h, w, c) == d.reshape(h, w, c)[:1, :1]) and np.all(m.reshape(h, w, c) == m.reshape(h, w, c)[:1, :1])):
                _fail(node, "activation values vary across positions of a channel")
        return "binary", np.sign(d), (m if np.any(m != 0) else None), float(ad[0])

    def _new_layer(self, node, layer, st_in, off, scale, shape, perm, ir_shape, has_bias) -> State:
        self.layers.append(layer)
        what = f"{layer.kind} '{layer.name}' {layer.fan_in}->{layer.out_channels}"
        if isinstance(layer, Conv2D):
            what += f" k={layer.kernel} {layer.padding}"
        extra = []
        if not np.all(scale == scale[0]):
            extra.append("per-channel weight scale")
        elif scale[0] != 1:
            extra.append(f"scale {scale[0]:g}")
        if np.any(off != 0):
            extra.append("bias/offset")
        self.report.add(f"{what} ({layer.input_kind} input) from {node_label(node)}" + (f" [{', '.join(extra)} folded]" if extra else ""))
        return State("acc", shape, np.asarray(perm).reshape(shape[1:]), ir_shape, layer=layer,
                     scale=np.asarray(scale, np.float64), off=np.asarray(off, np.float64))

    # the end -------------------------------------------------------------
    def _finish(self, st: State):
        out = self.g.output[0].name
        if st.kind != "acc":
            raise OnnxImportError(f"{self.source}: graph output '{out}' is {'binary activations' if st.kind == 'bits' else 'the input'}; "
                                  f"the last layer must be a dense/conv layer producing scores")
        if st.pools:
            _fail(st.pools[0][0], "max-pool of the class scores is not supported")
        layer = st.layer
        if isinstance(layer, Conv2D):
            if st.ir_shape[:2] != (1, 1) or layer.padding != "valid":
                raise OnnxImportError(f"{self.source}: the last layer '{layer.name}' is a convolution with a {st.ir_shape[0]}x{st.ir_shape[1]} output; it must be dense (or a conv covering the whole map)")
            dense = Dense(layer.name, layer.fan_in, layer.out_channels, layer.weights, input_kind=layer.input_kind)
            self.layers[self.layers.index(layer)] = dense
            self.report.add(f"  last convolution '{layer.name}' covers its whole input: mapped to a dense layer")
            layer = dense
        _check_scores(st, layer, self.spec)
        if st.chain:
            self.report.add(f"  scores of '{layer.name}': dropped order-preserving {'; '.join(op.desc for op in st.chain)}")
        net = Network(re.sub(r"\s+", "_", str(self.name)) or "imported", self.spec, self.layers)
        classes = self.meta.get("bnnfpga.classes")
        if classes:
            try:
                cl = json.loads(classes)
                if isinstance(cl, list) and len(cl) == net.num_classes:
                    net.classes = [str(c) for c in cl]
            except ValueError:
                pass
        net.metadata = {"source": "onnx", "onnx_file": os.path.basename(self.source),
                        "onnx_producer": f"{self.model.producer_name} {self.model.producer_version}".strip()}
        if self.first_scale is not None:
            net.metadata["input_scale"] = self.first_scale
        try:
            net.validate()
        except IRError as e:
            raise OnnxImportError(f"{self.source}: imported network is not valid: {e}")
        self.report.add(f"network '{net.name}': {len(net.compute_layers())} compute layers, {net.num_classes} classes")
        return net, self.report


def _describe(c: np.ndarray) -> str:
    c = np.asarray(c)
    if c.size == 1:
        return f"{float(c.reshape(-1)[0]):g}"
    return f"a {tuple(c.shape)} constant"


def _reshape_target(node, in_shape, target, allowzero) -> List[int]:
    t = [int(x) for x in np.asarray(target).reshape(-1)]
    out = []
    for i, d in enumerate(t):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                _fail(node, f"shape {t}: 0 beyond the input rank")
            out.append(int(in_shape[i]))
        else:
            out.append(d)
    return out


# ----------------------------------------------------------------------------
# thresholds by evaluation
# ----------------------------------------------------------------------------


def _acc_limits(st: State, spec: InputSpec) -> Tuple[int, int, int]:
    layer = st.layer
    n = layer.fan_in
    if layer.input_kind == "fixed":
        m = max(spec.zero_point, 255 - spec.zero_point)
        return -m * n, m * n, n
    return 0, n, n


def _pre(st: State, acc: np.ndarray) -> np.ndarray:
    """The value before any chain op: (C, K) float32 for integer acc (C, K) or (K,)."""
    layer = st.layer
    acc = np.asarray(acc, np.float64)
    g = acc if layer.input_kind == "fixed" else 2 * acc - layer.fan_in
    v = st.off[:, None] + st.scale[:, None] * (g if g.ndim == 2 else g[None, :])
    return v.astype(F32)


def _eval(st: State, acc: np.ndarray, act: Optional[ChainOp], upto: Optional[int] = None) -> np.ndarray:
    v = _pre(st, acc)
    for op in st.chain[:upto]:
        v = op.fn(v, *op.params)
    if act is not None:
        v = act.fn(v, *act.params)
    return np.asarray(v, F32)


def _find_steps(st: State, act: ChainOp, spec: InputSpec):
    """Per channel threshold of the activation as a function of the integer acc.

    Returns (t, direction, v0, v1, constant mask) or None if some channel takes
    more than two values (a multi-bit quantizer).  Raises if not a step.
    """
    lo, hi, n = _acc_limits(st, spec)
    a, b = lo - 2, hi + 2
    C = st.layer.out_channels
    K = b - a + 1
    if K * C <= EXHAUSTIVE_LIMIT:
        accs = np.arange(a, b + 1, dtype=np.int64)
        step = max(1, (1 << 20) // C)
        out = np.concatenate([_eval(st, accs[s:s + step], act) for s in range(0, K, step)], axis=1)
        first, last = out[:, :1], out[:, -1:]
        nvals = np.array([np.unique(r).size for r in out])
        if np.any(nvals > 2):
            return None
        lowside = out == first
        # a step: lowside is True on a prefix, False after
        cnt = lowside.sum(axis=1)
        step_ok = np.all(lowside == (np.arange(K)[None, :] < cnt[:, None]), axis=1)
        if not np.all(step_ok):
            c = int(np.nonzero(~step_ok)[0][0])
            raise OnnxImportError(f"{_label_of(act)}: output of channel {c} of layer '{st.layer.name}' is not monotone in the accumulator")
        pos = a + cnt  # first acc with the high-side value (b + 1 if constant)
        va, vb = first[:, 0], last[:, 0]
    else:
        va = _eval(st, np.full((C, 1), a), act)[:, 0]
        vb = _eval(st, np.full((C, 1), b), act)[:, 0]
        L = np.full(C, a, np.int64)  # out(L) == va
        R = np.full(C, b, np.int64)  # out(R) == vb (if different)
        for _ in range(int(np.ceil(np.log2(K))) + 2):
            active = R - L > 1
            if not active.any():
                break
            mid = (L + R) // 2
            om = _eval(st, mid[:, None], act)[:, 0]
            bad = (om != va) & (om != vb)
            if bad.any():
                return None
            go_right = (om == va) & active
            L = np.where(go_right, mid, L)
            R = np.where(active & ~go_right, mid, R)
        pos = np.where(va == vb, b + 1, R)
        # verify on a sample
        samp = np.unique(np.concatenate([np.linspace(a, b, 4097).astype(np.int64), pos, pos - 1]))
        samp = samp[(samp >= a) & (samp <= b)]
        out = _eval(st, samp, act)
        want = np.where(samp[None, :] < pos[:, None], va[:, None], vb[:, None])
        if np.any(out != want):
            if np.any((out != va[:, None]) & (out != vb[:, None])):
                return None
            c = int(np.nonzero(np.any(out != want, axis=1))[0][0])
            raise OnnxImportError(f"{_label_of(act)}: output of channel {c} of layer '{st.layer.name}' is not monotone in the accumulator")
    const = va == vb
    incr = vb > va
    d = np.where(incr, 1, -1).astype(np.int64)
    # acc >= pos (incr) or acc <= pos - 1 (decr)
    t = np.where(incr, pos, pos - 1)
    v0 = np.where(incr, va, vb).astype(np.float64)
    v1 = np.where(incr, vb, va).astype(np.float64)
    if np.any(const):
        _constant_channels(st, act, const, va, v0, v1, d, t, lo, hi)
    t = np.clip(t, lo - 1, hi + 1)
    return t, d, v0, v1, const


def _label_of(op: ChainOp) -> str:
    m = re.search(r"\((node '.*' \([A-Za-z]+\))\)$", op.desc)
    return m.group(1) if m else op.desc


def _constant_channels(st, act, const, va, v0, v1, d, t, lo, hi):
    """Channels whose activation never changes: keep a consistent (v0, v1) pair."""
    ref = ~const
    pairs = {}
    for c in np.nonzero(ref)[0]:
        pairs[(v0[c], v1[c])] = pairs.get((v0[c], v1[c]), 0) + 1
    r0, r1 = max(pairs, key=pairs.get) if pairs else (None, None)
    # direction from the slope of the value before the activation
    pre = _eval(st, np.array([lo - 2, hi + 2]), None)
    slope_neg = pre[:, 1] < pre[:, 0]
    for c in np.nonzero(const)[0]:
        v = va[c]
        if r0 is not None and v == r1:
            bit, other = 1, r0
        elif r0 is not None and v == r0:
            bit, other = 0, r1
        elif v != 0:
            bit, other = (1 if v > 0 else 0), -v
        else:
            bit, other = 0, F32(1)
        v0[c], v1[c] = (other, v) if bit else (v, other)
        dc = -1 if slope_neg[c] else 1
        d[c] = dc
        if bit:
            t[c] = lo - 1 if dc > 0 else hi + 1
        else:
            t[c] = hi + 1 if dc > 0 else lo - 1


def _check_scores(st: State, layer, spec):
    """The last layer's output must be an order-preserving map of the IR scores."""
    lo, hi, n = _acc_limits(st, spec)
    C = layer.out_channels
    K = hi - lo + 1
    if K * C <= EXHAUSTIVE_LIMIT:
        accs = np.arange(lo, hi + 1)
    else:
        accs = np.unique(np.linspace(lo, hi, max(2, EXHAUSTIVE_LIMIT // C)).astype(np.int64))
    if layer.input_kind == "binary":
        accs = accs  # score = 2 acc - n, increasing in acc
    F = _eval(st, accs, None)
    culprit = st.chain[-1].desc if st.chain else f"the weight scales of layer '{layer.name}'"
    if not np.all(F == F[:1]):
        diff = int(np.nonzero(np.any(F != F[:1], axis=1))[0][0])
        raise OnnxImportError(f"{_label_of_desc(culprit)}: class {diff} is scaled or shifted differently from class 0 after the last layer "
                              f"(per-class scale/bias changes the predicted class; the IR's scores are integer dot products)")
    if not np.all(np.diff(F[0].astype(np.float64)) > 0):
        raise OnnxImportError(f"{_label_of_desc(culprit)}: the map from the last layer's integer scores to the graph output is not strictly increasing "
                              f"(it would change the predicted class or create ties)")


def _label_of_desc(desc: str) -> str:
    m = re.search(r"\((node '.*' \([A-Za-z]+\))\)$", desc)
    return m.group(1) if m else desc


# ----------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------


def import_onnx(path, zero_point: Optional[int] = None, frac_bits: Optional[int] = None,
                name: Optional[str] = None, classes: Optional[List[str]] = None) -> Tuple[Network, ImportReport]:
    """Read an ONNX/QONNX file (or ModelProto) -> (ir.Network, report of what was folded and mapped)."""
    import onnx

    source = "<model>" if isinstance(path, onnx.ModelProto) else os.fspath(path)
    model = load_model(path)
    imp = _Importer(model, zero_point=zero_point, frac_bits=frac_bits, name=name, source=source)
    net, report = imp.run()
    if classes:
        if len(classes) != net.num_classes:
            raise OnnxImportError(f"--classes: {len(classes)} names for {net.num_classes} outputs")
        net.classes = list(classes)
    return net, report
