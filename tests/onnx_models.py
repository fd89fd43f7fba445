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


def make_tfc(seed: int = 0, hidden=(64, 64, 64), classes: int = 10, final_affine=(0.5, 0.25)):
    """784-64-64-64-10 w1a1 (bnn_pynq TFC shape): 8-bit input quantizer, binary weights/activations, BatchNorm."""
    import torch
    import torch.nn as nn
    from brevitas.nn import QuantIdentity, QuantLinear

    WQ, AQ, IQ = _quantizers()
    gen = torch.Generator().manual_seed(seed)

    class TFC(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = QuantIdentity(act_quant=IQ, bit_width=8, min_val=-1.0, max_val=1.0 - 2.0 ** -FRAC_BITS, return_quant_tensor=False)
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


def torch_scores(model, images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) -> the Brevitas model's float outputs on x = (p - 128) / 128 in NCHW."""
    import torch

    x = (images.astype(np.float32) - ZERO_POINT) * np.float32(2.0 ** -FRAC_BITS)
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        return model(x).numpy()
