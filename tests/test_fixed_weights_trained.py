"""Trained networks with fixed-point first and last layers (scikit-learn digits): torch (eval) ==
golden model on every test image (accumulators, scores, logits), through the model file; the CLI."""
import numpy as np
import pytest

from bnnfpga import export, golden, modelfile, zoo
from bnnfpga.cli import main
from bnnfpga.data import load_dataset
from bnnfpga.train import TrainConfig, load_checkpoint, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.mark.parametrize("arch,kw", [
    ("small_cnn", dict(channels=[16, "M", 32], fc=[64], padding="same")),
    ("mlp", dict(hidden=[128, 128], dropout=0.1)),
])
def test_trained_fixed_first_last_bit_exact(digits, tmp_path, arch, kw):
    model = zoo.build(arch, input_shape=[1, 8, 8], classes=10, first_last="fixed", **kw)
    res = train(model, digits.x_train, digits.y_train, TrainConfig(epochs=6, batch_size=64, lr=1e-2, lr_end=1e-3),
                digits.x_test, digits.y_test, checkpoint_dir=tmp_path / "ck", progress=False)
    print(f"{arch} first/last 8-bit: test accuracy {res.test_accuracy:.4f}")
    assert res.test_accuracy > 0.5
    net = export.to_ir(model, (1, 8, 8))
    first, last = net.compute_layers()[0], net.compute_layers()[-1]
    assert first.weight_bits == 8 and last.weight_bits == 8 and last.score_scale > 0
    assert len(np.unique(first.weights)) > 8  # really multi-level weights
    x = digits.x_test  # all 450 test images
    logits, taccs = export.torch_trace(model, x)
    traces = golden.GoldenModel(net).trace(x)
    gaccs = [t.acc for t in traces if t.acc is not None]
    for i, (a, b) in enumerate(zip(taccs, gaccs)):
        np.testing.assert_array_equal(a, b, err_msg=f"accumulators of compute layer {i}")
    path = modelfile.save(net, tmp_path / "m.bnn")
    back = golden.GoldenModel(modelfile.load(path))
    scores = back.run(x)
    np.testing.assert_array_equal(scores, traces[-1].out)
    np.testing.assert_array_equal(golden.predict_labels(scores), logits.argmax(1))
    np.testing.assert_allclose(back.logits(x), logits, rtol=1e-5, atol=1e-6)
    assert abs((golden.predict_labels(scores) == digits.y_test).mean() - res.test_accuracy) < 1e-9
    model2, _ = load_checkpoint(tmp_path / "ck" / "best.pt")  # rebuilds with first_last="fixed"
    np.testing.assert_array_equal(export.torch_predict(model2, x), logits.argmax(1))


def test_cli_train_first_last_fixed(tmp_path, capsys, digits):
    ck = tmp_path / "run"
    assert main(["train", "--arch", "mlp", "--hidden", "32", "--epochs", "2", "--first-last", "fixed", "-o", str(ck)]) == 0
    path = tmp_path / "m.bnn"
    assert main(["export", str(ck / "best.pt"), "-o", str(path)]) == 0
    assert "weight bits" in capsys.readouterr().out
    assert main(["info", str(path)]) == 0
    assert "8-bit weights" in capsys.readouterr().out
    net = modelfile.load(path)
    assert net.compute_layers()[0].weight_bits == 8 == net.compute_layers()[-1].weight_bits
    model, _ = load_checkpoint(ck / "best.pt")
    x = digits.x_test[:50]
    np.testing.assert_array_equal(golden.predict_labels(golden.run(net, x)), export.torch_predict(model, x))


def _fashion():
    import os

    from bnnfpga import data

    for root in (os.environ.get("BNNFPGA_DATA"), "/work/main/.devdata", "/work/shared/data", "data"):
        if root:
            try:
                return data.load_dataset("fashion-mnist", root)
            except Exception:  # noqa: BLE001 - not in this folder
                continue
    pytest.skip("Fashion-MNIST not found (set BNNFPGA_DATA)")


@pytest.mark.slow
@pytest.mark.parametrize("arch,kw", [
    ("small_cnn", dict(channels=[16, "M", 32, "M"], fc=[128], padding="same")),
    ("binary_resnet", dict(stages=[1, 1], base=8)),
])
def test_fashion_fixed_first_last_all_test_images(tmp_path, arch, kw):
    """Fashion-MNIST, 1 epoch on 12000 images: torch == golden on all 10000 test images."""
    ds = _fashion()
    torch_seed = 0
    import torch

    torch.manual_seed(torch_seed)
    model = zoo.build(arch, input_shape=[1, 28, 28], classes=10, first_last="fixed", **kw)
    res = train(model, ds.x_train[:12000], ds.y_train[:12000], TrainConfig(epochs=1, batch_size=100, lr=3e-3),
                ds.x_test, ds.y_test, progress=False)
    print(f"fashion {arch} first/last 8-bit, 1 epoch on 12000 images: test accuracy {res.test_accuracy:.4f}")
    assert res.test_accuracy > 0.6
    net = modelfile.loads(modelfile.dumps(export.to_ir(model, (1, 28, 28))))
    gm = golden.GoldenModel(net)
    scores = gm.run(ds.x_test)
    with torch.no_grad():
        logits = np.concatenate([model.eval()(export.images_to_tensor(ds.x_test[s:s + 1000])).numpy()
                                 for s in range(0, len(ds.x_test), 1000)])
    np.testing.assert_array_equal(golden.predict_labels(scores), logits.argmax(1))
    np.testing.assert_allclose(scores * net.layers[-1].score_scale, logits, rtol=1e-5, atol=1e-5)
