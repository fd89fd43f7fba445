"""Fixed-point weights on the first / last layer (issue 10): IR validation, the model file,
torch = golden (exact accumulators, scores and logits), the zoo option, ONNX, resources."""
import numpy as np
import pytest
import torch

from bnnfpga import export, fixed_weights as fw, golden, modelfile, random_net as rn, zoo
from bnnfpga.ir import Dense, IRError, Thresholds
from bnnfpga.modelfile import ModelFileError


def _fixed_net(seed=0, kind="mlp", **kw):
    rng = np.random.default_rng(seed)
    return fw.random_fixed(rng, rn.random_network(rng, kind), **kw)


# ----------------------------------------------------------------------------- IR
def test_golden_arithmetic_by_hand():
    """First layer: acc = sum w*q; last layer: score = sum w*(+-1); hidden thresholds on acc."""
    rng = np.random.default_rng(0)
    net = rn.random_network(rng, "mlp")
    fw.random_fixed(rng, net, bits=5)
    imgs = rn.random_images(rng, net, 7)
    q = net.input.quantize(imgs).reshape(7, -1).astype(np.int64)
    first, last = net.compute_layers()[0], net.compute_layers()[-1]
    tr = golden.GoldenModel(net).trace(imgs)
    acc0 = q @ first.weights.astype(np.int64).T
    assert np.array_equal(tr[0].acc, acc0)
    if len(net.compute_layers()) > 1:
        x = 2 * tr[-2].out.reshape(7, -1).astype(np.int64) - 1
        assert np.array_equal(tr[-1].out, x @ last.weights.astype(np.int64).T)
    scale = last.score_scale or 1.0
    assert np.allclose(golden.GoldenModel(net).logits(imgs), tr[-1].out * scale)


@pytest.mark.parametrize("mutate,msg", [
    (lambda n: setattr(n.compute_layers()[0], "weight_bits", 17), "field 'weight_bits' must be 1"),
    (lambda n: setattr(n.compute_layers()[0], "weights", n.compute_layers()[0].weights.astype(np.int32)),
     "must be an int16 array"),
    (lambda n: n.compute_layers()[0].weights.__setitem__((0, 0), 1 << 12), "holds values outside"),
    (lambda n: setattr(n.compute_layers()[0], "weight_frac", -1), "field 'weight_frac'"),
    (lambda n: setattr(n.compute_layers()[0], "score_scale", 2.0), "only allowed on the last layer"),
    (lambda n: setattr(n.compute_layers()[-1], "score_scale", float("nan")), "positive finite"),
])
def test_validation_one_line_errors(mutate, msg):
    net = _fixed_net(3, bits=6)
    mutate(net)
    with pytest.raises(IRError, match=msg) as e:
        net.validate()
    assert "\n" not in str(e.value) and "layer" in str(e.value)


def test_only_first_and_last_layers():
    rng = np.random.default_rng(4)
    while True:
        net = rn.random_network(rng, "mlp")
        if len(net.compute_layers()) == 3:
            break
    mid = net.compute_layers()[1]
    mid.weights, mid.weight_bits = mid.weights.astype(np.int16), 4
    with pytest.raises(IRError, match="only allowed on the first or the last compute layer"):
        net.validate()


def test_binary_layer_with_weight_frac_refused():
    net = rn.random_network(np.random.default_rng(1), "mlp")
    net.compute_layers()[0].weight_frac = 3
    with pytest.raises(IRError, match="must be 0 for binary weights"):
        net.validate()


# ----------------------------------------------------------------------------- model file
def test_model_file_round_trip_and_version(tmp_path):
    for seed in range(8):
        rng = np.random.default_rng(seed)
        net = rn.random_network(rng) if seed % 2 else rn.random_graph_network(rng)
        fw.random_fixed(rng, net, first=seed % 3 != 2, last=seed % 3 != 1)
        b = modelfile.dumps(net)
        assert int.from_bytes(b[8:12], "little") == modelfile.FIXEDW_FORMAT_VERSION
        back = modelfile.loads(b)
        assert modelfile.dumps(back) == b
        for a, c in zip(net.compute_layers(), back.compute_layers()):
            assert a.weight_bits == c.weight_bits and a.weight_frac == c.weight_frac
            assert np.array_equal(a.weights, c.weights) and c.weights.dtype == a.weights.dtype
        assert back.layers[-1].score_scale == net.layers[-1].score_scale
        imgs = rn.random_images(rng, net, 4)
        assert np.array_equal(golden.run(net, imgs), golden.run(back, imgs))
    p = modelfile.save(net, tmp_path / "m.bnn")
    assert modelfile.dumps(modelfile.load(p)) == b


