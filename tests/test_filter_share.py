"""The shared-filter datapath (filter repetitions, opt-in per layer with LayerFold(share=True)):
pattern tables, the folding option, and bit-exactness in HLS C-sim and RTL co-simulation."""
import functools
import json

import numpy as np
import pytest

from bnnfpga import filter_share as fs
from bnnfpga import folding as fo
from bnnfpga import random_net
from bnnfpga.folding import FoldingError, LayerFold
from bnnfpga.golden import GoldenModel
from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network, Thresholds

from test_filter_repetition import A, B, C, _conv


def _std_popcounts(layer, windows):
    return (np.asarray(windows)[:, None, :] == layer.weights[None]).sum(-1)


def share_net(seed=0, cin=4, cout=16, hw=6, repeat=True):
    """A small chain: fixed 3x3 conv -> binary 3x3 conv (the shared one) -> pool -> dense.

    ``repeat``: the binary conv's 2D filters come from a few patterns and their complements."""
    rng = np.random.default_rng(seed)
    spec = InputSpec(hw, hw, 1, zero_point=128)
    c1 = Conv2D("conv1", 1, cin, 3, "same", rng.integers(0, 2, (cin, 9), dtype=np.uint8), input_kind="fixed")
    if repeat:
        pool = rng.integers(0, 2, (3, 9), dtype=np.uint8)
        f = pool[rng.integers(0, 3, (cout, cin))] ^ rng.integers(0, 2, (cout, cin, 1), dtype=np.uint8)
        w = f.transpose(0, 2, 1).reshape(cout, 9 * cin)  # (out, in, K2) -> (out, K2, in)
    else:
        w = rng.integers(0, 2, (cout, 9 * cin), dtype=np.uint8)
    c2 = Conv2D("conv 2", cin, cout, 3, "same", w)
    n = (hw // 2) ** 2 * cout
    fc = Dense("fc", n, 4, rng.integers(0, 2, (4, n), dtype=np.uint8))
    net = Network("share-net", spec, [c1, c2, MaxPool2D("pool", 2, 2), fc])
    c1.thresholds = Thresholds(rng.integers(-150, 150, cin).astype(np.int64),
                               np.where(rng.random(cin) < .3, -1, 1).astype(np.int8))
    c2.thresholds = Thresholds(rng.integers(9 * cin // 2 - 3, 9 * cin // 2 + 4, cout).astype(np.int64),
                               np.where(rng.random(cout) < .3, -1, 1).astype(np.int8))
    return net.validate()


# ---------------------------------------------------------------------------- tables


@pytest.mark.parametrize("cin,cout,pe,simd,seed", [(4, 8, 2, 2, 0), (3, 6, 3, 1, 1), (8, 16, 16, 8, 2), (5, 4, 1, 5, 3)])
def test_tables_reproduce_the_standard_popcount(cin, cout, pe, simd, seed):
    rng = np.random.default_rng(seed)
    layer = Conv2D("c", cin, cout, 3, "same", rng.integers(0, 2, (cout, 9 * cin), dtype=np.uint8))
    t = fs.tables(layer, pe, simd)
    x = rng.integers(0, 2, (64, 9 * cin), dtype=np.uint8)
    np.testing.assert_array_equal(fs.shared_popcounts(t, x), _std_popcounts(layer, x))
    assert (t.patterns[..., 0] == 0).all()  # canonical: first bit 0
    for g in range(t.cg):
        for s in range(simd):
            uc = t.unique_per_channel[g * simd + s]
            assert (t.index[:, g, :, s] < uc).all() and not t.patterns[g, s, uc:].any()


def test_complements_share_one_pattern():
    layer = _conv([[A], [-A], [B], [-B], [A]])  # 5 outputs, 1 input channel
    t = fs.tables(layer, 1, 1)
    assert t.u == 2 and list(t.unique_per_channel) == [2]
    idx, flip = t.index[:, 0, 0, 0], t.flip[:, 0, 0, 0]
    assert idx[0] == idx[1] == idx[4] and idx[2] == idx[3] and idx[0] != idx[2]
    assert flip[0] != flip[1] and flip[2] != flip[3] and flip[0] == flip[4]
    canon_a = (A.reshape(-1) > 0).astype(np.uint8)
    canon_a ^= canon_a[0]
    np.testing.assert_array_equal(t.patterns[0, 0, idx[0]], canon_a)
    x = np.random.default_rng(0).integers(0, 2, (30, 9), dtype=np.uint8)
    np.testing.assert_array_equal(fs.shared_popcounts(t, x), _std_popcounts(layer, x))


def test_all_equal_filters_one_slot():
    layer = _conv([[A, -C]] * 6)  # 6 outputs, 2 input channels, the same filters everywhere
    t = fs.tables(layer, 3, 2)
    assert t.u == 1 and t.ub == 1 and list(t.unique_per_channel) == [1, 1]
    assert not t.index.any()
    words = t.select_words()
    assert len(words) == t.nf * t.cg and len(t.pattern_words()) == t.cg


def test_no_repetition_one_slot_per_output():
    rng = np.random.default_rng(4)
    codes = rng.choice(256, size=(8, 3), replace=False)  # 8 outputs x 3 channels, distinct canonical classes
    bits = ((codes[..., None] >> np.arange(8)) & 1).astype(np.uint8)
    f = np.concatenate([np.zeros((8, 3, 1), np.uint8), bits], axis=-1)  # first bit 0: canonical
    f ^= rng.integers(0, 2, (8, 3, 1), dtype=np.uint8)  # random signs
    layer = Conv2D("c", 3, 8, 3, "valid", f.transpose(0, 2, 1).reshape(8, 27).copy())
    t = fs.tables(layer, 4, 3)
    assert t.u == 8 and t.ub == 3 and list(t.unique_per_channel) == [8, 8, 8]
    for s in range(3):
        assert sorted(t.index[:, 0, :, s].reshape(-1)) == list(range(8))


def test_table_words_encoding():
    layer = _conv([[A, B], [-B, C], [C, -A], [A, A]])
    t = fs.tables(layer, 2, 1)
    k2, ub = t.k2, t.ub
    for g, w in enumerate(t.pattern_words()):
        for u in range(t.u):
            bits = [(w >> (u * k2 + i)) & 1 for i in range(k2)]
            assert bits == list(t.patterns[g, 0, u])
    for i, w in enumerate(t.select_words()):
        n, g = divmod(i, t.cg)
        for p in range(t.pe):
            e = (w >> (p * (ub + 1))) & ((1 << (ub + 1)) - 1)
            assert e & ((1 << ub) - 1) == t.index[n, g, p, 0] and e >> ub == t.flip[n, g, p, 0]


# ---------------------------------------------------------------------------- folding option


def test_folding_option_json_cycles_and_errors(tmp_path):
    net = share_net()
    f = {"conv1": LayerFold(4, 1), "conv 2": LayerFold(2, 2, share=True), "fc": LayerFold(4, 8)}
    text = fo.to_json(f)
    assert json.loads(text)["conv 2"] == {"pe": 2, "simd": 2, "share": True}
    assert "share" not in json.loads(text)["conv1"]
    (tmp_path / "f.json").write_text(text)
    assert fo.load(tmp_path / "f.json", net) == f
    (tmp_path / "old.json").write_text(json.dumps({"conv1": {"pe": 4, "simd": 1}, "conv 2": {"pe": 2, "simd": 2},
                                                   "fc": {"pe": 4, "simd": 8}}))
    assert fo.load(tmp_path / "old.json", net)["conv 2"] == LayerFold(2, 2)
    # cycles: 36 pixels x CG=2 x max(9, NF=8); the standard unit: 36 x 9 x 2 x 8
    conv2 = net.layers[1]
    assert fo.layer_cycles(net, conv2, f["conv 2"]) == 36 * 2 * 9
    assert fo.layer_cycles(net, conv2, LayerFold(2, 2)) == 36 * 9 * 2 * 8
    assert fo.layer_cycles(net, conv2, LayerFold(1, 4, share=True)) == 36 * 1 * 16
    for bad, msg in [({"conv1": LayerFold(4, 1, share=True)}, "binary-input"),
                     ({"fc": LayerFold(4, 8, share=True)}, "binary-input")]:
        with pytest.raises(FoldingError, match=msg):
            fo.check(net, {**f, **bad})
    (tmp_path / "bad.json").write_text(json.dumps({"conv1": {"pe": 4, "simd": 1, "share": "yes"}}))
    with pytest.raises(FoldingError, match="share"):
        fo.load(tmp_path / "bad.json")


def test_standard_designs_have_no_shared_files():
    from bnnfpga.hls import backend as hls_backend
    from bnnfpga.rtl import backend

    net = share_net()
    f = fo.minimal(net)
    files = backend.generate(net, f)
    assert not any("shared" in p or "share_gather" in p for p in files)
    assert "bnn_shared.h" not in hls_backend.generate(net, f)
    files = backend.generate(net, {**f, "conv 2": LayerFold(1, 1, share=True)})
    assert "rtl/bnn_mvtu_shared.sv" in files and "mem/layer_conv_2_patterns.mem" in files
    assert json.loads(files["design.json"])["folding"]["conv 2"] == {"pe": 1, "simd": 1, "share": True}
    with pytest.raises(backend.RTLError, match="run time"):
        backend.generate(net, {**f, "conv 2": LayerFold(1, 1, share=True)}, runtime_params=True)


@pytest.mark.cosim
def test_rtl_shared_designs_lint_clean(tmp_path):
    from bnnfpga.rtl import backend
    from test_rtl_backend import _lint

    net = share_net(cin=4, cout=6)
    all_equal = share_net(cin=2, cout=4)
    all_equal.layers[1].weights = np.tile(all_equal.layers[1].weights[:1], (4, 1))
    for i, (n, pe, simd) in enumerate([(net, 1, 1), (net, 6, 4), (net, 3, 2), (all_equal, 2, 2)]):
        f = {**fo.minimal(n), "conv 2": LayerFold(pe, simd, share=True)}
        rc, out = _lint(tmp_path / str(i), backend.generate(n, f))
        assert rc == 0 and "%Warning" not in out and "%Error" not in out, out[:3000]


# ---------------------------------------------------------------------------- bit-exact: C-sim and RTL


@functools.lru_cache(maxsize=1)
def _tiny_trained():
    """small_cnn trained briefly on the 8x8 digits: a fixed 3x3 conv (8) and a binary 3x3 conv (8)."""
    import torch

    from bnnfpga import export, zoo
    from bnnfpga.data import load_dataset
    from bnnfpga.train import TrainConfig, train

    ds = load_dataset("digits")
    torch.manual_seed(0)
    model = zoo.build("small_cnn", input_shape=[1, 8, 8], classes=10, channels=[8, 8, "M"], fc=[], padding="same")
    train(model, ds.x_train, ds.y_train, TrainConfig(epochs=1, batch_size=64, lr=1e-2, lr_end=1e-3), progress=False)
    net = export.to_ir(model, (1, 8, 8), name="digits-tiny")
    return net, ds.x_test[:6]


def _shared_cases():
    rng = np.random.default_rng(11)
    net = share_net(seed=1)
    rand = share_net(seed=2, cin=2, cout=4, repeat=False)
    cases = [(net, {**fo.minimal(net), "conv 2": LayerFold(1, 1, share=True)}),
             (net, {"conv1": LayerFold(4, 1), "conv 2": LayerFold(4, 2, share=True), "fc": LayerFold(4, 16)}),
             (rand, {**fo.minimal(rand), "conv 2": LayerFold(4, 2, share=True)})]
    return cases, rng


@pytest.mark.csim
def test_hls_csim_shared_bit_exact(tmp_path):
    from bnnfpga.hls import backend, csim

    cases, rng = _shared_cases()
    tnet, timgs = _tiny_trained()
    conv = [l for l in tnet.compute_layers() if isinstance(l, Conv2D) and l.input_kind == "binary"][0]
    cases.append((tnet, {**fo.minimal(tnet), conv.name: LayerFold(2, 4, share=True)}))
    dirs = []
    for i, (net, f) in enumerate(cases):
        backend.compile_project(net, f, tmp_path / f"p{i}")
        dirs.append(tmp_path / f"p{i}")
        assert (tmp_path / f"p{i}" / "bnn_shared.h").exists()
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    for i, (net, f) in enumerate(cases):
        imgs = timgs if net is tnet else random_net.random_images(rng, net, 5)
        res = csim.run_bench(exe, net, imgs, select=i, workdir=tmp_path / f"run{i}")
        assert res.matches and "0 mismatches, 0 TLAST errors" in res.log, (i, res.log)


@pytest.mark.cosim
@pytest.mark.parametrize("case", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_rtl_cosim_shared_bit_exact_and_cycles(case):
    """A compute-bound fold (CG*NF = 2*16 cycles per pixel) and a gather-bound one (K*K*CG = 9*4); cycles within 2%."""
    from bnnfpga.rtl import cosim

    net = share_net(seed=3)
    folds = [{"conv1": LayerFold(4, 1), "conv 2": LayerFold(1, 2, share=True), "fc": LayerFold(4, 16)},  # 2*16/px
             {"conv1": LayerFold(4, 1), "conv 2": LayerFold(4, 1, share=True), "fc": LayerFold(4, 16)}]  # 4*9/px
    f = folds[case]
    images = random_net.random_images(np.random.default_rng(5), net, 6)
    r = cosim.cosimulate(net, images, f, source_pause=0.0)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))
    assert r.analytical_cycles == fo.pipeline_cycles(net, f) == fo.layer_cycles(net, net.layers[1], f["conv 2"])
    assert abs(r.cycles_per_frame / r.analytical_cycles - 1) <= 0.02, (r.cycles_per_frame, r.analytical_cycles)


@pytest.mark.cosim
def test_rtl_cosim_shared_trained_with_backpressure():
    from bnnfpga.rtl import cosim

    net, images = _tiny_trained()
    conv = [l for l in net.compute_layers() if isinstance(l, Conv2D) and l.input_kind == "binary"][0]
    f = {**fo.minimal(net), conv.name: LayerFold(4, 2, share=True)}
    r = cosim.cosimulate(net, images, f, source_pause=0.3, sink_pause=0.3, seed=4)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))


