"""Brevitas w1a1 models (TFC- and CNV-shaped) and hand-built ONNX graphs for the ONNX tests."""
from __future__ import annotations

import numpy as np

ZERO_POINT, FRAC_BITS = 128, 7


def brevitas_available() -> bool:
    try:
        import brevitas  # noqa: F401
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _quantizers():
    from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
    from brevitas.quant.fixed_point import Int8ActPerTensorFixedPoint

    class BinaryWeightUnitScale(SignedBinaryWeightPerTensorConst):
        scaling_const = 1.0  # weights +-1, as bnn_pynq's CommonWeightQuant

    return BinaryWeightUnitScale, SignedBinaryActPerTensorConst, Int8ActPerTensorFixedPoint


def _randomize_bn(bn, gen, fan_in, first_scale=None):
    """Random BatchNorm statistics with thresholds inside the accumulator range, ~30% negative gamma."""
    import torch

    c = bn.num_features
    if first_scale is None:  # binary input: pre-activation 2*popcount - n, std ~ sqrt(n)
        spread = float(np.sqrt(fan_in))
    else:  # pixels q in [-128, 127] times first_scale
        spread = float(np.sqrt(fan_in) * 74 * first_scale)
    with torch.no_grad():
        sign = torch.where(torch.rand(c, generator=gen) < 0.3, -1.0, 1.0)
        bn.weight.copy_(sign * (0.5 + torch.rand(c, generator=gen)))
        bn.bias.copy_(0.3 * torch.randn(c, generator=gen))
        bn.running_mean.copy_(0.7 * spread * torch.randn(c, generator=gen))
        bn.running_var.copy_((spread ** 2) * (0.3 + 2 * torch.rand(c, generator=gen)))


def _weights(module, gen):
    import torch

    with torch.no_grad():
        module.weight.copy_(torch.randn(module.weight.shape, generator=gen))


def make_tfc(seed: int = 0, hidden=(64, 64, 64), classes: int = 10, final_affine=(0.5, 0.25), float_input_scale=False):
    """784-64-64-64-10 w1a1 (bnn_pynq TFC shape): 8-bit input quantizer, binary weights/activations, BatchNorm.

    float_input_scale: the input quantizer has a float (not power-of-two) scale, Brevitas's Int8ActPerTensorFloat.
    """
    import torch
    import torch.nn as nn
    from brevitas.nn import QuantIdentity, QuantLinear

    WQ, AQ, IQ = _quantizers()
    if float_input_scale:
        from brevitas.inject.enum import ScalingImplType
        from brevitas.quant import Int8ActPerTensorFloat

        class IQ(Int8ActPerTensorFloat):  # noqa: F811 - constant float scale max_val / 127
            scaling_impl_type = ScalingImplType.CONST
    gen = torch.Generator().manual_seed(seed)

    class TFC(nn.Module):
        def __init__(self):
            super().__init__()
            top = 1.1 if float_input_scale else 1.0 - 2.0 ** -FRAC_BITS
            self.inp = QuantIdentity(act_quant=IQ, bit_width=8, min_val=-1.0, max_val=top)
            layers = []
            fan = 784
            for i, h in enumerate(hidden):
                lin = QuantLinear(fan, h, bias=False, weight_quant=WQ)
                bn = nn.BatchNorm1d(h, eps=1e-4)
                _weights(lin, gen)
                _randomize_bn(bn, gen, fan, first_scale=2.0 ** -FRAC_BITS if i == 0 else None)
                layers += [lin, bn, QuantIdentity(act_quant=AQ)]
                fan = h
            self.features = nn.Sequential(*layers)
            self.out = QuantLinear(fan, classes, bias=False, weight_quant=WQ)
            _weights(self.out, gen)

        def forward(self, x):
            x = self.inp(x)
            x = x.view(x.shape[0], -1)
            x = self.out(self.features(x))
            if final_affine is not None:  # TensorNorm-like scalar affine: keeps the predicted class
                x = x * final_affine[0] + final_affine[1]
            return x

    return TFC().eval()


