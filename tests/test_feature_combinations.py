"""Features built separately, used together: strided convolutions with SIMD across kernel positions
(window SIMD), fixed-point first/last layers in the strided zoo networks, a binarized input feeding
an off-chip (DRAM) layer, and the folding options that cannot be combined (one-line errors).
Every score is checked against the golden model, in HLS C-sim and in RTL co-simulation."""
import json

import numpy as np
import pytest

from bnnfpga import folding as fo, random_net as rn
from bnnfpga.folding import FoldingError, LayerFold
from bnnfpga.golden import GoldenModel, label_select
from bnnfpga.hls import backend, csim
from bnnfpga.rtl import cosim

from fold_models import binarized_mlp, random_window_folding


def _strided_window_case(seed):
    """A random strided chain whose folding has at least one convolution with SIMD not dividing C_in."""
    rng = np.random.default_rng(seed)
    for _ in range(50):
        net = rn.random_strided_network(rng, name=f"strided-wsimd{seed}")
        fold = random_window_folding(rng, net)
        if any(hasattr(l, "kernel") and l.in_channels % fold[l.name].simd for l in net.compute_layers()):
            return net, fold, rn.random_images(rng, net, 4)
    raise AssertionError("no strided network with a window-SIMD folding drawn")


def test_window_stage_of_a_strided_conv_with_window_simd():
    net, fold, _ = _strided_window_case(3)
    st = {s.name: s for s in fo.stage_cycles(net, fold)}
    for layer in net.compute_layers():
        if hasattr(layer, "kernel") and (layer.stride > 1 or layer.in_channels % fold[layer.name].simd):
            w = st[f"{layer.name} window"]
            assert w.kind == "swg" and w.cycles == fo.swg_cycles(net, layer, fold[layer.name]) > 0
            assert fo.fold_cycles(net, layer, fold[layer.name]) == max(w.cycles, st[layer.name].cycles)


@pytest.mark.csim
def test_csim_strided_with_window_simd(tmp_path):
    cases = [_strided_window_case(s) for s in (1, 2, 3)]
    dirs = []
    for i, (net, fold, _) in enumerate(cases):
        backend.compile_project(net, fold, tmp_path / f"p{i}", top_k=min(2, net.num_classes))
        dirs.append(tmp_path / f"p{i}")
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    for i, (net, fold, images) in enumerate(cases):
        k = min(2, net.num_classes)
        res = csim.run_bench(exe, net, images, top_k=k, select=i, workdir=tmp_path / f"run{i}")
        assert np.array_equal(res.scores, res.golden_scores), f"{net.name} {fold}\n{res.log}"
        assert np.array_equal(res.scores, GoldenModel(net).run(images))


@pytest.mark.cosim
def test_rtl_strided_with_window_simd():
    net, fold, images = _strided_window_case(2)
    r = cosim.cosimulate(net, images, fold)
    gold = GoldenModel(net).run(images)
    np.testing.assert_array_equal(r.scores, gold)
    np.testing.assert_array_equal(r.labels, label_select(gold, 1))
    assert r.analytical_cycles == fo.pipeline_cycles(net, fold)
    if r.cycles_per_frame is not None:
        assert abs(r.cycles_per_frame / r.analytical_cycles - 1) <= 0.02


def _fixed_wu13():
    import torch

    from bnnfpga import export, zoo
    from zoo_calibration import calibrate_bn

    torch.manual_seed(0)
    m = zoo.build("wu13", input_shape=(3, 32, 32), width=1 / 16, classes=6, first_last="fixed")
    rng = np.random.default_rng(1)
    calibrate_bn(m, rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8), seed=0)
    net = export.to_ir(m, (3, 32, 32), name="wu13_fixed")
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    logits, _ = export.torch_trace(m, images)
    gm = GoldenModel(net)
    np.testing.assert_allclose(gm.logits(images), logits, rtol=1e-5, atol=1e-6)
    return net, images


@pytest.mark.csim
def test_csim_wu13_with_fixed_point_first_and_last_layers(tmp_path):
    net, images = _fixed_wu13()
    assert net.compute_layers()[0].weight_bits > 1 and net.compute_layers()[-1].weight_bits > 1
    scores = csim.simulate(net, images, fo.for_target(net, 20000), top_k=5, workdir=tmp_path / "hls")
    np.testing.assert_array_equal(scores, GoldenModel(net).run(images))


@pytest.mark.slow
@pytest.mark.cosim
def test_rtl_wu13_with_fixed_point_first_and_last_layers():
    net, images = _fixed_wu13()
    fold = fo.for_target(net, 20000)
    r = cosim.cosimulate(net, images, fold, top_k=5)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))