def test_model_file_plain_networks_unchanged():
    """Networks without the feature keep format versions 1 / 2 and no new keys."""
    net = rn.random_network(np.random.default_rng(5))
    b = modelfile.dumps(net)
    assert int.from_bytes(b[8:12], "little") == 1 and b"weight_bits" not in b
    g = rn.random_graph_network(np.random.default_rng(5))
    bg = modelfile.dumps(g)
    assert int.from_bytes(bg[8:12], "little") == 2 and b"weight_bits" not in bg


def _rewrite(b: bytes, edit) -> bytes:
    import hashlib
    import json
    import struct

    _, version, hlen = struct.unpack_from("<8sIQ", b, 0)
    h = json.loads(b[20:20 + hlen])
    version = edit(h, version)
    hb = json.dumps(h, sort_keys=True, separators=(",", ":")).encode()
    body = struct.pack("<8sIQ", b"BNNFPGA\0", version, len(hb)) + hb + b[20 + hlen:-32]
    return body + hashlib.sha256(body).digest()


def test_model_file_errors():
    net = _fixed_net(6, bits=8)
    b = modelfile.dumps(net)

    def bad_bits(h, v):
        h["layers"][0]["weight_bits"] = 0
        return v

    def bad_scale(h, v):
        h["layers"][-1]["score_scale"] = -1.0
        return v

    def old_version(h, v):
        return 1

    def bad_dtype(h, v):
        h["layers"][0]["weight_bits"] = 12  # the tensor is int8: 12 bits need int16
        return v

    for edit, msg in ((bad_bits, "field 'weight_bits' must be >= 1"), (bad_scale, "field 'score_scale'"),
                      (old_version, "unknown field 'score_scale'|unknown field 'inputs'"),
                      (bad_dtype, "dtype int8, expected int16")):
        with pytest.raises(ModelFileError, match=msg) as e:
            modelfile.loads(_rewrite(b, edit), "m.bnn")
        assert str(e.value).startswith("m.bnn: ") and "\n" not in str(e.value)
    # a version-3 file of a network without fixed weights is refused
    plain = rn.random_network(np.random.default_rng(7))
    plain.compute_layers()[-1].score_scale = 0.5
    b3 = modelfile.dumps(plain)

    def drop_scale(h, v):
        h["layers"][-1]["score_scale"] = None
        return v

    with pytest.raises(ModelFileError, match="must be stored as format version 1 or 2"):
        modelfile.loads(_rewrite(b3, drop_scale))


