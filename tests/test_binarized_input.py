"""Binarized input (InputSpec.binarize_threshold): IR, model file, golden, torch, HLS C-sim,
RTL co-simulation and the folding optimizer (issue 7)."""
import copy

import numpy as np
import pytest
import torch

from bnnfpga import export, golden, ir, modelfile, zoo
from bnnfpga import optimizer as O
from bnnfpga import random_net as rn
from bnnfpga.folding import LayerFold as F

from fold_models import binarized_mlp, conv_net
from test_export import randomize_bn


def test_golden_bits_are_pixel_ge_threshold():
    net = binarized_mlp(1, hw=3, sizes=(5,), threshold=100)  # one dense scores layer
    imgs = np.array([[[0, 99, 100], [101, 255, 7], [100, 100, 99]]], np.uint8)
    bits = (imgs.reshape(1, -1) >= 100).astype(np.int64)
    w = net.layers[0].weights.astype(np.int64)
    pc = (bits[:, None, :] == w[None]).sum(-1)
    np.testing.assert_array_equal(golden.run(net, imgs), 2 * pc - 9)
    assert net.layers[0].input_kind == "binary"
    np.testing.assert_array_equal(net.input.values(imgs)[..., 0], imgs >= 100)


def test_ir_rules():
    net = binarized_mlp(0)
    bad = copy.deepcopy(net)
    bad.layers[0].input_kind = "fixed"
    with pytest.raises(ir.IRError, match="layer 0 'fc0': field 'input_kind' must be 'binary' .*binarized"):
        bad.validate()
    for t in (-1, 257, 3.5, True):
        bad = copy.deepcopy(net)
        bad.input.binarize_threshold = t
        with pytest.raises(ir.IRError, match="input: field 'binarize_threshold'"):
            bad.validate()
    # threshold range of the first layer is the popcount's [0, n]
    assert ir.acc_range(net, net.layers[0]) == (0, 16)
    g = rn.random_graph_network(np.random.default_rng(0))
    g.input.binarize_threshold = 128
    with pytest.raises(ir.IRError, match="not supported on graph"):
        g.validate()


def test_model_file_round_trip_and_old_bytes_unchanged(tmp_path):
    net = binarized_mlp(2, threshold=77)
    data = modelfile.dumps(net)
    back = modelfile.loads(data)
    assert back.input.binarize_threshold == 77 and back.layers[0].input_kind == "binary"
    assert modelfile.dumps(back) == data
    imgs = rn.random_images(np.random.default_rng(0), net, 5)
    np.testing.assert_array_equal(golden.run(back, imgs), golden.run(net, imgs))
    plain = rn.random_network(np.random.default_rng(3), "mlp")
    b = modelfile.dumps(plain)
    assert b"binarize" not in b and modelfile.dumps(modelfile.loads(b)) == b
    from test_modelfile import build, refused, split

    header, payload = split(data)
    header["input"]["binarize_threshold"] = 300
    refused(build(header, payload), "input field 'binarize_threshold' must be <= 256")


@pytest.mark.parametrize("seed", range(3))
def test_torch_equals_golden_binarized_mlp(seed):
    rng = np.random.default_rng(seed)
    kw = dict(input_shape=[1, 5, 5], hidden=[int(v) for v in rng.choice([4, 16, 33], size=rng.integers(0, 3))],
              classes=4, alpha=bool(seed % 2), input_binarize=int(rng.integers(1, 255)))
    model = zoo.build("mlp", **kw)
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if hasattr(m, "use_alpha"):
            m.weight.data.uniform_(-1, 1, generator=gen)
    randomize_bn(model, gen, scale=5.0)
    model.eval()
    images = rng.integers(0, 256, (40, 5, 5), dtype=np.uint8)
    net = export.to_ir(model, (1, 5, 5))
    assert net.input.binarize_threshold == kw["input_binarize"]
    assert all(l.input_kind == "binary" for l in net.compute_layers())
    logits, taccs = export.torch_trace(model, images)
    traces = golden.GoldenModel(net).trace(images)
    for a, t in zip(taccs, [t for t in traces if t.acc is not None]):
        np.testing.assert_array_equal(a, t.acc)
    scale = float(torch.exp(model[-1].log_scale.detach()))
    np.testing.assert_array_equal(np.rint(logits / scale).astype(np.int64), traces[-1].out)
    # a checkpoint's arch record rebuilds the same model
    name, rkw = model.arch
    assert rkw["input_binarize"] == kw["input_binarize"]
    assert "input_binarize" not in zoo.build("mlp", input_shape=[1, 5, 5], hidden=[4]).arch[1]


