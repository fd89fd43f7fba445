"""The packed golden model against a naive +-1 float reference, and IR validation."""
import numpy as np
import pytest

from bnnfpga import golden, ir
from bnnfpga.random_net import random_images, random_network


def naive_run(net, images):
    """Straightforward reference: +-1 arithmetic on unpacked arrays, no bit tricks."""
    x = net.input.quantize(images).astype(np.int64)
    for layer in net.layers:
        if isinstance(layer, ir.MaxPool2D):
            n, h, w, c = x.shape
            k = layer.kernel
            out = np.zeros((n, h // k, w // k, c), np.int64)
            for dy in range(k):
                for dx in range(k):
                    out = np.maximum(out, x[:, dy::k, dx::k, :][:, : h // k, : w // k])
            x = out
            continue
        w = 2 * layer.weights.astype(np.int64) - 1
        if isinstance(layer, ir.Conv2D):
            vals = x if layer.input_kind == "fixed" else 2 * x - 1
            p = layer.pad
            padv = 0 if layer.input_kind == "fixed" else -1
            vals = np.pad(vals, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=padv)
            n, h, wd, c = vals.shape
            k = layer.kernel
            ho, wo = h - k + 1, wd - k + 1
            dot = np.zeros((n, ho, wo, layer.out_channels), np.int64)
            wk = w.reshape(layer.out_channels, k, k, c)
            for ky in range(k):
                for kx in range(k):
                    dot += np.einsum("nhwc,oc->nhwo", vals[:, ky:ky + ho, kx:kx + wo, :], wk[:, ky, kx, :])
        else:
            vals = x.reshape(len(x), -1)
            vals = vals if layer.input_kind == "fixed" else 2 * vals - 1
            dot = vals @ w.T
        acc = dot if layer.input_kind == "fixed" else (dot + layer.fan_in) // 2
        if layer.thresholds is None:
            return dot.astype(np.int32)
        t, d = layer.thresholds.t, layer.thresholds.direction
        x = np.where(d > 0, acc >= t, acc <= t).astype(np.int64)
    raise AssertionError("no last layer")


@pytest.mark.parametrize("seed", range(60))
def test_golden_equals_naive_reference(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng)
    x = random_images(rng, net, 7)
    np.testing.assert_array_equal(golden.GoldenModel(net).run(x), naive_run(net, x))


def test_label_select_tie_rule():
    s = np.array([[3, 5, 5, 1], [2, 2, 2, 2], [-1, -3, 0, 0]])
    np.testing.assert_array_equal(golden.label_select(s, 1)[:, 0], [1, 0, 2])
    np.testing.assert_array_equal(golden.label_select(s, 3), [[1, 2, 0], [0, 1, 2], [2, 3, 0]])
    np.testing.assert_array_equal(golden.predict_labels(s), s.argmax(1))


def test_pack_bits_layout():
    bits = np.zeros((1, 70), np.uint8)
    bits[0, [0, 63, 64, 69]] = 1
    w = golden.pack_bits(bits)
    assert w.shape == (1, 2) and w.dtype == np.uint64
    assert int(w[0, 0]) == (1 | (1 << 63)) and int(w[0, 1]) == (1 | (1 << 5))


def test_bad_input_shape_and_dtype_are_one_line_errors():
    net = random_network(np.random.default_rng(1), "mlp")
    h, w, c = net.input.shape
    with pytest.raises(ir.IRError, match="shape"):
        golden.GoldenModel(net).run(np.zeros((2, h + 1, w, c), np.uint8))
    with pytest.raises(ir.IRError, match="dtype"):
        golden.GoldenModel(net).run(np.zeros((2, h, w, c), np.float32))


def test_validate_names_layer_and_field():
    net = random_network(np.random.default_rng(2), "cnn")
    layer = net.compute_layers()[0]
    layer.weights = layer.weights[:, :-1]
    with pytest.raises(ir.IRError, match=f"'{layer.name}'.*weights"):
        net.validate()
    net = random_network(np.random.default_rng(3), "mlp")
    net.compute_layers()[0].thresholds.direction[0] = 0
    with pytest.raises(ir.IRError, match="direction"):
        net.validate()