# ----------------------------------------------------------------------------- torch = golden
def _randomize_bn(model, seed, shape):
    """BatchNorm statistics of real data (one training-mode batch), random gammas (about half
    negative) and betas; latent fixed-point weights scaled so that wf is not just b - 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, "weight_bits", 1) > 1:
                m.weight.mul_(0.3)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
        for m in bns:
            m.momentum = 1.0
        x = torch.randint(0, 256, (64,) + tuple(shape), generator=g).float()
        model.train()(x)
        for m in bns:
            c = m.num_features
            m.weight.data = torch.randn(c, generator=g)
            m.weight.data[0] = -m.weight.data[0].abs() - 0.1  # at least one negative gamma
            m.bias.data = torch.randn(c, generator=g) * 0.3
            m.momentum = 0.1
    model.eval()


@pytest.mark.parametrize("name,kw", [
    ("small_cnn", dict(input_shape=(1, 8, 8), channels=[8, "M", 16], fc=[32])),
    ("small_cnn", dict(input_shape=(3, 6, 6), channels=[4], fc=[], padding="valid", first_last_bits=5)),
    ("mlp", dict(input_shape=(1, 8, 8), hidden=[32, 16])),
    ("mlp", dict(input_shape=(1, 8, 8), hidden=[])),
    ("cnv", dict(input_shape=(3, 32, 32), width=0.0625, classes=4)),
    ("binarynet_cnn", dict(input_shape=(3, 8, 8), width=1 / 32, classes=3)),
])
def test_torch_equals_golden_chains(name, kw):
    torch.manual_seed(0)
    model = zoo.build(name, first_last="fixed", **kw)
    assert model.arch[1]["first_last"] == "fixed"
    _randomize_bn(model, 1, kw["input_shape"])
    shape = tuple(kw["input_shape"])
    net = export.to_ir(model, shape)
    layers = net.compute_layers()
    assert layers[0].weight_bits == kw.get("first_last_bits", 8) == layers[-1].weight_bits
    assert any(l.thresholds is not None and (l.thresholds.direction < 0).any() for l in layers[:1]) or len(layers) == 1
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (48, shape[1], shape[2], shape[0]), dtype=np.uint8)
    gm = golden.GoldenModel(net)
    logits, accs = export.torch_trace(model, imgs)
    traces = [t for t in gm.trace(imgs) if t.acc is not None]
    for a, t in zip(accs, traces):
        assert np.array_equal(a, t.acc), t.name
    scores = gm.run(imgs)
    assert np.array_equal(scores.argmax(1), logits.argmax(1))
    assert np.allclose(gm.logits(imgs), logits, rtol=1e-5, atol=1e-6)
    b = modelfile.dumps(net)
    assert np.array_equal(golden.run(modelfile.loads(b), imgs), scores)


@pytest.mark.parametrize("name,kw", [
    ("binary_resnet", dict(input_shape=(1, 8, 8), stages=[1, 1], base=4)),
    ("binary_densenet", dict(input_shape=(2, 8, 8), layers_per_unit=[1, 1], growth=3)),
])
def test_torch_equals_golden_graphs(name, kw):
    torch.manual_seed(1)
    model = zoo.build(name, first_last="fixed", **kw)
    _randomize_bn(model, 2, kw["input_shape"])
    shape = tuple(kw["input_shape"])
    net = export.to_ir(model, shape)
    assert net.layers[0].weight_bits == 8 and net.layers[-1].weight_bits == 8
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (32, shape[1], shape[2], shape[0]), dtype=np.uint8)
    vals = export.graph_trace(model, imgs, net)
    for t in golden.GoldenModel(net).trace(imgs):
        assert np.array_equal(vals[t.name], t.out), t.name
    with torch.no_grad():
        logits = model.eval()(export.images_to_tensor(imgs)).numpy()
    assert np.allclose(golden.GoldenModel(net).logits(imgs), logits, rtol=1e-5, atol=1e-6)


def test_zoo_default_unchanged_and_bad_option():
    m = zoo.build("small_cnn", input_shape=(1, 8, 8))
    assert "first_last" not in m.arch[1]
    assert all(getattr(x, "weight_bits", 1) == 1 for x in m.modules())
    with pytest.raises(ValueError, match="first_last"):
        zoo.build("cnv", first_last="float")


def test_dropout_is_training_only_and_skipped_by_export():
    torch.manual_seed(0)
    model = zoo.build("mlp", input_shape=(1, 8, 8), hidden=[16], dropout=0.5, first_last="fixed")
    assert any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    net = export.to_ir(model, (1, 8, 8))
    imgs = np.random.default_rng(0).integers(0, 256, (16, 8, 8), dtype=np.uint8)
    with torch.no_grad():
        logits = model.eval()(export.images_to_tensor(imgs)).numpy()
    assert np.allclose(golden.GoldenModel(net).logits(imgs), logits, rtol=1e-5, atol=1e-6)


def test_quantizer_straight_through_and_exactness():
    from bnnfpga.nn import BinaryLinear

    lin = BinaryLinear(6, 3, weight_bits=4)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.3, -0.24, 0.1, 0.0, -0.3, 0.05]] * 3))
    assert lin.weight_frac() == 4  # max|w| = 0.3 < 2**-1: wf = 3 - (-1)
    w = lin.binary_weight()
    ints = w * 2 ** 4
    assert torch.equal(ints, torch.round(ints)) and ints.abs().max() <= 8
    w.sum().backward()
    assert torch.equal(lin.weight.grad, torch.ones_like(lin.weight))  # straight through
    with pytest.raises(ValueError, match="cannot use alpha"):
        BinaryLinear(4, 2, alpha=True, weight_bits=8)


def test_export_refuses_inexact_float32():
    from bnnfpga.nn import BinaryLinear, InputQuant, Scale, BNNSequential, Flatten

    m = BNNSequential(InputQuant(), Flatten(), BinaryLinear(64 * 64 * 4, 2, input_kind="fixed", weight_bits=16), Scale())
    with pytest.raises(export.ExportError, match="not exact in float32"):
        export.to_ir(m, (4, 64, 64))


# ----------------------------------------------------------------------------- other tools
def test_onnx_export_runs_fixed_weights():
    pytest.importorskip("onnxruntime")
    from bnnfpga.onnx_export import images_to_input, run_onnxruntime, to_onnx

    for seed in range(3):
        net = _fixed_net(seed, "cnn" if seed % 2 else "mlp")
        imgs = rn.random_images(np.random.default_rng(seed), net, 6)
        got = run_onnxruntime(to_onnx(net), images_to_input(net, imgs))
        assert np.array_equal(np.asarray(got).astype(np.int64), golden.run(net, imgs))
    with pytest.raises(IRError, match="QONNX export"):
        to_onnx(net, fmt="qonnx")
    from bnnfpga.onnx_import import OnnxImportError, import_onnx

    with pytest.raises(OnnxImportError, match="weights are not binary") as e:  # import: a one-line refusal
        import_onnx(to_onnx(net))
    assert "\n" not in str(e.value)


def test_resources_fixed_weight_lanes():
    from bnnfpga import folding as fo
    from bnnfpga.resources import ResourceModel

    net = _fixed_net(2, "mlp", bits=8)
    plain = rn.random_network(np.random.default_rng(2), "mlp")
    fold = fo.minimal(net)
    model = ResourceModel.load()
    r = model.per_layer(net, fold)
    first = net.compute_layers()[0]
    assert r[first.name].dsp >= 1  # pixel x weight multipliers
    assert model.total(net, fold).lut > model.total(plain, fold).lut


def test_optimizer_respects_the_dsp_budget():
    """Pixel x weight lanes take one DSP48 each: the folding optimizer keeps them within the board's DSPs."""
    from bnnfpga import optimizer
    from bnnfpga.ir import InputSpec, Network

    rng = np.random.default_rng(0)
    l0 = Dense("fc0", 64, 64, rng.integers(0, 2, (64, 64), dtype=np.uint8), input_kind="fixed")
    l0.thresholds = Thresholds(np.zeros(64, np.int64), np.ones(64, np.int8))
    l1 = Dense("fc1", 64, 10, rng.integers(0, 2, (10, 64), dtype=np.uint8))
    net = fw.random_fixed(rng, Network("n", InputSpec(8, 8, 1), [l0, l1]).validate(), bits=8)
    r = optimizer.optimize(net, board="pynq-z1")
    assert r.feasible and 0 < r.resources.dsp <= 220 and r.binding == "DSP"
    plain = optimizer.optimize(rn.random_network(np.random.default_rng(1), "mlp"), board="pynq-z1")
    assert "DSP" not in plain.budget.usage(plain.resources, plain.lanes)  # binary designs: no DSP line


