"""Malformed or unsupported ONNX files are refused with one line naming the node (or the file)."""
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

sys.path.insert(0, str(Path(__file__).parent))
from onnx_models import GraphBuilder, pm1, random_bn  # noqa: E402

from bnnfpga.onnx_export import to_onnx  # noqa: E402
from bnnfpga.onnx_import import OnnxImportError, import_onnx  # noqa: E402
from bnnfpga.random_net import random_network  # noqa: E402

Q = GraphBuilder.QONNX


def _refused(model, *patterns):
    with pytest.raises(OnnxImportError) as ei:
        import_onnx(model)
    msg = str(ei.value)
    print(msg)
    assert "\n" not in msg
    for p in patterns:
        assert p in msg, msg
    return msg


def _mlp_head(rng, b, n_in, hidden=12):
    """MatMul -> BN -> Sign on the current tensor (a valid hidden layer)."""
    b.op("MatMul", pm1(rng, (n_in, hidden)))
    b.op("BatchNormalization", *random_bn(rng, hidden, np.sqrt(n_in) * 0.6))
    b.op("BipolarQuant", np.float32(1), domain=Q)
    return hidden


def test_truncated_file(tmp_path):
    net = random_network(np.random.default_rng(0), kind="cnn")
    data = to_onnx(net).SerializeToString()
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[: len(data) // 2])
    msg = _refused(p, "cut.onnx", "not a valid ONNX file")
    (tmp_path / "empty.onnx").write_bytes(b"")
    _refused(tmp_path / "empty.onnx", "empty file")
    (tmp_path / "text.onnx").write_text("hello, I am not a model")
    _refused(tmp_path / "text.onnx", "text.onnx")
    assert msg


def test_softmax_in_the_middle():
    rng = np.random.default_rng(1)
    b = GraphBuilder((16,))
    b.op("MatMul", pm1(rng, (16, 12)))
    b.op("Softmax", name="sm", axis=1)
    b.op("BipolarQuant", np.float32(1), domain=Q)
    b.op("MatMul", pm1(rng, (12, 4)))
    _refused(b.model(), "node 'sm' (Softmax)", "last node")


def test_final_softmax_is_dropped():
    rng = np.random.default_rng(1)
    b = GraphBuilder((16,))
    n = _mlp_head(rng, b, 16)
    b.op("MatMul", pm1(rng, (n, 4)))
    b.op("Softmax", name="sm", axis=1)
    net, report = import_onnx(b.model())
    assert "dropped final node 'sm' (Softmax)" in str(report)


def test_lstm():
    rng = np.random.default_rng(2)
    b = GraphBuilder((5, 16))
    b.op("LSTM", rng.standard_normal((1, 32, 16)), rng.standard_normal((1, 32, 8)), name="rnn", hidden_size=8)
    _refused(b.model(), "node 'rnn' (LSTM)", "recurrent")


def test_four_bit_weights():
    rng = np.random.default_rng(3)
    b = GraphBuilder((16,))
    w = b.const(rng.standard_normal((16, 8)).astype(np.float32), "w_float")
    b.nodes.append(b.h.make_node("Quant", [w, b.const(np.float32(0.25)), b.const(np.float32(0)), b.const(np.float32(4))],
                                 ["w_q"], name="wq4", domain=Q, signed=1, narrow=0, rounding_mode="ROUND"))
    b.op("MatMul", "w_q", name="fc")
    _refused(b.model(), "node 'fc' (MatMul)", "not binary", "4-bit Quant 'wq4'")


def test_four_bit_activation():
    rng = np.random.default_rng(4)
    b = GraphBuilder((16,))
    b.op("MatMul", pm1(rng, (16, 8)))
    b.op("Quant", np.float32(0.5), np.float32(0), np.float32(4), name="aq4", domain=Q, signed=1, narrow=0, rounding_mode="ROUND")
    b.op("MatMul", pm1(rng, (8, 4)), name="fc2")
    _refused(b.model(), "node 'fc2' (MatMul)", "Quant 'aq4' is not binary")


def test_missing_initializer():
    b = GraphBuilder((16,))
    b.op("MatMul", "W_missing", name="fc")
    _refused(b.model(), "node 'fc' (MatMul)", "'W_missing' is missing")


def test_stride_two_conv():
    rng = np.random.default_rng(6)
    b = GraphBuilder((1, 8, 8))
    b.op("Conv", pm1(rng, (4, 1, 3, 3)), name="c2", kernel_shape=[3, 3], strides=[2, 2])
    _refused(b.model(), "node 'c2' (Conv)", "stride [2, 2]")


def test_average_pool():
    rng = np.random.default_rng(7)
    b = GraphBuilder((1, 8, 8))
    b.op("Conv", pm1(rng, (4, 1, 3, 3)), kernel_shape=[3, 3])
    b.op("BipolarQuant", np.float32(1), domain=Q)
    b.op("AveragePool", name="avg", kernel_shape=[2, 2], strides=[2, 2])
    _refused(b.model(), "node 'avg' (AveragePool)", "average pooling")


def test_zero_padding_of_binary_map():
    rng = np.random.default_rng(8)
    b = GraphBuilder((1, 8, 8))
    b.op("Conv", pm1(rng, (4, 1, 3, 3)), kernel_shape=[3, 3])
    b.op("BipolarQuant", np.float32(1), domain=Q)
    b.op("Conv", pm1(rng, (4, 4, 3, 3)), name="c1", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    _refused(b.model(), "node 'c1' (Conv)", "pads with 0", "bit 0")


def test_per_class_bias_on_scores():
    rng = np.random.default_rng(9)
    b = GraphBuilder((16,))
    n = _mlp_head(rng, b, 16)
    b.op("MatMul", pm1(rng, (n, 4)))
    b.op("Add", np.array([[0.0, 1.0, 0.0, 2.0]], np.float32), name="cls_bias")
    _refused(b.model(), "node 'cls_bias' (Add)", "per-class")


def test_negative_scale_on_scores():
    rng = np.random.default_rng(9)
    b = GraphBuilder((16,))
    n = _mlp_head(rng, b, 16)
    b.op("MatMul", pm1(rng, (n, 4)))
    b.op("Mul", np.float32(-1.0), name="flip")
    _refused(b.model(), "node 'flip' (Mul)", "not strictly increasing")


def test_residual_add():
    rng = np.random.default_rng(10)
    b = GraphBuilder((16,))
    n = _mlp_head(rng, b, 16, hidden=16)
    skip = b.cur
    b.op("MatMul", pm1(rng, (16, 16)))
    b.op("Add", inputs=[b.cur, skip], name="res")
    _refused(b.model(), "feeds several nodes")


def test_sign_of_exact_zero():
    """Sign directly on an even-length +-1 dot product hits 0 (ONNX Sign(0) = 0): not binary."""
    rng = np.random.default_rng(11)
    b = GraphBuilder((16,))
    n = _mlp_head(rng, b, 16)
    b.op("MatMul", pm1(rng, (n, 6)))
    b.op("Sign", name="s0")
    b.op("MatMul", pm1(rng, (6, 3)))
    _refused(b.model(), "node 's0' (Sign)", "Sign(0) = 0")


def test_binary_output_and_input_not_pixels():
    rng = np.random.default_rng(12)
    b = GraphBuilder((16,))
    _mlp_head(rng, b, 16)
    _refused(b.model(), "binary activations", "last layer")
    b = GraphBuilder((16,))
    b.op("Sign", name="sgn_in")
    b.op("MatMul", pm1(rng, (16, 4)), name="fc")
    _refused(b.model(), "node 'fc' (MatMul)", "not a uniform scaling")


def test_unknown_op():
    rng = np.random.default_rng(13)
    b = GraphBuilder((16,))
    b.op("MatMul", pm1(rng, (16, 8)))
    b.op("Erf", name="weird")
    _refused(b.model(), "node 'weird' (Erf)", "cannot be mapped")


def test_cli_one_line_error(tmp_path, capsys):
    from bnnfpga.cli import main

    rng = np.random.default_rng(14)
    b = GraphBuilder((1, 8, 8))
    b.op("Conv", pm1(rng, (4, 1, 3, 3)), name="c2", kernel_shape=[3, 3], strides=[2, 2])
    p = tmp_path / "bad.onnx"
    p.write_bytes(b.model().SerializeToString())
    assert main(["import", str(p), "-o", str(tmp_path / "bad.bnn")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "node 'c2' (Conv)" in err and err.startswith("bnnfpga import: error:")
    assert not (tmp_path / "bad.bnn").exists()


def test_maxpool_before_decreasing_activation():
    rng = np.random.default_rng(15)
    b = GraphBuilder((1, 8, 8))
    b.op("Conv", pm1(rng, (4, 1, 3, 3)), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.op("MaxPool", name="mp", kernel_shape=[2, 2], strides=[2, 2])
    b.op("Mul", np.float32(-1.0))
    b.op("Add", np.float32(0.5 / 128))
    b.op("Sign")
    b.op("Flatten", axis=1)
    b.op("MatMul", pm1(rng, (64, 4)))
    _refused(b.model(), "node 'mp' (MaxPool)", "decreasing activation")
