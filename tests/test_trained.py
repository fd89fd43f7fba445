"""Trained networks (scikit-learn digits): torch (eval) == golden model on every test image,
through the model file; and the command-line contract (train / export / predict / evaluate)."""
import numpy as np
import pytest

from bnnfpga import export, golden, modelfile, zoo
from bnnfpga.cli import main
from bnnfpga.data import load_dataset
from bnnfpga.train import TrainConfig, load_checkpoint, train

from test_export import assert_torch_equals_golden


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.mark.parametrize("arch,kw", [
    ("mlp", dict(hidden=[128, 128], alpha=False)),
    ("mlp", dict(hidden=[64], alpha=True, t_clip=0.5)),
    ("small_cnn", dict(channels=[16, "M", 32], fc=[64], padding="same")),
    ("small_cnn", dict(channels=[16, 16], fc=[], padding="valid", alpha=True, stochastic=True)),
])
def test_trained_network_bit_exact_through_model_file(digits, tmp_path, arch, kw):
    model = zoo.build(arch, input_shape=[1, 8, 8], classes=10, **kw)
    res = train(model, digits.x_train, digits.y_train, TrainConfig(epochs=6, batch_size=64, lr=1e-2, lr_end=1e-3),
                digits.x_test, digits.y_test, checkpoint_dir=tmp_path / "ck", progress=False)
    assert res.test_accuracy > 0.25  # it learned something (chance: 0.10; stochastic runs learn slowly)
    net = assert_torch_equals_golden(model, [1, 8, 8], digits.x_test)  # accumulators + predictions, all 450 images
    path = tmp_path / "m.bnn"
    modelfile.save(net, path)
    scores = golden.GoldenModel(modelfile.load(path)).run(digits.x_test)
    np.testing.assert_array_equal(golden.predict_labels(scores), export.torch_predict(model, digits.x_test))
    # the checkpoint rebuilds the same model (weights_only load)
    model2, ck = load_checkpoint(tmp_path / "ck" / "best.pt")
    np.testing.assert_array_equal(export.torch_predict(model2, digits.x_test), export.torch_predict(model, digits.x_test))


def test_cli_train_export_predict_evaluate(tmp_path, capsys, digits):
    ck = tmp_path / "run"
    assert main(["train", "--arch", "mlp", "--hidden", "64", "--epochs", "3", "-o", str(ck)]) == 0
    out = capsys.readouterr().out
    assert "trained 3 epochs" in out and "validation accuracy" in out
    model_path = tmp_path / "m.bnn"
    assert main(["export", str(ck / "best.pt"), "-o", str(model_path)]) == 0
    x = digits.x_test[:20]
    np.save(tmp_path / "x.npy", x)
    assert main(["predict", str(model_path), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "s.npy")]) == 0
    s = np.load(tmp_path / "s.npy")
    assert s.dtype == np.int32 and s.shape == (20, 10)
    np.testing.assert_array_equal(s, golden.GoldenModel(modelfile.load(model_path)).run(x))
    model, _ = load_checkpoint(ck / "best.pt")
    np.testing.assert_array_equal(golden.predict_labels(s), export.torch_predict(model, x))
    assert main(["evaluate", str(model_path)]) == 0
    assert "golden-model accuracy" in capsys.readouterr().out
    assert main(["info", str(model_path)]) == 0


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.bnn"
    bad.write_bytes(b"not a model")
    assert main(["predict", str(bad), "--input", "x.npy", "--output", "s.npy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bnnfpga predict: error:") and "bad.bnn" in err and "\n" not in err
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "o.bnn")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 10)
    assert main(["export", str(tmp_path / "junk.pt"), "-o", str(tmp_path / "o.bnn")]) == 2
    assert "junk.pt" in capsys.readouterr().err
    assert not (tmp_path / "o.bnn").exists()
    # wrong image shape for the model
    net = zoo.build("mlp", input_shape=[1, 8, 8], hidden=[8], classes=3)
    p = tmp_path / "m.bnn"
    modelfile.save(export.to_ir(net, (1, 8, 8)), p)
    np.save(tmp_path / "x.npy", np.zeros((2, 9, 9), np.uint8))
    assert main(["predict", str(p), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "s.npy")]) == 2
    assert "shape" in capsys.readouterr().err
    assert not (tmp_path / "s.npy").exists()


def test_demo_runs_and_is_bit_exact(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--epochs", "8"]) == 0
    out = capsys.readouterr().out
    assert "100.00% identical predictions" in out
