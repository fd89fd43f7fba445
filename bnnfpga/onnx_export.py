"""Export an IR network to ONNX (netron / onnxruntime) or QONNX.

The graph computes exactly what the golden model computes, in float32:

* input ``x``: float32 (N, C, H, W), the real input ``(p - zero_point) *
  2**-frac_bits`` (what the torch model sees);
* every dense/conv layer: ``Conv`` / ``MatMul`` with +-1 float weights in ONNX
  layout (conv weights (out, in, K, K); dense weights (in, out)).  A dense layer
  after a feature map first transposes NCHW -> NHWC and flattens, so that its
  weight rows are in the IR's (H, W, C) order;
* "same" padding of a binary map is a ``Pad`` with value -1 (bit 0), of the
  input a convolution pad of 0 (q = 0);
* first layer: ``Mul`` by ``2**frac_bits`` turns the real sum back into the
  integer accumulator;
* thresholds: ``Sign(d * y + b)``, with y the accumulator (first layer) or the
  +-1 dot product ``2 * popcount - n`` and b chosen so the argument is never 0
  (an odd integer, or a half-integer on the first layer): the output is +1
  exactly where the IR's bit is 1;
* ``MaxPool`` with kernel == stride on +-1 maps is the OR of the bits;
* output ``scores``: float32 (N, classes) equal to the golden model's int32
  scores (every intermediate value is an integer or a multiple of
  ``2**-frac_bits`` below 2**24, so float32 is exact).

``fmt="qonnx"`` writes the same graph with QONNX ``BipolarQuant`` nodes in
place of ``Sign`` (scale 1; identical, since the argument is never 0) and on
the weights (the initializers then hold the same +-1 values) and metadata for
FINN/QONNX tools; it needs qonnx's executor to run.
"""
from __future__ import annotations

import json
from typing import List, Optional

import numpy as np

from .ir import Conv2D, Dense, MaxPool2D, Network, require_binary_weights, weight_bits

OPSET = 13
QONNX_DOMAIN = "qonnx.custom_op.general"


class _Builder:
    def __init__(self, fmt: str):
        self.nodes = []
        self.inits = []
        self.fmt = fmt

    def const(self, name: str, arr: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op: str, inputs: List[str], output: str, name: str, doc: str = "", domain: str = "", **attrs) -> str:
        from onnx import helper

        n = helper.make_node(op, inputs, [output], name=name, domain=domain or None, **attrs)
        if doc:
            n.doc_string = doc
        self.nodes.append(n)
        return output

    def sign(self, x: str, name: str, doc: str) -> str:
        if self.fmt == "qonnx":
            one = self.const(f"{name}.scale", np.array(1.0, np.float32))
            return self.node("BipolarQuant", [x, one], f"{name}_out", name, doc, domain=QONNX_DOMAIN)
        return self.node("Sign", [x], f"{name}_out", name, doc)

    def weight(self, lname: str, w: np.ndarray) -> str:
        name = self.const(f"{lname}.weight", w.astype(np.float32))
        if self.fmt == "qonnx":
            one = self.const(f"{lname}.weight_scale", np.array(1.0, np.float32))
            return self.node("BipolarQuant", [name, one], f"{lname}.weight_q", f"{lname}/weight_quant",
                             "binary weights (+-1)", domain=QONNX_DOMAIN)
        return name


def _pm1(bits: np.ndarray) -> np.ndarray:
    return (2.0 * bits.astype(np.float32) - 1.0).astype(np.float32)


def _wvals(layer) -> np.ndarray:
    """The layer's weights as float32 values: +-1, or the fixed-point integers (weight_bits > 1)."""
    return layer.weights.astype(np.float32) if weight_bits(layer) > 1 else _pm1(layer.weights)


