"""Graph networks (binary ResNet / DenseNet): IR rules, integer ranges, model file version 2,
and torch == golden model on every node of random and trained torch graphs."""
import copy

import numpy as np
import pytest

from bnnfpga import export, golden, ir
from bnnfpga import modelfile as mf
from bnnfpga import random_net as rn
from bnnfpga.ir import Add, Concat, Conv2D, Dense, IRError, MaxPool2D, Threshold, Thresholds

from graph_models import random_graph_model, trained


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_ranges_and_model_file(seed):
    rng = np.random.default_rng(seed)
    net = rn.random_graph_network(rng, "resnet" if seed % 2 else "densenet", name=f"g{seed}")
    assert net.is_graph
    images = rn.random_images(rng, net, 24)
    traces = golden.GoldenModel(net).trace(images)
    ranges = ir.value_ranges(net)
    kinds = ir.graph_shapes(net).kinds
    for t in traces:
        if kinds[t.name] == "bits":
            assert t.out.dtype == np.uint8 and t.out.max() <= 1
        else:  # every integer stream within its stated range and bit width
            lo, hi = ranges[t.name]
            assert lo <= t.out.min() and t.out.max() <= hi, t.name
            b = ir.range_bits(lo, hi)
            assert -(2 ** (b - 1)) <= lo and hi < 2 ** (b - 1)
            assert not (-(2 ** (b - 2)) <= lo and hi < 2 ** (b - 2)), "not the smallest width"
    blob = mf.dumps(net)
    assert blob[8] == mf.GRAPH_FORMAT_VERSION
    back = mf.loads(blob)
    assert mf.dumps(back) == blob
    np.testing.assert_array_equal(golden.run(back, images), traces[-1].out)


def test_ranges_are_reached():
    """The stated range of a residual stream is tight: weights and images that reach both ends."""
    spec = ir.InputSpec(2, 2, 1, zero_point=128, frac_bits=7, bits=8)
    stem = Conv2D("stem", 1, 2, 1, "same", np.ones((2, 1), np.uint8), input_kind="fixed")
    th = Threshold("in", 2, Thresholds(np.zeros(2, np.int64), np.ones(2, np.int8)))
    conv = Conv2D("conv", 2, 2, 3, "same", np.ones((2, 18), np.uint8))
    add = Add("add", ["stem", "conv"], [0, 7])
    head = Threshold("head", 2, Thresholds(np.zeros(2, np.int64), np.ones(2, np.int8)))
    fc = Dense("fc", 8, 2, np.ones((2, 8), np.uint8))
    net = ir.Network("tight", spec, [stem, th, conv, add, head, fc]).validate()
    lo, hi = ir.value_ranges(net)["add"]
    assert (lo, hi) == (-128 - (18 << 7), 128 + (18 << 7))  # acc_range of the image is symmetric (|q| <= 128)
    lo_img = np.zeros((1, 2, 2), np.uint8)  # q = -128: stem -128 -> bits 0 -> conv (pads -1 too) -18
    hi_img = np.full((1, 2, 2), 255, np.uint8)  # q = 127: stem 127 -> bits 1 -> conv 8 - 10 = -2
    t_lo = {t.name: t.out for t in golden.GoldenModel(net).trace(lo_img)}
    assert t_lo["add"].min() == lo  # the lower end is reached exactly
    t_hi = {t.name: t.out for t in golden.GoldenModel(net).trace(hi_img)}
    assert t_hi["stem"].max() == 127 and t_hi["conv"].max() == 8 - 10
    assert ir.range_bits(*ir.value_ranges(net)["add"]) == 13


def _small_graph():
    rng = np.random.default_rng(3)
    while True:
        net = rn.random_graph_network(rng, "resnet")
        if any(isinstance(l, Add) for l in net.layers):
            return net


@pytest.mark.parametrize("edit, fragment", [
    (lambda n: setattr(n.layers[2], "inputs", ["nope"]), "names 'nope', which is no layer"),
    (lambda n: setattr(n.layers[1], "inputs", [n.layers[3].name]), "not an earlier layer"),
    (lambda n: setattr(next(l for l in n.layers if isinstance(l, Add)), "shifts", [0, 40]), "field 'shifts'"),
    (lambda n: setattr(next(l for l in n.layers if isinstance(l, Add)), "inputs", ["b0_in", "b0_conv2"]),
     "add reads integer streams"),
    (lambda n: setattr(next(l for l in n.layers if l.name == "b0_conv1"), "inputs", ["stem"]),
     "a compute layer reads bits"),
    (lambda n: setattr(next(l for l in n.layers if isinstance(l, Threshold)).thresholds, "t",
                       np.full(next(l for l in n.layers if isinstance(l, Threshold)).channels, 10 ** 9)),
     "outside the accumulator range"),
])
def test_graph_errors_name_the_layer(edit, fragment):
    net = copy.deepcopy(_small_graph())
    edit(net)
    with pytest.raises(IRError) as ei:
        net.validate()
    assert fragment in str(ei.value) and "\n" not in str(ei.value)


