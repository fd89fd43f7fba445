"""Knowledge distillation (Wu et al.): the loss, float teachers, a distilled student that exports bit-exactly."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bnnfpga import distill, export, golden, zoo
from bnnfpga.cli import main
from bnnfpga.data import load_dataset
from bnnfpga.train import TrainConfig, load_checkpoint, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_kd_loss_is_the_tempered_kl_divergence():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g) * 3
    for temp in (1.0, 2.0, 4.0):
        pt, ps = F.softmax(t / temp, 1), F.softmax(s / temp, 1)
        ref = (pt * (pt.log() - ps.log())).sum(1).mean() * temp ** 2
        assert distill.kd_loss(s, t, temp).item() == pytest.approx(ref.item(), rel=1e-5)
    assert distill.kd_loss(t, t, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    assert distill.kd_loss(s, t, 2.0).item() > 0
    hard, soft = torch.tensor(2.0), torch.tensor(6.0)
    assert distill.combined_loss(hard, soft, 0.25).item() == pytest.approx(0.75 * 2 + 0.25 * 6)


def test_float_model_mirrors_the_zoo_architecture():
    m = distill.build_float("small_cnn", input_shape=[1, 8, 8], channels=[8, "M", 16], fc=[32], classes=10)
    assert m.arch[0] == "float:small_cnn"
    kinds = [type(x).__name__ for x in m]
    assert "FloatConv2d" in kinds and "FloatLinear" in kinds and "Hardtanh" in kinds
    assert not any(k.startswith("Binary") for k in kinds)
    assert m(torch.rand(3, 1, 8, 8) * 255).shape == (3, 10)
    with pytest.raises(export.ExportError):
        export.to_ir(m, (1, 8, 8))  # not a BNN


def test_distilled_student_reports_both_losses_and_exports_bit_exactly(digits, tmp_path):
    torch.manual_seed(0)
    teacher = distill.build_float("mlp", input_shape=[1, 8, 8], hidden=[128], classes=10)
    rt = train(teacher, digits.x_train, digits.y_train, TrainConfig(epochs=4, batch_size=64, lr=1e-2, lr_end=1e-3, loss="ce"),
               digits.x_test, digits.y_test, checkpoint_dir=tmp_path / "t", progress=False)
    assert rt.test_accuracy > 0.85
    t2 = distill.load_teacher(tmp_path / "t" / "best.pt")
    x = export.images_to_tensor(digits.x_test[:16])
    assert torch.equal(t2(x), teacher(x))  # the float checkpoint rebuilds the teacher
    with pytest.raises(ValueError, match="float model"):
        load_checkpoint(tmp_path / "t" / "best.pt")  # not exportable as a BNN
    student = zoo.build("mlp", input_shape=[1, 8, 8], hidden=[64, 64], classes=10)
    lines = []
    cfg = TrainConfig(epochs=4, batch_size=64, lr=1e-2, lr_end=1e-3, distill_weight=0.7, temperature=3.0)
    res = train(student, digits.x_train, digits.y_train, cfg, digits.x_test, digits.y_test, progress=False,
                teacher=t2, log=lines.append)
    assert len(res.history) == 4 and len(lines) == 4
    for h in res.history:
        assert h["loss"] == pytest.approx(0.3 * h["hard_loss"] + 0.7 * h["distill_loss"], rel=1e-6)
        assert h["distill_loss"] > 0
    assert res.history[-1]["distill_loss"] < res.history[0]["distill_loss"]  # the student moves toward the teacher
    assert "hard" in lines[0] and "distillation" in lines[0]
    assert res.test_accuracy > 0.5
    net = export.to_ir(student, (1, 8, 8))
    np.testing.assert_array_equal(golden.predict_labels(golden.GoldenModel(net).run(digits.x_test)),
                                  export.torch_predict(student, digits.x_test))


def test_teacher_errors(digits):
    student = zoo.build("mlp", input_shape=[1, 8, 8], hidden=[32], classes=10)
    with pytest.raises(ValueError, match="needs a teacher"):
        train(student, digits.x_train, digits.y_train, TrainConfig(epochs=1, distill_weight=0.5), progress=False)
    wrong = zoo.build("mlp", input_shape=[1, 8, 8], hidden=[32], classes=4)
    with pytest.raises(ValueError, match="4,.*10 classes"):
        train(student, digits.x_train, digits.y_train, TrainConfig(epochs=1, distill_weight=0.5), progress=False,
              teacher=wrong)
    other_shape = zoo.build("mlp", input_shape=[1, 6, 6], hidden=[32], classes=10)
    with pytest.raises(ValueError, match="teacher: cannot run"):
        train(student, digits.x_train, digits.y_train, TrainConfig(epochs=1, distill_weight=0.5), progress=False,
              teacher=other_shape)


def test_cli_float_teacher_then_distill(tmp_path, capsys):
    t = tmp_path / "teacher"
    assert main(["train", "--float", "--loss", "ce", "--hidden", "64", "--epochs", "2", "-o", str(t)]) == 0
    assert "training float:mlp" in capsys.readouterr().out
    s = tmp_path / "student"
    assert main(["train", "--hidden", "32", "--epochs", "2", "--teacher", str(t / "best.pt"), "--distill-weight", "0.6",
                 "--temperature", "2", "--lr-scale", "glorot", "-o", str(s), "--export", str(tmp_path / "s.bnn")]) == 0
    out = capsys.readouterr().out
    assert "distilling from" in out and "weight 0.6, temperature 2.0" in out
    assert out.count("(hard ") == 2 and "distillation" in out and "model file:" in out
    assert main(["export", str(t / "best.pt"), "-o", str(tmp_path / "t.bnn")]) == 2
    assert "float model" in capsys.readouterr().err
    assert main(["train", "--hidden", "32", "--epochs", "1", "--distill-weight", "0.5", "-o", str(s)]) == 2
    assert "--distill-weight needs --teacher" in capsys.readouterr().err
    assert main(["train", "--float", "--hidden", "32", "--epochs", "1", "-o", str(s), "--export", "x.bnn"]) == 2