def test_torch_trained_binarized_mlp_equals_golden():
    """A few optimisation steps on random data, then torch == golden on every score."""
    torch.manual_seed(0)
    model = zoo.build("mlp", input_shape=[1, 6, 6], hidden=[32], classes=3, input_binarize=90)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 6, 6), dtype=np.uint8)
    y = torch.tensor(rng.integers(0, 3, 64))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    xt = export.images_to_tensor(x)
    model.train()
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), y).backward()
        opt.step()
    model.eval()
    net = export.to_ir(model, (1, 6, 6))
    logits, _ = export.torch_trace(model, x)
    scale = float(torch.exp(model[-1].log_scale.detach()))
    np.testing.assert_array_equal(np.rint(logits / scale).astype(np.int64), golden.run(net, x))


def test_graph_model_refuses_binarize():
    m = zoo.build("binary_resnet", input_shape=[1, 8, 8], classes=2)
    m.input_quant.binarize = 128
    with pytest.raises(export.ExportError, match="chain"):
        export.to_ir(m, (1, 8, 8))


def _random_cases():
    """Random chains (tests' random_net) made to read binarized pixels, with window-SIMD foldings."""
    from fold_models import binarized, random_window_folding

    rng = np.random.default_rng(77)
    out = []
    for kind in ("cnn", "cnn", "mlp"):  # the default C-sim test takes the first (window SIMD in both convolutions)
        net = binarized(rn.random_network(rng, kind, name=f"rand-{kind}"), int(rng.integers(1, 255)))
        out.append((net, random_window_folding(rng, net)))
    return out


def _cases():
    return [
        # lut_pe: fc0's last PE and all of fc1's read LUT ROMs (RTL and HLS)
        (binarized_mlp(0), {"fc0": F(4, 8, 1), "fc1": F(3, 4, 3), "fc2": F(2, 12)}),
        (binarized_mlp(1, hw=3, sizes=(6,), threshold=1), {"fc0": F(3, 9)}),  # one layer: scores 2*pc - n
        (conv_net(3, 3, binarize=100, padding="same", pool=True), {"conv0": F(4, 27), "conv1": F(1, 4), "fc": F(1, 6)}),
    ]


@pytest.mark.csim
def test_hls_csim_bit_exact(tmp_path):
    from bnnfpga.hls import backend, csim

    from test_hls_csim import _check

    cases = _cases() + _random_cases()[:1]
    dirs = []
    for i, (net, f) in enumerate(cases):
        backend.compile_project(net, f, tmp_path / f"p{i}", top_k=2)
        dirs.append(tmp_path / f"p{i}")
    top = (tmp_path / "p0" / "bnn_top.cpp").read_text()
    assert "bnn_input_bin<16, 8, 128, axis_in_t>" in top
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    for i, (net, f) in enumerate(cases):
        imgs = rn.random_images(np.random.default_rng(i), net, 6)
        _check(csim.run_bench(exe, net, imgs, top_k=2, select=i, workdir=tmp_path / f"run{i}"), net.name)


@pytest.mark.cosim
def test_rtl_cosim_bit_exact_and_cycles():
    from bnnfpga.rtl import cosim

    from test_rtl_cosim import check_result

    for net, f in _cases()[:2]:
        imgs = rn.random_images(np.random.default_rng(5), net, 6)
        check_result(net, imgs, f, cosim.cosimulate(net, imgs, f))


def test_lfc_binarized_first_layer_is_xnor():
    lfc = O.bnn_pynq_network("lfc", binarize_threshold=128)
    assert lfc.input.binarize_threshold == 128 and lfc.layers[0].input_kind == "binary"
    fixed = O.bnn_pynq_network("lfc")
    f = {l.name: F(16, 16) for l in lfc.compute_layers()}
    f["fc3"] = F(10, 16)
    r_bin, r_fix = O.evaluate(lfc, f), O.evaluate(fixed, f)
    assert r_bin.cycles == r_fix.cycles
    assert r_bin.resources.lut < r_fix.resources.lut  # XNOR lanes instead of 8-bit add/subtract lanes


def test_onnx_export_refuses_binarized_input():
    pytest.importorskip("onnx")
    from bnnfpga.onnx_export import to_onnx

    with pytest.raises(ir.IRError, match="binarize_threshold"):
        to_onnx(binarized_mlp(0))


@pytest.mark.slow
@pytest.mark.csim
@pytest.mark.cosim
def test_random_binarized_chains_csim_and_cosim(tmp_path):
    """All random binarized chains with window-SIMD foldings: C-sim and RTL co-simulation = golden."""
    from bnnfpga.hls import backend, csim
    from bnnfpga.rtl import cosim

    from test_hls_csim import _check
    from test_rtl_cosim import check_result

    cases = _random_cases()
    for i, (net, f) in enumerate(cases):
        backend.compile_project(net, f, tmp_path / f"p{i}")
    exe, _ = csim.build_many([tmp_path / f"p{i}" for i in range(len(cases))], tmp_path / "many")
    for i, (net, f) in enumerate(cases):
        imgs = rn.random_images(np.random.default_rng(i), net, 5)
        _check(csim.run_bench(exe, net, imgs, select=i, workdir=tmp_path / f"run{i}"), net.name)
        check_result(net, imgs, f, cosim.cosimulate(net, imgs, f))