def make_cnv(seed: int = 0, channels=(16, 16, 32, 32, 64, 64), fc=(64, 64), classes: int = 10):
    """bnn_pynq CNV topology at reduced width: 3x32x32, six valid 3x3 convs (pool after 2 and 4), two hidden FC."""
    import torch
    import torch.nn as nn
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear

    WQ, AQ, IQ = _quantizers()
    gen = torch.Generator().manual_seed(seed)

    class CNV(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = QuantIdentity(act_quant=IQ, bit_width=8, min_val=-1.0, max_val=1.0 - 2.0 ** -FRAC_BITS)
            conv = []
            cin = 3
            for i, c in enumerate(channels):
                cv = QuantConv2d(cin, c, 3, bias=False, weight_quant=WQ)
                bn = nn.BatchNorm2d(c, eps=1e-4)
                _weights(cv, gen)
                _randomize_bn(bn, gen, 9 * cin, first_scale=2.0 ** -FRAC_BITS if i == 0 else None)
                conv += [cv, bn, QuantIdentity(act_quant=AQ)]
                if i in (1, 3):
                    conv.append(nn.MaxPool2d(2))
                cin = c
            self.conv = nn.Sequential(*conv)
            lin = []
            fan = cin
            for h in fc:
                ql = QuantLinear(fan, h, bias=False, weight_quant=WQ)
                bn = nn.BatchNorm1d(h, eps=1e-4)
                _weights(ql, gen)
                _randomize_bn(bn, gen, fan)
                lin += [ql, bn, QuantIdentity(act_quant=AQ)]
                fan = h
            self.fc = nn.Sequential(*lin)
            self.out = QuantLinear(fan, classes, bias=False, weight_quant=WQ)
            _weights(self.out, gen)

        def forward(self, x):
            x = self.conv(self.inp(x))
            x = torch.flatten(x, 1)
            return self.out(self.fc(x))

    return CNV().eval()


def export_brevitas(model, input_shape, path):
    import torch
    from brevitas.export import export_qonnx

    export_qonnx(model, torch.zeros((1,) + tuple(input_shape)), str(path), dynamo=False)


def torch_scores(model, images: np.ndarray, scale: float = 2.0 ** -FRAC_BITS) -> np.ndarray:
    """uint8 (N, H, W, C) -> the Brevitas model's float outputs on x = (p - 128) * scale in NCHW."""
    import torch

    x = (images.astype(np.float32) - ZERO_POINT) * np.float32(scale)
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        return model(x).numpy()


# ---------------------------------------------------------------------------
# hand-built ONNX graphs
# ---------------------------------------------------------------------------


class GraphBuilder:
    """A few lines per node: build small ONNX / QONNX graphs for the tests."""

    QONNX = "qonnx.custom_op.general"

    def __init__(self, input_shape, name="g"):
        from onnx import TensorProto, helper

        self.h, self.T = helper, TensorProto
        self.nodes, self.inits = [], []
        self.name = name
        self.input = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + list(input_shape))
        self.cur = "x"
        self._k = 0

    def const(self, arr, name=None):
        from onnx import numpy_helper

        self._k += 1
        name = name or f"c{self._k}"
        arr = np.asarray(arr)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type, *consts, name=None, domain=None, inputs=None, **attrs):
        """Apply op_type to the current tensor (plus constant inputs given as arrays or names)."""
        self._k += 1
        name = name or f"{op_type.lower()}{self._k}"
        ins = [self.cur] if inputs is None else list(inputs)
        for c in consts:
            ins.append(c if isinstance(c, str) or c is None else self.const(c))
        out = f"{name}_out"
        self.nodes.append(self.h.make_node(op_type, [i if i is not None else "" for i in ins], [out], name=name, domain=domain, **attrs))
        self.cur = out
        return self

    def model(self, n_out=None):
        opsets = [self.h.make_opsetid("", 13), self.h.make_opsetid(self.QONNX, 1)]
        out = self.h.make_tensor_value_info(self.cur, self.T.FLOAT, None)
        g = self.h.make_graph(self.nodes, self.name, [self.input], [out], self.inits)
        m = self.h.make_model(g, opset_imports=opsets)
        m.ir_version = 8
        return m


def pm1(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


def random_bn(rng, c, spread):
    gamma = np.where(rng.random(c) < 0.3, -1.0, 1.0) * (0.5 + rng.random(c))
    beta = 0.3 * rng.standard_normal(c)
    mean = 0.7 * spread * rng.standard_normal(c)
    var = spread ** 2 * (0.3 + 2 * rng.random(c))
    return [a.astype(np.float32) for a in (gamma, beta, mean, var)]


def pixels_to_x(images: np.ndarray, zero_point=ZERO_POINT, frac_bits=FRAC_BITS) -> np.ndarray:
    """uint8 (N, H, W, C) -> float32 NCHW x = (p - zp) * 2**-frac_bits."""
    x = (images.astype(np.float32) - zero_point) * np.float32(2.0 ** -frac_bits)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