def to_onnx(net: Network, fmt: str = "onnx"):
    """IR network -> onnx.ModelProto (fmt 'onnx': runs in onnxruntime; 'qonnx': BipolarQuant nodes)."""
    from onnx import TensorProto, helper

    if fmt not in ("onnx", "qonnx"):
        raise ValueError(f"unknown ONNX flavour {fmt!r} (onnx or qonnx)")
    net.validate()
    if net.input.binarize_threshold is not None:
        from .ir import IRError

        raise IRError(f"network '{net.name}': ONNX export of a binarized input (binarize_threshold) is not supported yet")
    if fmt == "qonnx":
        require_binary_weights(net, "the QONNX export (BipolarQuant weights; use fmt='onnx')")
    b = _Builder(fmt)
    sp = net.input
    h, w, c = sp.shape
    x = "x"
    spatial = True  # current tensor is (N, C, H, W)
    shapes = net.shapes()
    compute = net.compute_layers()
    for layer, (ishape, oshape) in zip(net.layers, shapes):
        ln = layer.name
        if isinstance(layer, MaxPool2D):
            x = b.node("MaxPool", [x], f"{ln}_out", ln, f"max-pool {layer.kernel}x{layer.kernel} {ishape} -> {oshape} (OR of bits)",
                       kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2)
            continue
        last = layer is compute[-1]
        if isinstance(layer, Conv2D):
            k, ci, co = layer.kernel, layer.in_channels, layer.out_channels
            wt = _wvals(layer).reshape(co, k, k, ci).transpose(0, 3, 1, 2)
            pad_attr = {"pads": [0, 0, 0, 0]}
            if layer.padding == "same":
                p = layer.pad
                if layer.stride != 1 and (layer.input_kind == "fixed" or p == 0):
                    pad_attr = {"pads": [p, p, p, p]}  # strided: torch's symmetric padding (SAME_UPPER differs)
                elif layer.input_kind == "fixed" or p == 0:
                    pad_attr = {"auto_pad": "SAME_UPPER"}  # zero real input == q = 0
                else:
                    pv = b.const(f"{ln}.pads", np.array([0, 0, p, p, 0, 0, p, p], np.int64))
                    val = b.const(f"{ln}.pad_value", np.array(-1.0, np.float32))
                    x = b.node("Pad", [x, pv, val], f"{ln}_padded", f"{ln}/pad", "'same' padding of a binary map with -1 (bit 0)", mode="constant")
            wn = b.weight(ln, wt)
            x = b.node("Conv", [x, wn], f"{ln}_acc", ln, f"conv {k}x{k} {layer.padding} {ishape} -> {oshape}, {layer.input_kind} input",
                       kernel_shape=[k, k], strides=[layer.stride] * 2, **pad_attr)
            cshape = (1, co, 1, 1)
        else:
            if spatial:
                x = b.node("Transpose", [x], f"{ln}_nhwc", f"{ln}/to_nhwc", "NCHW -> NHWC: the IR flattens (H, W, C)", perm=[0, 2, 3, 1])
                x = b.node("Flatten", [x], f"{ln}_flat", f"{ln}/flatten", f"{ishape} -> ({int(np.prod(ishape))},)", axis=1)
                spatial = False
            wn = b.weight(ln, _wvals(layer).T.copy())
            x = b.node("MatMul", [x, wn], f"{ln}_acc", ln, f"dense {layer.in_features} -> {layer.out_features}, {layer.input_kind} input")
            cshape = (1, layer.out_features)
        if layer.input_kind == "fixed":
            s = b.const(f"{ln}.to_int", np.array(2.0 ** sp.frac_bits, np.float32))
            x = b.node("Mul", [x, s], f"{ln}_int", f"{ln}/to_int", f"real sum * 2**{sp.frac_bits} = integer accumulator")
        if last:
            x = b.node("Identity", [x], "scores", f"{ln}/scores",
                       "integer class scores: " + ("fixed accumulator" if layer.input_kind == "fixed" or weight_bits(layer) > 1
                                                   else "2 * popcount - n"))
            break
        th = layer.thresholds
        d = th.direction.astype(np.float64)
        t = th.t.astype(np.float64)
        if layer.input_kind == "fixed":
            bias = -d * t + 0.5  # d * (acc - t) + 0.5: never 0, > 0 iff the bit is 1
        else:
            n = layer.fan_in
            bias = d * (n - 2 * t) + 1  # d * (y - (2t - n)) + 1 with y = 2 acc - n: odd
        dn = b.const(f"{ln}.direction", d.astype(np.float32).reshape(cshape))
        bn = b.const(f"{ln}.threshold_bias", bias.astype(np.float32).reshape(cshape))
        x = b.node("Mul", [x, dn], f"{ln}_dir", f"{ln}/direction", "+1: bit = acc >= t, -1: bit = acc <= t")
        x = b.node("Add", [x, bn], f"{ln}_pre", f"{ln}/threshold", "threshold t folded into a bias; argument never 0")
        x = b.sign(x, f"{ln}/sign", f"bit {ln}: +1 / -1")
    ncls = net.num_classes
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, h, w])
    out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", ncls])
    graph = helper.make_graph(b.nodes, net.name, [inp], [out], b.inits,
                              doc_string=f"bnnfpga network '{net.name}': x = (p - {sp.zero_point}) * 2**-{sp.frac_bits}, NCHW")
    opsets = [helper.make_opsetid("", OPSET)]
    if fmt == "qonnx":
        opsets.append(helper.make_opsetid(QONNX_DOMAIN, 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="bnnfpga", producer_version=_version())
    model.ir_version = 8
    meta = {
        "bnnfpga.name": net.name,
        "bnnfpga.zero_point": str(sp.zero_point),
        "bnnfpga.frac_bits": str(sp.frac_bits),
        "bnnfpga.input_bits": str(sp.bits),
        "bnnfpga.input_layout": "NCHW float32 x = (p - zero_point) * 2**-frac_bits",
    }
    if net.classes:
        meta["bnnfpga.classes"] = json.dumps(list(net.classes))
    helper.set_model_props(model, meta)
    return model


def _version() -> str:
    try:
        from . import __version__

        return str(__version__)
    except ImportError:
        return ""


def export_onnx(net: Network, path, fmt: str = "onnx") -> None:
    """Write ``net`` as an ONNX file (deterministic bytes)."""
    model = to_onnx(net, fmt)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def images_to_input(net: Network, images: np.ndarray) -> np.ndarray:
    """Raw uint8 images (N, H, W[, C]) -> the exported graph's float32 NCHW input."""
    q = net.input.quantize(images)  # (N, H, W, C) int32
    return (q.astype(np.float32) * np.float32(2.0 ** -net.input.frac_bits)).transpose(0, 3, 1, 2).copy()


def run_onnxruntime(model_or_path, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Run a (plain) ONNX model on float32 input with onnxruntime -> output array."""
    import onnxruntime as ort

    data = model_or_path.SerializeToString() if hasattr(model_or_path, "SerializeToString") else model_or_path
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs = [sess.run(None, {name: x[s:s + batch]})[0] for s in range(0, len(x), batch)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)