def test_resnet_stem_weight_frac_capped_for_float32():
    """A fixed-point ResNet stem adds to binary dot products shifted by frac_bits + weight_frac: the zoo caps
    weight_frac so that the residual stream stays exact in float32, and the export goes through."""
    torch.manual_seed(0)
    model = zoo.build("binary_resnet", input_shape=(3, 32, 32), stages=[2, 2, 2, 2], base=64, width=0.25,
                      first_last="fixed")
    stem = model.nodes["stem"].layer
    with torch.no_grad():
        stem.weight.mul_(0.01)  # tiny latent weights: the uncapped power-of-two scale would be 2**-13
    assert stem.weight_frac() == stem.max_weight_frac < 13
    net = export.to_ir(model, (3, 32, 32))
    imgs = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    vals = export.graph_trace(model, imgs, net)
    for t in golden.GoldenModel(net).trace(imgs):
        assert np.array_equal(vals[t.name], t.out), t.name


def test_wide_mlp_input_gets_exact_weight_bits():
    m = zoo.build("mlp", input_shape=(3, 32, 32), hidden=[16], classes=4, first_last="fixed")
    net = export.to_ir(m, (3, 32, 32))  # 3072 * 128 * 2**7 >= 2**24: the first layer gets 6 bits
    assert [l.weight_bits for l in net.compute_layers()] == [6, 8]
    imgs = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    _, accs = export.torch_trace(m, imgs)
    assert np.array_equal(accs[0], golden.GoldenModel(net).trace(imgs)[0].acc)
