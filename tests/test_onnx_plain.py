"""Hand-built plain ONNX (run by onnxruntime) and QONNX/FINN graphs (numpy reference) imported exactly."""
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).parent))
from onnx_models import GraphBuilder, pixels_to_x, pm1, random_bn  # noqa: E402

from bnnfpga.golden import GoldenModel, predict_labels  # noqa: E402
from bnnfpga.onnx_export import run_onnxruntime  # noqa: E402
from bnnfpga.onnx_import import import_onnx  # noqa: E402


def _images(rng, n, h, w, c):
    return rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_plain_cnn_onnxruntime(seed):
    """Conv(+bias, zero 'same' pad on the input) BN Sign MaxPool Pad(-1) Conv Mul Add Sign Flatten(NCHW) Gemm."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder((2, 8, 8))
    b.op("Conv", pm1(rng, (8, 2, 3, 3)), 0.3 * rng.standard_normal(8), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.op("BatchNormalization", *random_bn(rng, 8, np.sqrt(18) * 74 / 128), epsilon=1e-3)
    b.op("Sign")
    b.op("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    b.op("Pad", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), np.array(-1.0, np.float32), mode="constant")
    b.op("Conv", pm1(rng, (6, 8, 3, 3)), kernel_shape=[3, 3])
    b.op("Mul", (np.where(rng.random(6) < 0.4, -1, 1) * (0.5 + rng.random(6))).reshape(1, 6, 1, 1))
    b.op("Add", (3 * rng.standard_normal(6)).reshape(1, 6, 1, 1))
    b.op("Sign")
    b.op("Flatten", axis=1)  # NCHW order: the importer permutes the dense weights to (H, W, C)
    b.op("Gemm", pm1(rng, (10, 96)), transB=1, alpha=2.0)
    model = b.model()
    net, report = import_onnx(model)
    assert [l.kind for l in net.layers] == ["conv", "maxpool", "conv", "dense"]
    assert [l.padding for l in net.layers if l.kind == "conv"] == ["same", "same"]
    images = _images(rng, 500, 8, 8, 2)
    ort = run_onnxruntime(model, pixels_to_x(images))
    golden = GoldenModel(net).run(images)
    assert np.array_equal(ort, 2 * golden.astype(np.float32))
    assert np.array_equal(np.argmax(ort, 1), predict_labels(golden))


@pytest.mark.parametrize("seed", range(3))
def test_plain_mlp_dynamic_reshape_and_scaling(seed):
    """Shape/Gather/Concat/Reshape flatten, input Mul by 2 (frac_bits 6), Gemm bias, Sub/Div, BN, final positive Mul."""
    rng = np.random.default_rng(10 + seed)
    b = GraphBuilder((1, 6, 6))
    b.op("Shape", name="shape")
    shape_out = b.cur
    b.op("Gather", np.array(0, np.int64), inputs=[shape_out], axis=0)
    b.op("Unsqueeze", np.array([0], np.int64))
    b.op("Concat", inputs=[b.cur, b.const(np.array([-1], np.int64))], axis=0)
    target = b.cur
    b.op("Reshape", inputs=["x", target])
    b.op("Mul", np.array(2.0, np.float32))
    b.op("Gemm", pm1(rng, (36, 16)), 0.2 * rng.standard_normal(16))
    b.op("Sub", np.float32(0.1))
    b.op("Div", (0.5 + rng.random(16)).reshape(1, 16))
    b.op("BatchNormalization", *random_bn(rng, 16, 6 * 74 / 64), epsilon=1e-5)
    b.op("Sign")
    b.op("MatMul", pm1(rng, (16, 5)))
    b.op("Mul", np.float32(3.0))
    model = b.model()
    net, _ = import_onnx(model)
    assert net.input.frac_bits == 6 and net.input.zero_point == 128
    images = _images(rng, 500, 6, 6, 1)
    ort = run_onnxruntime(model, pixels_to_x(images))
    golden = GoldenModel(net).run(images)
    assert np.array_equal(ort, 3 * golden.astype(np.float32))


def _bipolar_ref(v):
    return np.where(v >= 0, 1.0, -1.0).astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_finn_multithreshold(seed):
    """FINN-style MatMul + MultiThreshold (increasing and decreasing, thresholds ON the integer values)."""
    rng = np.random.default_rng(20 + seed)
    W1, W2, W3 = pm1(rng, (16, 12)), pm1(rng, (12, 8)), pm1(rng, (8, 4))
    T1 = rng.normal(0, 2, (12, 1)).astype(np.float32)
    T2 = (2 * rng.integers(-3, 4, (8, 1))).astype(np.float32)  # y2 is even: equality happens
    b = GraphBuilder((16,))
    b.op("MatMul", W1)
    b.op("MultiThreshold", T1, domain=GraphBuilder.QONNX, out_scale=2.0, out_bias=-1.0, out_dtype="BIPOLAR")
    b.op("MatMul", W2)
    b.op("MultiThreshold", T2, domain=GraphBuilder.QONNX, out_scale=-2.0, out_bias=1.0, out_dtype="BIPOLAR")
    b.op("MatMul", W3)
    net, report = import_onnx(b.model())
    images = _images(rng, 2000, 4, 4, 1)
    x = pixels_to_x(images).reshape(len(images), 16)
    a1 = np.where(x @ W1 >= T1[:, 0], 1.0, -1.0).astype(np.float32)
    y2 = a1 @ W2
    a2 = (1.0 - 2.0 * (y2 >= T2[:, 0])).astype(np.float32)
    ref = a2 @ W3
    golden = GoldenModel(net).run(images)
    assert np.array_equal(ref, golden.astype(np.float32))
    assert (net.compute_layers()[1].thresholds.direction == -1).all()
    assert (y2 == T2[:, 0]).any()  # the boundary itself was exercised


@pytest.mark.parametrize("seed", range(3))
def test_qonnx_quant_1bit_signed_unsigned(seed):
    """1-bit Quant (signed: bipolar; unsigned: {0, s}, an offset folded into the next thresholds) and BipolarQuant."""
    rng = np.random.default_rng(30 + seed)
    W1, W2, W3, W4 = pm1(rng, (16, 12)), pm1(rng, (12, 10)), pm1(rng, (10, 8)), pm1(rng, (8, 3))
    t1 = rng.normal(0, 2, 12).astype(np.float32)
    t2 = rng.normal(0, 1.5, 10).astype(np.float32)
    t3 = rng.normal(0, 1, 8).astype(np.float32)
    one, zero = np.float32(1.0), np.float32(0.0)
    b = GraphBuilder((16,))
    b.op("MatMul", W1).op("Sub", t1.reshape(1, 12))
    b.op("Quant", one, zero, np.float32(1), domain=GraphBuilder.QONNX, signed=1, narrow=0, rounding_mode="ROUND")
    b.op("MatMul", W2).op("Add", t2.reshape(1, 12 - 2))
    b.op("Quant", np.float32(0.5), zero, np.float32(1), domain=GraphBuilder.QONNX, signed=0, narrow=0, rounding_mode="ROUND")
    b.op("MatMul", W3).op("Sub", t3.reshape(1, 8))
    b.op("BipolarQuant", one, domain=GraphBuilder.QONNX)
    b.op("MatMul", W4)
    net, _ = import_onnx(b.model())
    images = _images(rng, 2000, 4, 4, 1)
    x = pixels_to_x(images).reshape(len(images), 16)
    a1 = _bipolar_ref(x @ W1 - t1)
    v = (a1 @ W2 + t2) / np.float32(0.5)
    a2 = (np.round(np.clip(v, 0, 1)) * np.float32(0.5)).astype(np.float32)  # {0, 0.5}
    a3 = _bipolar_ref(a2 @ W3 - t3)
    ref = a3 @ W4
    golden = GoldenModel(net).run(images)
    assert np.array_equal(ref, golden.astype(np.float32))


@pytest.mark.parametrize("seed", range(3))
def test_maxpool_before_increasing_activation(seed):
    """Conv -> MaxPool -> per-channel Add -> Sign: the pool moves after the thresholds (increasing map)."""
    rng = np.random.default_rng(40 + seed)
    b = GraphBuilder((1, 8, 8))
    b.op("Conv", pm1(rng, (6, 1, 3, 3)), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.op("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    b.op("Add", (rng.normal(0, 0.5, 6) + 0.5 / 128).reshape(1, 6, 1, 1).astype(np.float32))
    b.op("Sign")
    b.op("Flatten", axis=1)
    b.op("MatMul", pm1(rng, (96, 4)))
    model = b.model()
    net, report = import_onnx(model)
    assert [l.kind for l in net.layers] == ["conv", "maxpool", "dense"]
    assert "moved after the activation" in str(report)
    images = _images(rng, 500, 8, 8, 1)
    ort = run_onnxruntime(model, pixels_to_x(images))
    assert np.array_equal(ort, GoldenModel(net).run(images).astype(np.float32))
