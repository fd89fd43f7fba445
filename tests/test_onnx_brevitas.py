"""Brevitas w1a1 TFC- and CNV-shaped networks: QONNX export -> import -> same classes as Brevitas's torch forward.

The models have random binary weights and random BatchNorm statistics (about 30%
negative gamma), so the thresholds exercise both directions; the input
quantizer is an 8-bit power-of-two fixed point quantizer (scale 2**-7), as in
Brevitas's bnn_pynq examples, so pixels p map to x = (p - 128) / 128.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("brevitas")

sys.path.insert(0, str(Path(__file__).parent))
from onnx_models import export_brevitas, make_cnv, make_tfc, torch_scores  # noqa: E402

from bnnfpga.golden import GoldenModel, predict_labels  # noqa: E402
from bnnfpga.onnx_export import images_to_input, run_onnxruntime, to_onnx  # noqa: E402
from bnnfpga.onnx_import import import_onnx  # noqa: E402

DATA = Path("/work/shared/data")
N_IMAGES = 1000


def _mnist_or_random(n):
    f = DATA / "mnist" / "t10k-images-idx3-ubyte.gz"
    if f.exists():
        from bnnfpga.data import load_idx

        return load_idx(f)[:n][..., None], "MNIST test"
    return np.random.default_rng(0).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8), "random"


def _cifar_or_random(n):
    f = DATA / "cifar10" / "cifar10_test.npz"
    if f.exists():
        return np.load(f)["x"][:n], "CIFAR-10 test"
    return np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), "random"


def _check(model, net, images, affine=None, scale=2.0 ** -7):
    ref = torch_scores(model, images, scale)  # Brevitas's own PyTorch forward
    golden = GoldenModel(net).run(images)
    # same predicted class on every image (ties: lowest index in both)
    assert np.array_equal(predict_labels(golden), np.argmax(ref, axis=1))
    # and in fact the same scores, up to the final order-preserving scalar affine
    want = golden.astype(np.float32)
    if affine is not None:
        want = want * np.float32(affine[0]) + np.float32(affine[1])
    assert np.array_equal(ref, want)
    # our own export of the imported network runs in onnxruntime with the golden scores
    ours = run_onnxruntime(to_onnx(net), images_to_input(net, images))
    assert np.array_equal(ours, golden.astype(np.float32))
    return golden


@pytest.mark.parametrize("seed", [1, 2])
def test_tfc(tmp_path, seed, monkeypatch):
    affine = (0.5, 0.25)
    model = make_tfc(seed, final_affine=affine)
    path = tmp_path / "tfc_w1a1.onnx"
    export_brevitas(model, (1, 28, 28), path)
    net, report = import_onnx(path)
    text = str(report)
    assert [l.kind for l in net.layers] == ["dense"] * 4
    assert [l.out_channels for l in net.compute_layers()] == [64, 64, 64, 10]
    assert (net.input.zero_point, net.input.frac_bits) == (128, 7)
    assert "BatchNormalization" in text and "BipolarQuant" in text
    assert any((l.thresholds.direction < 0).any() for l in net.compute_layers()[:-1])
    images, _ = _mnist_or_random(N_IMAGES)
    images = np.concatenate([images, np.random.default_rng(seed).integers(0, 256, images.shape, dtype=np.uint8)])
    golden = _check(model, net, images, affine)
    assert len(np.unique(predict_labels(golden))) >= 3  # not a degenerate constant classifier
    # the bisection search (used for large accumulator ranges) finds the same thresholds
    import bnnfpga.onnx_import as oi

    monkeypatch.setattr(oi, "EXHAUSTIVE_LIMIT", 1)
    again, _ = import_onnx(path)
    for a, b in zip(net.compute_layers()[:-1], again.compute_layers()[:-1]):
        assert np.array_equal(a.thresholds.t, b.thresholds.t) and np.array_equal(a.thresholds.direction, b.thresholds.direction)


def test_cnv(tmp_path):
    model = make_cnv(3)
    path = tmp_path / "cnv_w1a1.onnx"
    export_brevitas(model, (3, 32, 32), path)
    net, report = import_onnx(path)
    kinds = [l.kind for l in net.layers]
    assert kinds == ["conv", "conv", "maxpool", "conv", "conv", "maxpool", "conv", "conv", "dense", "dense", "dense"]
    assert net.input.shape == (32, 32, 3)
    assert "MaxPool" in str(report)
    images, _ = _cifar_or_random(N_IMAGES)
    golden = _check(model, net, images)
    assert len(np.unique(predict_labels(golden))) >= 3


def test_tfc_float_input_scale(tmp_path):
    """A float-scaled 8-bit input quantizer: the importer assumes pixels sit on its integer grid, x = (p - 128) * s."""
    model = make_tfc(4, final_affine=None, float_input_scale=True)
    path = tmp_path / "tfc_float_in.onnx"
    export_brevitas(model, (1, 28, 28), path)
    net, report = import_onnx(path)
    s = net.metadata["input_scale"]
    assert s != 2.0 ** -7 and "assuming x = (p - 128) * " in str(report)
    images = np.random.default_rng(4).integers(0, 256, (N_IMAGES, 28, 28, 1), dtype=np.uint8)
    _check(model, net, images, scale=s)