def test_report_shows_unique_ratio_and_shared_layers(tmp_path):
    from bnnfpga.optimizer import evaluate
    from bnnfpga.report import write_report

    net = share_net()
    f = {"conv1": LayerFold(4, 1), "conv 2": LayerFold(2, 2, share=True), "fc": LayerFold(4, 16)}
    files = write_report(net, evaluate(net, f, "pynq-z2"), tmp_path / "rep")
    text = files["text"].read_text()
    ratio = fs.tables(net.layers[1], 2, 2).unique_per_channel.sum() / 64
    line = [l for l in text.splitlines() if l.strip().startswith("conv 2") and "unique" in l]
    assert len(line) == 1 and f"({ratio:.1%};" in line[0] and "shared-filter datapath" in line[0], text
    assert "Filter repetitions" in files["html"].read_text()
    assert fo.load(files["folding"], net) == f


def test_unit_files_hold_only_the_layer():
    from bnnfpga.rtl import backend
    from bnnfpga.rtl.shared import unit_files

    net = share_net()
    files = backend.generate(net, {**fo.minimal(net), "conv 2": LayerFold(2, 2, share=True)})
    module, uf = unit_files(files, "conv 2")
    assert module == "layer_conv_2"
    assert {"rtl/bnn_share_gather.sv", "rtl/bnn_mvtu_shared.sv", "rtl/layer_conv_2.sv", "unit.ys",
            "mem/layer_conv_2_patterns.mem", "mem/layer_conv_2_select.mem"} <= set(uf)
    assert not any("conv1" in p or "layer_fc" in p or "bnn_top" in p for p in uf)  # the layer alone
    assert "-top layer_conv_2" in uf["unit.ys"] and "-flatten" in uf["unit.ys"]


