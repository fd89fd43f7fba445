"""Training at scale: DistributedDataParallel under torchrun (gloo, CPU), sharding, resumable checkpoints,
per-layer learning rates."""
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnfpga import distributed, zoo
from bnnfpga.cli import main
from bnnfpga.data import load_dataset
from bnnfpga.train import TrainConfig, load_checkpoint, lr_param_groups, read_checkpoint, train

ROOT = Path(__file__).resolve().parent.parent
BNNFPGA = Path(sys.executable).parent / "bnnfpga"
TORCHRUN = Path(sys.executable).parent / "torchrun"
# the digits MLP of the 1- vs 2-process comparison
RUN_ARGS = ["train", "--hidden", "128,128", "--epochs", "8", "--lr", "1e-2", "--lr-end", "1e-3", "--batch-size", "64",
            "--seed", "1"]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# ------------------------------------------------------------------ sharding
@pytest.mark.parametrize("n,world", [(10, 1), (10, 2), (11, 2), (7, 3), (2, 4)])
def test_shards_are_disjoint_equal_and_deterministic(n, world):
    shards = [distributed.shard_indices(n, torch.Generator().manual_seed(5), distributed.DistInfo(r, world, r))
              for r in range(world)]
    per = math.ceil(n / world)
    assert all(len(s) == per for s in shards)
    allidx = torch.cat(shards)
    assert set(allidx.tolist()) == set(range(n))  # every image, padding only by wrap-around
    if n % world == 0:
        assert len(set(allidx.tolist())) == len(allidx)  # disjoint
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(5))
    full = perm.repeat(world)[: per * world]
    for r, s in enumerate(shards):
        assert torch.equal(s, full[r::world])
    if world == 1:
        assert torch.equal(shards[0], perm)  # one process: the plain permutation (unchanged training order)