@pytest.mark.cosim
def test_rtl_binarized_input_with_a_dram_layer():
    net = binarized_mlp(seed=4, hw=4, sizes=(16, 12, 4))
    fold = {"fc0": LayerFold(4, 8), "fc1": LayerFold(4, 4, weights="dram", batch=2), "fc2": LayerFold(2, 4)}
    images = rn.random_images(np.random.default_rng(5), net, 5)  # batches of 2: 2 + 2 + 1
    r = cosim.cosimulate(net, images, fold, dram_pause=0.3)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))


def test_folding_options_that_cannot_be_combined(tmp_path):
    net = binarized_mlp(seed=1)
    with pytest.raises(FoldingError, match="weights='dram' cannot be combined with lut_pe"):
        fo.check(net, {"fc0": LayerFold(4, 8), "fc1": LayerFold(4, 4, lut_pe=2, weights="dram"), "fc2": LayerFold(2, 4)})
    p = tmp_path / "f.json"
    p.write_text(json.dumps({"fc0": {"pe": 4, "simd": 8, "share": 1}}))
    with pytest.raises(FoldingError, match='"share" must be true or false'):
        fo.load(p)
    p.write_text(json.dumps({"fc0": {"pe": 4, "simd": 8, "colour": "red"}}))
    with pytest.raises(FoldingError, match="optional: lut_pe, share, weights, batch"):
        fo.load(p)
    both = {"fc0": LayerFold(4, 8, lut_pe=1), "fc1": LayerFold(4, 4, weights="dram", batch=3), "fc2": LayerFold(2, 4)}
    p.write_text(fo.to_json(both))
    assert fo.load(p, net) == both  # every option round-trips through the folding file


@pytest.mark.cosim
@pytest.mark.parametrize("name,kw", [
    ("binary_resnet", dict(input_shape=(1, 8, 8), stages=[1, 1], base=4)),
    ("binary_densenet", dict(input_shape=(2, 8, 8), layers_per_unit=[1, 1], growth=3)),
])
def test_rtl_graph_with_fixed_point_stem_and_classifier(name, kw):
    """Shortcut networks with 8-bit weights on the stem (integer output into the residual stream) and on
    the classifier, as Bethge et al. keep them: RTL = golden on every score, cycles as analysed."""
    import torch

    from bnnfpga import export, zoo
    from zoo_calibration import calibrate_bn

    torch.manual_seed(1)
    model = zoo.build(name, first_last="fixed", **kw)
    shape = tuple(kw["input_shape"])
    rng = np.random.default_rng(3)
    calibrate_bn(model, rng.integers(0, 256, (48, shape[1], shape[2], shape[0]), dtype=np.uint8), seed=2)
    net = export.to_ir(model, shape)
    assert net.is_graph and net.layers[0].weight_bits == 8 and net.layers[-1].weight_bits == 8
    images = rng.integers(0, 256, (6, shape[1], shape[2], shape[0]), dtype=np.uint8)
    gold = GoldenModel(net).run(images)
    assert len({tuple(r) for r in gold.tolist()}) > 2
    fold = rn.random_folding(rng, net)
    r = cosim.cosimulate(net, images, fold, top_k=2)
    np.testing.assert_array_equal(r.scores, gold)
    np.testing.assert_array_equal(r.labels, label_select(gold, 2))
    if r.cycles_per_frame is not None:
        assert abs(r.cycles_per_frame / r.analytical_cycles - 1) <= 0.02


@pytest.mark.slow
@pytest.mark.cosim
@pytest.mark.parametrize("name,size,target", [("wu13", 32, 20000), ("alexnet_bnn", 64, 40000)])
def test_rtl_reduced_zoo_with_dense_weights_from_dram(name, size, target):
    """Issue 10's check: a reduced zoo network on 10 images, torch = golden (zoo_net) = RTL, with the
    first dense layer's weights streamed from the emulated DRAM (batch 2, DRAM stalls)."""
    from test_strided_sim import zoo_net

    net, images = zoo_net(name, size, 1 / 16)
    fold = fo.for_target(net, target)
    dense = [l for l in net.compute_layers() if not hasattr(l, "kernel")]
    f = fold[dense[0].name]
    fold[dense[0].name] = LayerFold(f.pe, f.simd, weights="dram", batch=2)
    r = cosim.cosimulate(net, images, fold, top_k=5, dram_pause=0.2)
    gold = GoldenModel(net).run(images)
    np.testing.assert_array_equal(r.scores, gold)
    np.testing.assert_array_equal(r.labels, label_select(gold, 5))