@pytest.mark.slow
def test_yosys_layer_unit_shared_and_standard(tmp_path):
    from bnnfpga.rtl import backend, yosys
    from bnnfpga.rtl.shared import synth_layer_unit

    if yosys.yosys_path() is None:
        pytest.skip("yosys not installed")
    net = share_net(cin=2, cout=4)
    for share in (False, True):
        files = backend.generate(net, {**fo.minimal(net), "conv 2": LayerFold(4, 2, share=share)})
        r = synth_layer_unit(files, "conv 2", tmp_path / str(share))
        assert r["LUT"] > 0 and r["FF"] > 0 and r["BRAM"] == 0


def test_share_refused_on_graphs_and_strides():
    import copy

    net = share_net()
    strided = copy.deepcopy(net)
    strided.layers[1].stride = 2
    with pytest.raises(FoldingError, match="stride"):
        from bnnfpga.filter_share import check_share

        check_share(strided, strided.layers[1], LayerFold(1, 1, share=True))
    g = random_net.random_graph_network(np.random.default_rng(0))
    conv = [l for l in g.compute_layers() if isinstance(l, Conv2D)][0]
    f = {**fo.minimal(g), conv.name: LayerFold(1, 1, share=True)}
    with pytest.raises(FoldingError, match="chain networks only"):
        fo.check(g, f)
