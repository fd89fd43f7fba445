"""HLS backend: generation, determinism, refusals, identifiers (no compiler needed)."""
import re

import numpy as np
import pytest

from bnnfpga import folding as fo
from bnnfpga import random_net as rn
from bnnfpga.folding import FoldingError, LayerFold
from bnnfpga.hls import backend, shapes
from bnnfpga.hls.vectors import param_init_words, pack_input_beats
from bnnfpga.ir import IRError


def _net(seed=3, kind="cnn"):
    rng = np.random.default_rng(seed)
    net = rn.random_network(rng, kind)
    return net, rn.random_folding(rng, net)


def test_generation_is_deterministic(tmp_path):
    net, fold = _net()
    a = backend.generate(net, fold, top_k=2)
    net2, fold2 = _net()  # rebuilt from the same seed
    b = backend.generate(net2, dict(reversed(list(fold2.items()))), top_k=2)
    assert a == b
    backend.write_project(a, tmp_path / "p1")
    backend.write_project(b, tmp_path / "p2")
    for rel in a:
        assert (tmp_path / "p1" / rel).read_bytes() == (tmp_path / "p2" / rel).read_bytes(), rel
    # a different option changes the output
    assert backend.generate(net, fold, top_k=1)["bnn_top.h"] != a["bnn_top.h"]


def test_project_contents_and_cycles():
    rng = np.random.default_rng(0)
    net = shapes.cnv(rng)
    files = backend.generate(net, shapes.CNV_FOLDING)
    for f in ["bnn_top.cpp", "bnn_top.h", "bnn_library.h", "tb_bnn_top.cpp", "bnn_tb.h", "run_hls.tcl", "README.md",
              "csim_include/hls_stream.h", "folding.json", "tv/input_beats.bin", "tv/expected_words.bin",
              "params_conv0.h", "params_fc_out.h"]:
        assert f in files, f
    top = files["bnn_top.cpp"]
    assert "#pragma HLS DATAFLOW" in top and top.count("bnn_mvtu<") == 8 and top.count("bnn_swg<") == 6
    assert top.count("bnn_maxpool<") == 2 and "bnn_mvu_scores<" in top
    for port in ["num_frames bundle=control offset=0x10", "do_init bundle=control offset=0x18",
                 "target_index bundle=control offset=0x30", "value bundle=control offset=0x38"]:
        assert port in top
    assert "Xilinx" not in files["csim_include/hls_stream.h"]
    plan = backend.plan(net, shapes.CNV_FOLDING)
    mv = {s.layer: s.cycles for s in plan.stages if s.kind in ("mvtu", "scores")}
    # BNN-PYNQ's published per-layer cycles (ANCHORS.md) for the same folding
    assert [mv[f"conv{i}"] for i in range(6)] == [32400, 28224, 20736, 28800, 20736, 18432]
    assert mv["fc0"] == mv["fc1"] == 32768
    assert plan.pipeline_cycles == 32768 == fo.pipeline_cycles(net, shapes.CNV_FOLDING)
    assert "32768" in files["README.md"] and "| mvtu | conv1 |" in files["README.md"]
    assert "SF = 18 input folds x NF = 2 neuron folds x 784 pixels = 28224 cycles" in top


def test_illegal_folding_refused_nothing_written(tmp_path):
    net, fold = _net()
    name = net.compute_layers()[0].name
    bad = dict(fold)
    bad[name] = LayerFold(net.compute_layers()[0].out_channels + 1, 1)
    out = tmp_path / "proj"
    with pytest.raises(FoldingError, match=f"layer '{name}'"):
        backend.compile_project(net, bad, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_malformed_model_refused(tmp_path):
    net, fold = _net()
    net.compute_layers()[0].weights = net.compute_layers()[0].weights[:, :-1]
    with pytest.raises(IRError, match="weights"):
        backend.compile_project(net, fold, tmp_path / "proj")
    assert list(tmp_path.iterdir()) == []


def test_runtime_params_needs_narrow_simd(tmp_path):
    net, _ = _net(5, "mlp")
    fold = {l.name: LayerFold(1, l.in_features) for l in net.compute_layers()}
    wide = [l for l in net.compute_layers() if l.in_features > 64]
    if wide:
        with pytest.raises(FoldingError, match=f"layer '{wide[0].name}'"):
            backend.generate(net, fold, runtime_params=True)


def test_writer_replaces_own_project_only(tmp_path):
    net, fold = _net()
    out = tmp_path / "proj"
    backend.compile_project(net, fold, out)
    (out / "stale.txt").write_text("old")
    backend.compile_project(net, fold, out)  # replaces the earlier project wholesale
    assert not (out / "stale.txt").exists() and (out / "bnn_top.cpp").exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(backend.BackendError, match="not a bnnfpga HLS project"):
        backend.compile_project(net, fold, other)
    assert (other / "notes.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "proj"]


def test_writer_leaves_nothing_on_error(tmp_path):
    files = {"a.txt": "x", "b/c.txt": object()}  # the second one cannot be written
    with pytest.raises(TypeError):
        backend.write_project(files, tmp_path / "proj")
    assert list(tmp_path.iterdir()) == []


def test_identifiers_sanitized():
    net = shapes.odd_names(np.random.default_rng(1))
    ids = backend.layer_idents(net)
    vals = list(ids.values())
    assert len({v.lower() for v in vals}) == len(vals)
    for v in vals:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", v) and "__" not in v, v
    files = backend.generate(net, fo.minimal(net))
    for rel, text in files.items():
        if isinstance(text, str):
            assert text.isascii(), rel
            for line in text.splitlines():
                assert not line.rstrip().endswith("\\"), (rel, line)


def test_input_beats_packing():
    net, _ = _net(2, "mlp")
    sp = net.input
    imgs = np.arange(2 * sp.height * sp.width * sp.channels, dtype=np.uint64).astype(np.uint8).reshape(2, sp.height, sp.width, sp.channels)
    beats = pack_input_beats(net, imgs)
    nbytes = sp.height * sp.width * sp.channels
    per = -(-nbytes // 8)
    assert beats.shape == (2 * per,)
    for f in range(2):
        for i in range(nbytes):
            assert (int(beats[f * per + i // 8]) >> (8 * (i % 8))) & 0xFF == imgs[f].reshape(-1)[i]


def test_param_init_words_layout():
    net, _ = _net(4, "mlp")
    fold = {l.name: LayerFold(l.out_features // 2 if l.out_features % 2 == 0 else 1, 1) for l in net.compute_layers()}
    rows = param_init_words(net, fold)
    layer = net.compute_layers()[0]
    pe = fold[layer.name].pe
    w = {int(r[2]): int(r[3]) for r in rows if r[0] == 0 and r[1] == 0}
    n = layer.in_features
    for c in range(layer.out_features):
        for j in range(n):
            assert w[((c // pe) * n + j) * pe + c % pe] == layer.weights[c, j]
