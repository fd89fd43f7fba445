"""RTL backend: generation is deterministic, lint-clean (Verilator -Wall) and rejects bad options."""
import shutil
import subprocess

import numpy as np
import pytest

from bnnfpga import folding as fold_mod
from bnnfpga import random_net
from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network, Thresholds
from bnnfpga.rtl import backend


def small_convnet(seed=0, padding="same"):
    rng = np.random.default_rng(seed)
    spec = InputSpec(6, 6, 2, zero_point=128)
    c1 = Conv2D("conv 1", 2, 4, 3, padding, rng.integers(0, 2, (4, 18), dtype=np.uint8), input_kind="fixed")
    hw = 6 if padding == "same" else 4
    c2 = Conv2D("conv2", 4, 8, 3, "same", rng.integers(0, 2, (8, 36), dtype=np.uint8))
    n = (hw // 2) * (hw // 2) * 8
    fc = Dense("fc", n, 5, rng.integers(0, 2, (5, n), dtype=np.uint8))
    net = Network("small-conv", spec, [c1, c2, MaxPool2D("pool", 2, 2), fc])
    c1.thresholds = Thresholds(rng.integers(-200, 200, 4).astype(np.int64), np.array([1, -1, 1, 1], np.int8))
    c2.thresholds = Thresholds(rng.integers(14, 22, 8).astype(np.int64), np.where(rng.random(8) < .3, -1, 1).astype(np.int8))
    return net.validate()


def _verilator():
    from bnnfpga.rtl.cosim import verilator_bin

    return str(verilator_bin() / "verilator")


def _lint(tmp_path, files):
    d = backend.write_design(files, tmp_path / "design")
    srcs = [str(d / p) for p in backend.sources(files)]
    assert any(p.startswith("mem/") for p in files)
    env = {"PATH": f"{backend.Path(_verilator()).parent}:/usr/bin:/bin"}
    r = subprocess.run([_verilator(), "--lint-only", "-Wall", "--top-module", backend.TOP] + srcs,
                       capture_output=True, text=True, env=env)
    return r.returncode, r.stdout + r.stderr


def test_generate_is_deterministic_and_complete():
    net = small_convnet()
    f = {"conv 1": fold_mod.LayerFold(2, 1), "conv2": fold_mod.LayerFold(4, 2), "fc": fold_mod.LayerFold(5, 8)}
    a = backend.generate(net, f)
    b = backend.generate(small_convnet(), dict(f))
    assert a == b
    assert set(backend.sources(a)) <= set(a)
    assert "rtl/bnn_top.sv" in a and "rtl/layer_conv_1.sv" in a
    # readable ROMs: layer name and shape in a comment
    assert "Layer 'conv 1': conv (6, 6, 2) -> (6, 6, 4)" in a["rtl/layer_conv_1.sv"]
    # another folding gives another design
    f2 = dict(f, fc=fold_mod.LayerFold(1, 1))
    assert backend.design_hash(backend.generate(net, f2)) != backend.design_hash(a)


def test_weight_rom_layout_matches_interface_doc():
    """Word ((c/PE)*(fan_in/SIMD) + j/SIMD), lane (c%PE, j%SIMD) holds weight bit j of channel c."""
    net = small_convnet(3)
    layer = net.layers[1]
    pe, simd = 4, 2
    _, layers, _ = backend.plan(net, {"conv 1": fold_mod.LayerFold(1, 1), "conv2": fold_mod.LayerFold(pe, simd),
                                      "fc": fold_mod.LayerFold(1, 1)})
    L = layers[1]
    words = [int(w, 16) for w in L.weight_words]
    sf = layer.fan_in // simd
    for c in range(layer.out_channels):
        for j in range(layer.fan_in):
            word = words[(c // pe) * sf + j // simd]
            assert (word >> ((c % pe) * simd + j % simd)) & 1 == layer.weights[c, j]


def test_write_design_is_atomic_and_replaces(tmp_path):
    net = small_convnet()
    files = backend.generate(net, fold_mod.minimal(net))
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    backend.write_design(files, out)
    assert not (out / "stale.txt").exists()
    assert (out / "rtl" / "bnn_top.sv").read_text() == files["rtl/bnn_top.sv"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folders left


def test_bad_top_k_is_one_line_error():
    net = small_convnet()
    with pytest.raises(backend.RTLError, match="top_k=9"):
        backend.generate(net, fold_mod.minimal(net), top_k=9)


@pytest.mark.cosim
def test_lint_clean_wall(tmp_path):
    """Verilator --lint-only -Wall reports nothing for a variety of designs."""
    designs = [(small_convnet(), None, 1), (small_convnet(1, "valid"), None, 3)]
    net = small_convnet(2)
    designs.append((net, {"conv 1": fold_mod.LayerFold(2, 2), "conv2": fold_mod.LayerFold(4, 4),
                          "fc": fold_mod.LayerFold(5, 8)}, "runtime"))
    for seed in range(4):
        rng = np.random.default_rng(100 + seed)
        net = random_net.random_network(rng, ["mlp", "cnn"][seed % 2])
        designs.append((net, random_net.random_folding(rng, net), 1))
    for i, (net, f, k) in enumerate(designs):
        f = f or fold_mod.minimal(net)
        runtime = k == "runtime"
        files = backend.generate(net, f, top_k=1 if runtime else k, runtime_params=runtime)
        rc, out = _lint(tmp_path / str(i), files)
        assert rc == 0 and "%Warning" not in out and "%Error" not in out, out[:3000]


def test_runtime_params_need_simd_le_64():
    net = small_convnet()
    f = {"conv 1": fold_mod.LayerFold(1, 1), "conv2": fold_mod.LayerFold(1, 1), "fc": fold_mod.LayerFold(1, 72)}
    with pytest.raises(backend.RTLError, match="SIMD=72"):
        backend.generate(net, f, runtime_params=True)


def test_cli_rtl_generates_design(tmp_path, capsys):
    from bnnfpga.cli import main
    from bnnfpga.modelfile import save

    net = small_convnet()
    save(net, tmp_path / "m.bnn")
    rc = main(["rtl", str(tmp_path / "m.bnn"), "-o", str(tmp_path / "out"), "--target-cycles", "200"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "analytical" in out and (tmp_path / "out" / "rtl" / "bnn_top.sv").exists()
    assert main(["rtl", str(tmp_path / "m.bnn"), "-o", str(tmp_path / "o2"), "--top-k", "99"]) == 2


def test_top_ports_match_interface_doc():
    import re
    from pathlib import Path

    net = small_convnet()
    top = backend.generate(net, fold_mod.minimal(net))["rtl/bnn_top.sv"]
    header = top[top.index("module bnn_top ("):top.index("\n);")]
    ports = set(re.findall(r"^\s*(?:input|output)\s+logic(?:\s*\[[^\]]+\])?\s+(\w+)", header, re.M))
    doc = (Path(backend.__file__).resolve().parents[2] / "docs" / "interface.md").read_text()
    want = {"ap_clk", "ap_rst_n", "interrupt"}
    want |= {f"s_axis_{s}" for s in ("TDATA", "TVALID", "TREADY", "TLAST", "TKEEP", "TSTRB")}
    want |= {f"m_axis_{s}" for s in ("TDATA", "TVALID", "TREADY", "TLAST", "TKEEP", "TSTRB")}
    lite = re.search(r"Ports: `s_axi_control_(.*?)`", doc, re.S).group(1)
    want |= {"s_axi_control_" + n.strip() for n in lite.replace("\n", " ").split(",")}
    assert ports == want