def test_dead_end_and_integer_into_maxpool_refused():
    net = copy.deepcopy(_small_graph())
    extra = MaxPool2D("dangling", 1, 1, inputs=["b0_in"])
    net.layers.insert(len(net.layers) - 1, extra)
    with pytest.raises(IRError, match="read by no layer"):
        net.validate()
    extra.inputs = ["stem"]
    with pytest.raises(IRError, match="max-pool reads bits"):
        net.validate()


def test_concat_shapes():
    spec = ir.InputSpec(4, 4, 1)
    a = Conv2D("a", 1, 2, 3, "same", np.zeros((2, 9), np.uint8), input_kind="fixed",
               thresholds=Thresholds(np.zeros(2, np.int64), np.ones(2, np.int8)))
    b = Conv2D("b", 2, 3, 3, "valid", np.zeros((3, 18), np.uint8),
               thresholds=Thresholds(np.zeros(3, np.int64), np.ones(3, np.int8)))
    cat = Concat("cat", ["a", "b"])
    fc = Dense("fc", 80, 2, np.zeros((2, 80), np.uint8))
    net = ir.Network("c", spec, [a, b, cat, fc])
    with pytest.raises(IRError, match="one height and width"):
        net.validate()
    b.padding = "same"
    net.validate()
    assert ir.graph_shapes(net).out_shapes["cat"] == (4, 4, 5)


def test_chain_networks_stay_version_1():
    rng = np.random.default_rng(1)
    net = rn.random_network(rng, "cnn")
    assert not net.is_graph and mf.dumps(net)[8] == 1
    import hashlib

    blob = mf.dumps(rn.random_graph_network(rng, "densenet"))
    body = blob[:8] + (1).to_bytes(4, "little") + blob[12:-32]  # a graph header labelled version 1
    with pytest.raises(mf.ModelFileError, match="format version 1 has no such field"):
        mf.loads(body + hashlib.sha256(body).digest())


@pytest.mark.parametrize("seed", range(16))
def test_random_torch_graphs_bit_exact(seed):
    """torch (eval) == golden on every node: bits, residual integers (times 2**exponent), scores."""
    model, kw = random_graph_model(seed)
    c, h, w = kw["input_shape"]
    rng = np.random.default_rng(500 + seed)
    images = rng.integers(0, 256, (48, h, w, c), dtype=np.uint8)
    net = export.to_ir(model, (c, h, w))
    assert net.is_graph
    want = export.graph_trace(model, images, net)
    got = {t.name: t.out for t in golden.GoldenModel(net).trace(images)}
    for name, v in want.items():
        np.testing.assert_array_equal(got[name], v, err_msg=f"node {name}")
    import torch

    with torch.no_grad():
        s = model.scores(export.images_to_tensor(images)).numpy()
    np.testing.assert_array_equal(s, got[net.layers[-1].name])
    # the model file keeps every number
    np.testing.assert_array_equal(golden.run(mf.loads(mf.dumps(net)), images), got[net.layers[-1].name])


def test_residual_thresholds_split_values():
    """The random BatchNorms fold into thresholds that do split the residual streams (not all constant)."""
    varied = 0
    for seed in (0, 2, 4):
        model, kw = random_graph_model(seed)
        c, h, w = kw["input_shape"]
        net = export.to_ir(model, (c, h, w))
        images = np.random.default_rng(seed).integers(0, 256, (64, h, w, c), dtype=np.uint8)
        for t in golden.GoldenModel(net).trace(images):
            if isinstance(next(l for l in net.layers if l.name == t.name), Threshold):
                per_ch = t.out.reshape(-1, t.out.shape[-1])
                varied += int(((per_ch.min(0) == 0) & (per_ch.max(0) == 1)).sum())
    assert varied > 0


@pytest.mark.parametrize("kind", ["resnet", "densenet"])
def test_trained_torch_equals_golden(kind):
    """A tiny trained binary ResNet / DenseNet: torch == golden on every score of 2,000 test images."""
    import torch

    model, ds = trained(kind)
    h, w, c = ds.image_shape
    net = export.to_ir(model, (c, h, w), name=f"tiny_{kind}", classes=list(ds.classes))
    x = ds.x_test[:2000]
    with torch.no_grad():
        s = torch.cat([model.scores(export.images_to_tensor(x[i:i + 500])) for i in range(0, len(x), 500)]).numpy()
    g = golden.run(net, x)
    np.testing.assert_array_equal(s, g)
    acc = float((golden.predict_labels(g) == ds.y_test[: len(x)]).mean())
    assert acc > 0.3, acc  # it learned something in one tiny epoch