def test_env_info(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert distributed.env_info() == distributed.DistInfo(0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.env_info() == distributed.DistInfo(3, 4, 1)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK=4, WORLD_SIZE=4"):
        distributed.env_info()


# ------------------------------------------------------------------ resume
def _mlp(**kw):
    torch.manual_seed(0)
    return zoo.build("mlp", input_shape=[1, 8, 8], hidden=[64, 64], classes=10, **kw)


def _run(ds, out, resume=None, **cfg_kw):
    model = _mlp(stochastic=True)  # stochastic binarization: the RNG state must be restored too
    cfg = TrainConfig(**{**dict(epochs=4, batch_size=64, lr=1e-2, lr_end=1e-3, lr_scale="glorot"), **cfg_kw})
    res = train(model, ds.x_train, ds.y_train, cfg, ds.x_test, ds.y_test, checkpoint_dir=out, progress=False,
                resume=resume)
    return model, res


def test_resumed_run_ends_where_the_uninterrupted_one_does(digits, tmp_path):
    a, ra = _run(digits, tmp_path / "a")
    b, rb = _run(digits, tmp_path / "b", stop_after=2)
    assert [h["epoch"] for h in rb.history] == [1, 2] and "2 of 4 epochs" in rb.summary()
    c, rc = _run(digits, tmp_path / "c", resume=tmp_path / "b" / "last.pt")
    assert rc.start_epoch == 3 and "resumed at epoch 3" in rc.summary()
    for k, v in a.state_dict().items():  # the best epoch's weights, identical
        assert torch.equal(v, c.state_dict()[k]), k
    la, lc = read_checkpoint(tmp_path / "a" / "last.pt"), read_checkpoint(tmp_path / "c" / "last.pt")
    for k, v in la["state_dict"].items():  # the last epoch's weights, identical
        assert torch.equal(v, lc["state_dict"][k]), k
    assert la["epoch"] == lc["epoch"] == 4
    assert la["train_state"]["history"] == lc["train_state"]["history"] == rc.history
    sa, sc = la["train_state"]["optimizer"]["state"], lc["train_state"]["optimizer"]["state"]
    assert all(torch.equal(sa[i]["exp_avg"], sc[i]["exp_avg"]) for i in sa)
    assert (ra.best_epoch, ra.val_accuracy, ra.test_accuracy) == (rc.best_epoch, rc.val_accuracy, rc.test_accuracy)
    # a run resumed without its state would differ: the test can fail
    d, _ = _run(digits, tmp_path / "d", epochs=2)
    assert not all(torch.equal(v, d.state_dict()[k]) for k, v in a.state_dict().items())
    # checkpoints stay pickle-free
    for p in ("a/last.pt", "a/best.pt", "c/last.pt"):
        torch.load(tmp_path / p, map_location="cpu", weights_only=True)
    load_checkpoint(tmp_path / "c" / "best.pt")


def test_resume_refuses_another_model_and_best_pt(digits, tmp_path):
    _run(digits, tmp_path / "a", epochs=1)
    other = zoo.build("mlp", input_shape=[1, 8, 8], hidden=[32], classes=10)
    with pytest.raises(ValueError, match="checkpoint of mlp"):
        train(other, digits.x_train, digits.y_train, TrainConfig(epochs=2), progress=False,
              resume=tmp_path / "a" / "last.pt")
    with pytest.raises(ValueError, match="no training state"):
        _run(digits, tmp_path / "b", resume=tmp_path / "a" / "best.pt")


def test_cli_resume_and_extend(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--hidden", "32", "--epochs", "3", "--stop-after", "1", "-o", str(out)]) == 0
    assert "trained 1 of 3 epochs" in capsys.readouterr().out
    assert main(["train", "--hidden", "32", "--epochs", "4", "--resume", str(out / "last.pt"), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "resume: 3 planned epochs -> 4" in text and "epoch 2/4" in text and "epoch 4/4" in text
    assert "epoch 1/4" not in text and "resumed at epoch 2" in text
    assert main(["train", "--hidden", "64", "--epochs", "4", "--resume", str(out / "last.pt"), "-o", str(out)]) == 2
    assert "checkpoint of mlp" in capsys.readouterr().err


# ------------------------------------------------------------------ per-layer learning rates
def test_glorot_lr_scale_groups():
    model = zoo.build("small_cnn", input_shape=[1, 8, 8], channels=[16, "M", 32], fc=[64], classes=10)
    groups = lr_param_groups(model, 1e-3, "glorot")
    binary = [g for g in groups if g["layer"] != "other"]
    assert len(binary) == 4  # 2 convolutions, 2 dense layers
    conv1 = binary[1]  # 16 -> 32, 3x3: fan_in 144, fan_out 288
    assert conv1["lr_scale"] == pytest.approx(1 / math.sqrt(1.5 / (144 + 288)))
    assert conv1["lr"] == pytest.approx(1e-3 * conv1["lr_scale"])
    fc = binary[2]  # 32*2*2=128 -> 64 (the 8x8 map pooled to 4x4, then 'same' conv: 4x4x32=512)
    n_in = fc["params"][0].shape[1]
    assert fc["lr_scale"] == pytest.approx(1 / math.sqrt(1.5 / (n_in + 64)))
    assert groups[-1]["lr"] == 1e-3 and groups[-1]["layer"] == "other"
    n = sum(p.numel() for g in groups for p in g["params"])
    assert n == sum(p.numel() for p in model.parameters())
    assert len(lr_param_groups(model, 1e-3, "none")) == 1
    with pytest.raises(ValueError, match="lr_scale"):
        lr_param_groups(model, 1e-3, "he")


# ------------------------------------------------------------------ torchrun
def _accuracy(text: str) -> float:
    m = re.findall(r"test accuracy ([0-9.]+)%", text)
    assert m, text
    return float(m[-1])


def _torchrun(args, tmp_path, nproc=2, timeout=420):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [str(TORCHRUN), "--standalone", f"--nproc_per_node={nproc}", str(BNNFPGA)] + args
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout


def test_two_process_torchrun_matches_one_process(tmp_path, capsys):
    torch.set_num_threads(1)
    assert main(RUN_ARGS + ["-o", str(tmp_path / "one")]) == 0
    one = capsys.readouterr().out
    two = _torchrun(RUN_ARGS + ["-o", str(tmp_path / "two")], tmp_path)
    assert "on 2 processes" in two
    assert two.count("trained 8 epochs") == 1 and two.count("epoch 8/8") == 1  # rank 0 alone reports
    acc1, acc2 = _accuracy(one), _accuracy(two)
    assert acc1 > 80 and acc2 > 80, (acc1, acc2)
    print(f"test accuracy: 1 process {acc1:.2f}%, 2 processes {acc2:.2f}%")
    assert abs(acc1 - acc2) < 3.0, (acc1, acc2)
    ck = read_checkpoint(tmp_path / "two" / "last.pt")
    assert ck["train_state"]["world_size"] == 2 and len(ck["train_state"]["rng"]["torch"]) == 2
    model, _ = load_checkpoint(tmp_path / "two" / "best.pt")  # rank 0's file, complete
    # the 2-process model is really another trajectory (sharded batches), not the 1-process run repeated
    m1, _ = load_checkpoint(tmp_path / "one" / "best.pt")
    assert not torch.equal(model[2].weight, m1[2].weight)


@pytest.mark.slow
def test_two_process_resume_is_bit_identical(tmp_path):
    args = ["train", "--hidden", "64", "--epochs", "4", "--batch-size", "64", "--stochastic", "--lr-scale", "glorot"]
    _torchrun(args + ["-o", "full"], tmp_path)
    _torchrun(args + ["--stop-after", "2", "-o", "part"], tmp_path)
    out = _torchrun(args + ["--resume", "part/last.pt", "-o", "part"], tmp_path)
    assert "(resumed at epoch 3) on 2 processes" in out
    a, b = read_checkpoint(tmp_path / "full" / "last.pt"), read_checkpoint(tmp_path / "part" / "last.pt")
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
