"""Strided convolutions and max-pools with kernel != stride (bnnfpga.strided): IR shape rules,
golden model against a naive loop reference and against torch, export, model file, folding
cycles, the zoo's wu13 / alexnet_bnn, and what the backends generate for them."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from bnnfpga import export, folding as fo, modelfile, random_net as rn, strided, zoo
from bnnfpga import nn as bnn
from bnnfpga.golden import GoldenModel, label_select
from bnnfpga.hls import backend as hls_backend
from bnnfpga.ir import Conv2D, Dense, InputSpec, IRError, MaxPool2D, Network, Thresholds, layer_out_shape
from bnnfpga.rtl import backend as rtl_backend

from zoo_calibration import calibrate_bn


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("h", [5, 7, 8, 11, 16])
@pytest.mark.parametrize("k,s,padding", [(1, 2, "valid"), (3, 2, "same"), (3, 2, "valid"), (5, 3, "same"),
                                         (7, 2, "same"), (3, 3, "valid"), (1, 1, "valid"), (3, 1, "same")])
def test_conv_shape_is_torchs(h, k, s, padding):
    if padding == "valid" and k > h:
        return
    layer = Conv2D("c", 2, 4, k, padding, np.zeros((4, k * k * 2), np.uint8), stride=s)
    p = (k - 1) // 2 if padding == "same" else 0
    want = torch.nn.functional.conv2d(torch.zeros(1, 2, h, h + 1), torch.zeros(4, 2, k, k), stride=s, padding=p).shape
    assert layer_out_shape(layer, (h, h + 1, 2), "x") == (want[2], want[3], 4)


@pytest.mark.parametrize("h", [3, 5, 7, 8, 13])
@pytest.mark.parametrize("k,s", [(3, 2), (2, 1), (3, 1), (1, 2), (2, 3), (2, 2), (3, 3)])
def test_maxpool_shape_is_torchs(h, k, s):
    want = nn.MaxPool2d(k, s)(torch.zeros(1, 1, h, h + 2)).shape
    assert layer_out_shape(MaxPool2D("p", k, s), (h, h + 2, 4), "x") == (want[2], want[3], 4)


def test_shape_errors_name_the_layer_and_field():
    conv = Conv2D("c", 1, 2, 3, "valid", np.zeros((2, 9), np.uint8), stride=0)
    with pytest.raises(IRError, match="'c'.*field 'stride' must be a positive integer"):
        layer_out_shape(conv, (8, 8, 1), "layer 0 'c'")
    with pytest.raises(IRError, match="max-pool window 5 larger than input 4x4"):
        layer_out_shape(MaxPool2D("p", 5, 2), (4, 4, 1), "layer 1 'p'")
    with pytest.raises(IRError, match="field 'stride'"):
        layer_out_shape(MaxPool2D("p", 2, 0), (4, 4, 1), "layer 1 'p'")


# ------------------------------------------------------------------ golden
def _naive(net: Network, image: np.ndarray):
    """Per layer, the outputs of one image by plain loops over the IR's definitions."""
    x = net.input.quantize(image[None])[0].astype(np.int64)
    outs = []
    for layer in net.layers:
        if isinstance(layer, MaxPool2D):
            h, w, c = x.shape
            k, s = layer.kernel, layer.stride
            oh, ow = (h - k) // s + 1, (w - k) // s + 1
            y = np.zeros((oh, ow, c), np.int64)
            for oy in range(oh):
                for ox in range(ow):
                    for ch in range(c):
                        y[oy, ox, ch] = max(x[oy * s + a, ox * s + b, ch] for a in range(k) for b in range(k))
        elif isinstance(layer, Conv2D):
            h, w, c = x.shape
            k, s, p = layer.kernel, layer.stride, layer.pad
            oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            fixed = layer.input_kind == "fixed"
            wpm = 2 * layer.weights.astype(np.int64) - 1
            y = np.zeros((oh, ow, layer.out_channels), np.int64)
            for oy in range(oh):
                for ox in range(ow):
                    win = []
                    for a in range(k):
                        for b in range(k):
                            iy, ix = oy * s - p + a, ox * s - p + b
                            inside = 0 <= iy < h and 0 <= ix < w
                            for ch in range(c):
                                if fixed:
                                    win.append(x[iy, ix, ch] if inside else 0)  # pad q = 0
                                else:
                                    win.append(2 * x[iy, ix, ch] - 1 if inside else -1)  # pad -1 (bit 0)
                    dot = wpm @ np.array(win)
                    y[oy, ox] = dot if fixed else (dot + layer.fan_in) // 2  # popcount
            y = layer.thresholds.apply(y).astype(np.int64)
        else:
            v = x.reshape(-1)
            wpm = 2 * layer.weights.astype(np.int64) - 1
            dot = wpm @ (v if layer.input_kind == "fixed" else 2 * v - 1)
            y = dot if layer.thresholds is None else layer.thresholds.apply(
                dot if layer.input_kind == "fixed" else (dot + layer.fan_in) // 2).astype(np.int64)
        outs.append(y)
        x = y
    return outs


def test_golden_matches_naive_reference_on_random_strided_nets():
    rng = np.random.default_rng(10)
    kinds = set()
    for i in range(14):
        net = rn.random_strided_network(rng, name=f"s{i}")
        for layer in net.layers:
            if isinstance(layer, Conv2D):
                kinds.add(("conv", layer.kernel, layer.stride, layer.padding))
            if isinstance(layer, MaxPool2D):
                kinds.add(("pool", layer.kernel, layer.stride))
        imgs = rn.random_images(rng, net, 2)
        traces = GoldenModel(net).trace(imgs)
        for j in range(len(imgs)):
            for layer, t, ref in zip(net.layers, traces, _naive(net, imgs[j])):
                np.testing.assert_array_equal(t.out[j], ref, err_msg=f"{net.name} layer {layer.name}")
    assert any(k[0] == "pool" and k[1] > k[2] for k in kinds)  # overlapping pools occurred
    assert any(k[0] == "conv" and k[2] > 1 and k[3] == "same" for k in kinds)
    assert any(k[0] == "conv" and k[2] > 1 and k[3] == "valid" for k in kinds)


def _strided_torch_model(seed: int):
    torch.manual_seed(seed)
    m = bnn.BNNSequential(
        bnn.InputQuant(),
        bnn.BinaryConv2d(3, 8, 5, "same", input_kind="fixed", stride=2), bnn.BatchNorm(8), bnn.BinaryActivation(),
        nn.MaxPool2d(3, 2),
        bnn.BinaryConv2d(8, 8, 3, "valid", stride=2), bnn.BatchNorm(8), bnn.BinaryActivation(),
        nn.MaxPool2d(2, 1),
        bnn.Flatten(), nn.Dropout(0.5),
        bnn.BinaryLinear(8, 12), bnn.BatchNorm(12), bnn.BinaryActivation(), nn.Dropout(0.5),
        bnn.BinaryLinear(12, 5), bnn.Scale(0.5))
    return m


def test_torch_equals_golden_on_strided_model():
    m = _strided_torch_model(0)  # 23x23 -> 12x12 -> 5x5 -> 2x2 -> 1x1
    imgs = np.random.default_rng(3).integers(0, 256, (12, 23, 23, 3), dtype=np.uint8)
    calibrate_bn(m, imgs, seed=1)
    net = export.to_ir(m, (3, 23, 23))
    assert [(l.kind, getattr(l, "kernel", None), getattr(l, "stride", None)) for l in net.layers] == [
        ("conv", 5, 2), ("maxpool", 3, 2), ("conv", 3, 2), ("maxpool", 2, 1), ("dense", None, None),
        ("dense", None, None)]
    logits, accs = export.torch_trace(m, imgs)
    g = GoldenModel(net)
    traces = [t for t in g.trace(imgs) if t.acc is not None]
    for t, a in zip(traces, accs):
        np.testing.assert_array_equal(t.acc, a, err_msg=t.name)
    scores = g.run(imgs)
    np.testing.assert_array_equal(np.rint(logits / 0.5).astype(np.int64), scores)
    assert len({tuple(r) for r in scores.tolist()}) > 3  # not a constant network


def test_export_refuses_padded_max_pool():
    m = bnn.BNNSequential(bnn.InputQuant(), bnn.BinaryConv2d(1, 2, 3, "same", input_kind="fixed"), bnn.BatchNorm(2),
                          bnn.BinaryActivation(), nn.MaxPool2d(3, 2, padding=1), bnn.Flatten(), bnn.BinaryLinear(32, 2))
    with pytest.raises(export.ExportError, match="module 4.*padding"):
        export.to_ir(m, (1, 8, 8))


def test_model_file_round_trip_of_strided_net():
    net = rn.random_strided_network(np.random.default_rng(4))
    blob = modelfile.dumps(net)
    back = modelfile.loads(blob)
    assert modelfile.dumps(back) == blob
    assert [(getattr(a, "stride", 0), getattr(b, "stride", 0)) for a, b in zip(net.layers, back.layers)] == \
        [(getattr(a, "stride", 0), getattr(a, "stride", 0)) for a in net.layers]
    imgs = rn.random_images(np.random.default_rng(5), net, 3)
    np.testing.assert_array_equal(GoldenModel(back).run(imgs), GoldenModel(net).run(imgs))


# ------------------------------------------------------------------ folding
def _conv_net(k, s, cin=4, size=12, padding="same"):
    rng = np.random.default_rng(0)
    spec = InputSpec(size, size, cin)
    conv = Conv2D("c", cin, 4, k, padding, rng.integers(0, 2, (4, k * k * cin), dtype=np.uint8), input_kind="fixed",
                  stride=s)
    net = Network("n", spec, [conv])
    n = int(np.prod(layer_out_shape(conv, spec.shape, "c")))
    net.layers.append(Dense("fc", n, 3, rng.integers(0, 2, (3, n), dtype=np.uint8)))
    conv.thresholds = Thresholds(np.zeros(4, np.int64), np.ones(4, np.int8))
    return net.validate()


def test_strided_window_generator_is_a_stage():
    net = _conv_net(7, 2)  # 12x12x4 -> 6x6: 36 pixels of 49 words at SIMD 4
    st = {s.name: s for s in fo.stage_cycles(net, {"c": fo.LayerFold(4, 4), "fc": fo.LayerFold(3, 1)})}
    assert st["c window"].kind == "swg" and st["c window"].cycles == 36 * 49
    assert st["c"].cycles == 36 * 49  # PE = all channels: the MVTU reads one word per cycle too
    # stride 3 with a 1x1 kernel: the generator reads 144 words and emits 16: its input is the bound
    net = _conv_net(1, 3, padding="valid")
    st = {s.name: s for s in fo.stage_cycles(net, {"c": fo.LayerFold(4, 4), "fc": fo.LayerFold(3, 1)})}
    assert st["c window"].cycles == 144 and st["c"].cycles == 16
    f = fo.for_target(net, 1)  # the fastest folding is bounded by the window generator
    assert fo.pipeline_cycles(net, f) == 144 and f["c"].simd == 4
    # stride 1 keeps the old stage list (no window-generator stage)
    net1 = _conv_net(3, 1)
    assert all(s.kind != "swg" for s in fo.stage_cycles(net1, fo.minimal(net1)))


# ------------------------------------------------------------------ backends (generation only)
def test_backends_add_the_strided_stages_only_when_used():
    rng = np.random.default_rng(8)
    plain = rn.random_network(rng, "cnn")
    f = rn.random_folding(rng, plain)
    assert strided.uses(plain) == set()
    assert "bnn_strided.h" not in hls_backend.generate(plain, f)
    assert not any("stride" in p or "_win" in p for p in rtl_backend.generate(plain, f))
    net = _strided_torch_net_ir()
    f = fo.minimal(net)
    files = hls_backend.generate(net, f, top_k=5)
    assert "bnn_strided.h" in files and '#include "bnn_strided.h"' in files["bnn_top.cpp"]
    assert "bnn_swg_stride<5, 2," in files["bnn_top.cpp"] and "bnn_maxpool_win<3, 2," in files["bnn_top.cpp"]
    rfiles = rtl_backend.generate(net, f, top_k=5)
    assert "rtl/bnn_swg_stride.sv" in rfiles["files.f"] and "rtl/bnn_maxpool_win.sv" in rfiles["files.f"]
    assert "bnn_swg_stride #(" in rfiles["rtl/bnn_top.sv"] and ".S(2)" in rfiles["rtl/bnn_top.sv"]


def _strided_torch_net_ir():
    m = _strided_torch_model(1)
    return export.to_ir(m, (3, 23, 23))


# ------------------------------------------------------------------ zoo
@pytest.mark.parametrize("name,size", [("wu13", 32), ("alexnet_bnn", 64)])
def test_zoo_reduced_torch_equals_golden(name, size):
    m = zoo.build(name, input_shape=(3, size, size), width=1 / 16, classes=6)
    assert m.arch[0] == name and any(isinstance(x, nn.Dropout) for x in m.modules()) == (name == "alexnet_bnn")
    rng = np.random.default_rng(2)
    calibrate_bn(m, rng.integers(0, 256, (32, size, size, 3), dtype=np.uint8), seed=3)
    net = export.to_ir(m, (3, size, size), name=name)
    imgs = rng.integers(0, 256, (10, size, size, 3), dtype=np.uint8)
    logits, _ = export.torch_trace(m, imgs)
    scores = GoldenModel(net).run(imgs)
    scale = float(torch.exp(m[-1].log_scale).detach())
    np.testing.assert_array_equal(np.rint(logits / scale).astype(np.int64), scores)
    np.testing.assert_array_equal(label_select(scores, 5)[:, 0], logits.argmax(1))
    assert len({tuple(r) for r in scores.tolist()}) >= 8


def test_zoo_shapes_at_full_size():
    net_shapes = {}
    for name in ("wu13", "alexnet_bnn"):
        m = zoo.build(name, width=1 / 64, classes=10)  # full 224x224 input, thin layers: quick to export
        net = export.to_ir(m, (3, 224, 224), name=name)
        net_shapes[name] = [(l.kind, o[:2]) for l, (_, o) in zip(net.layers, net.shapes()) if l.kind != "dense"]
    assert net_shapes["wu13"][:2] == [("conv", (112, 112)), ("maxpool", (55, 55))]
    assert net_shapes["wu13"][-1] == ("maxpool", (13, 13)) and len(net_shapes["wu13"]) == 13
    assert [s for _, s in net_shapes["alexnet_bnn"]] == [(56, 56), (27, 27), (27, 27), (13, 13), (13, 13), (13, 13),
                                                         (13, 13), (6, 6)]


@pytest.mark.parametrize("name,size", [("wu13", 32), ("alexnet_bnn", 64)])
def test_zoo_fixed_first_last_torch_equals_golden(name, size):
    """first_last="fixed": 8-bit weights on the strided first convolution and the last dense layer."""
    m = zoo.build(name, input_shape=(3, size, size), width=1 / 16, classes=6, first_last="fixed")
    rng = np.random.default_rng(4)
    calibrate_bn(m, rng.integers(0, 256, (32, size, size, 3), dtype=np.uint8), seed=5)
    net = export.to_ir(m, (3, size, size), name=name)
    layers = net.compute_layers()
    assert layers[0].weight_bits > 1 and layers[0].stride > 1 and layers[-1].weight_bits == 8
    assert all(l.weight_bits == 1 for l in layers[1:-1])
    imgs = rng.integers(0, 256, (10, size, size, 3), dtype=np.uint8)
    logits, accs = export.torch_trace(m, imgs)
    gm = GoldenModel(net)
    for a, t in zip(accs, [t for t in gm.trace(imgs) if t.acc is not None]):
        np.testing.assert_array_equal(a, t.acc)
    np.testing.assert_allclose(gm.logits(imgs), logits, rtol=1e-5, atol=1e-6)


def test_zoo_too_small():
    with pytest.raises(ValueError, match="first_last must be"):
        zoo.build("wu13", input_shape=(3, 32, 32), width=1 / 16, first_last="ternary")
    with pytest.raises(ValueError, match="too small"):
        zoo.build("alexnet_bnn", input_shape=(3, 32, 32))


def test_optimizer_on_strided_zoo_net():
    from bnnfpga import optimizer

    m = zoo.build("alexnet_bnn", input_shape=(3, 64, 64), width=1 / 16, classes=6)
    net = export.to_ir(m, (3, 64, 64))
    r = optimizer.optimize(net, "pynq-z2")
    assert r.feasible
    kinds = {k for _, k, _ in r.stage_cycles}
    assert "swg" in kinds  # the strided first layer's window generator is a stage
    # the conv0 window generator writes 64*64 pixels, one per cycle; with SIMD = P * 3 it reads P of the
    # 11x11 kernel positions per word (bnnfpga.swg_multi): 16*16*121/P words, 16*16*121 with one position per word
    assert r.cycles >= 64 * 64 and r.cycles == fo.pipeline_cycles(net, r.folding)
    assert r.cycles < 16 * 16 * 121 and fo.swg_positions(net.layers[0], r.folding[net.layers[0].name]) > 1


@pytest.mark.slow
def test_full_size_wu13_builds_and_folds(tmp_path, capsys):
    """The full 224x224 wu13 (47 MB of weights) is a valid IR and model file; `bnnfpga fold --board zcu104`
    runs on it (its weights do not fit on chip: the optimizer says so)."""
    from bnnfpga import cli

    torch.manual_seed(0)
    net = export.to_ir(zoo.build("wu13"), (3, 224, 224), name="wu13")
    assert net.shapes()[-1][1] == (1000,) and sum(l.weights.size for l in net.compute_layers()) == 375196032
    path = tmp_path / "wu13.bnn"
    path.write_bytes(modelfile.dumps(net))
    rc = cli.main(["fold", "--board", "zcu104", str(path)])
    out = capsys.readouterr().out
    assert rc in (0, 1) and "conv0 window" in out and "pool0" in out and "fc1" in out, out


def test_rtl_strided_designs_lint_clean(tmp_path):
    """Verilator --lint-only -Wall reports nothing for designs with bnn_swg_stride and bnn_maxpool_win."""
    from test_rtl_backend import _lint

    for seed in (1, 32, 33):  # valid and same strides, pools 2/3, 3/2 and 2/1, 3 / 10 classes
        rng = np.random.default_rng(seed)
        net = rn.random_strided_network(rng)
        files = rtl_backend.generate(net, rn.random_folding(rng, net), top_k=min(5, net.num_classes))
        assert strided.uses(net) & {"swg", "maxpool"}
        rc, out = _lint(tmp_path / str(seed), files)
        assert rc == 0 and "%Warning" not in out, out


def test_onnx_export_of_strided_nets_runs_like_golden():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from bnnfpga.onnx_export import images_to_input, run_onnxruntime, to_onnx

    rng = np.random.default_rng(12)
    for i in range(6):
        net = rn.random_strided_network(rng, name=f"s{i}")
        imgs = rn.random_images(rng, net, 4)
        np.testing.assert_array_equal(run_onnxruntime(to_onnx(net), images_to_input(net, imgs)), GoldenModel(net).run(imgs))


# bnn_maxpool_win measured with yosys 0.23 synth_xilinx (C, W, K, S) -> (LUT, FF)
WINDOW_POOL_YOSYS = {(32, 32, 3, 2): (393, 125), (96, 27, 3, 2): (936, 313), (32, 32, 3, 1): (602, 157),
                     (32, 32, 2, 3): (129, 93), (8, 16, 3, 2): (136, 49), (64, 55, 3, 2): (716, 221),
                     (16, 13, 2, 2): (73, 51), (128, 112, 3, 2): (1741, 417)}


def test_window_pool_resource_estimate_near_yosys():
    from bnnfpga.resources import ResourceModel

    model = ResourceModel.load()
    for (c, w, k, s), (lut, ff) in WINDOW_POOL_YOSYS.items():
        est, _ = model.maxpool({"C": c, "H": w, "W": w, "K": k, "S": s})
        assert abs(est.lut / lut - 1) <= 0.25 and abs(est.ff / ff - 1) <= 0.15, ((c, w, k, s), est)


@pytest.mark.slow
def test_window_pool_live_yosys():
    from pathlib import Path

    from bnnfpga import resources as R

    if not R.yosys_available():
        pytest.skip("yosys not installed")
    src = {"bnn_maxpool_win.sv": (Path(rtl_backend.TEMPLATE_DIR) / "bnn_maxpool_win.sv").read_text()}
    for (c, w, k, s), (lut, ff) in list(WINDOW_POOL_YOSYS.items())[:3]:
        ref = R.cells_to_resources(R.synthesize(src, "bnn_maxpool_win", {"C": c, "H": w, "W": w, "K": k, "S": s}))
        assert (ref.lut, ref.ff) == (lut, ff)
