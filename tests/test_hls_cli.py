"""`bnnfpga compile` and `bnnfpga sim --backend hls` through bnnfpga.cli.main."""
import json

import numpy as np
import pytest

from bnnfpga import random_net as rn
from bnnfpga.cli import main
from bnnfpga.golden import GoldenModel
from bnnfpga.modelfile import save


@pytest.fixture()
def model(tmp_path):
    rng = np.random.default_rng(77)
    net = rn.random_network(rng, "cnn", name="cli net")
    path = tmp_path / "m.bnn"
    save(net, path)
    x = rn.random_images(rng, net, 5)
    np.save(tmp_path / "x.npy", x)
    return net, path, x


def test_compile_writes_project_and_reports_cycles(tmp_path, model, capsys):
    net, path, _ = model
    out = tmp_path / "proj"
    assert main(["compile", str(path), "-o", str(out), "--target-cycles", "300", "--top-k", "2"]) == 0
    text = capsys.readouterr().out
    assert "pipeline:" in text and "cycles per frame" in text
    for layer in net.compute_layers():
        assert layer.name in text
    assert (out / "bnn_top.cpp").exists() and (out / "README.md").exists()
    first = (out / "bnn_top.cpp").read_bytes()
    assert main(["compile", str(path), "-o", str(out), "--target-cycles", "300", "--top-k", "2"]) == 0
    assert (out / "bnn_top.cpp").read_bytes() == first


def test_compile_refuses_illegal_folding(tmp_path, model, capsys):
    net, path, _ = model
    layer = net.compute_layers()[0]
    fold = {l.name: {"pe": 1, "simd": 1} for l in net.compute_layers()}
    fold[layer.name] = {"pe": layer.out_channels + 1, "simd": 1}
    (tmp_path / "f.json").write_text(json.dumps(fold))
    out = tmp_path / "proj"
    assert main(["compile", str(path), "-o", str(out), "--folding", str(tmp_path / "f.json")]) == 2
    err = capsys.readouterr().err
    assert f"layer '{layer.name}'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_compile_refuses_malformed_model(tmp_path, capsys):
    bad = tmp_path / "bad.bnn"
    bad.write_bytes(b"not a model")
    assert main(["compile", str(bad), "-o", str(tmp_path / "proj")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "proj").exists()


@pytest.mark.csim
def test_sim_hls_matches_golden(tmp_path, model, capsys):
    net, path, x = model
    out = tmp_path / "s.npy"
    rc = main(["sim", str(path), "--backend", "hls", "--input", str(tmp_path / "x.npy"), "--output", str(out),
               "--images", "4", "--target-cycles", "400"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "matches the golden model" in text
    s = np.load(out)
    assert s.dtype == np.int32 and np.array_equal(s, GoldenModel(net).run(x[:4]))
