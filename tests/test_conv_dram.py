"""Off-chip (DRAM) weights for convolutions (docs/offchip-weights.md, "Convolutions"):
the DRAM unit's vectors are output pixels' windows, a batch is B consecutive output pixels
(spanning frame boundaries), a run of N frames reads the weights ceil(N * OH*OW / B) times.
Traffic and metadata, RTL and HLS generation, RTL co-simulation and C simulation against the
golden model, the emulated board's driver, the optimizer."""
import json

import numpy as np
import pytest

from bnnfpga import folding as fo
from bnnfpga import metadata as md
from bnnfpga import boards, offchip
from bnnfpga import random_net as rn
from bnnfpga.folding import LayerFold
from bnnfpga.golden import GoldenModel, label_select
from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network
from bnnfpga.modelfile import dumps
from bnnfpga.rtl import backend


def conv_net(seed=0):
    """6x6x1 raw input -> conv0 3x3 valid (fixed-point input, 4 ch, 4x4 out) -> conv1 3x3 same
    (binary, 8 ch, 4x4 out) -> 2x2 max-pool -> dense 32 -> 3 scores."""
    rng = np.random.default_rng(seed)
    layers = [Conv2D("conv0", 1, 4, 3, "valid", rng.integers(0, 2, (4, 9), dtype=np.uint8), input_kind="fixed"),
              Conv2D("conv1", 4, 8, 3, "same", rng.integers(0, 2, (8, 36), dtype=np.uint8)),
              MaxPool2D("pool1", 2, 2),
              Dense("fc_out", 32, 3, rng.integers(0, 2, (3, 32), dtype=np.uint8))]
    net = Network("conv-dram", InputSpec(6, 6, 1), layers, classes=["a", "b", "c"])
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = rn._thresholds(rng, net, layer)
    return net.validate()


# conv0 (fixed-point input, 3 kernel positions per window word) at batch 1; conv1 at batch 5,
# which does not divide its 16 output pixels: groups span frames, a run's last group is partial
BOTH = {"conv0": LayerFold(2, 3, weights="dram", batch=1), "conv1": LayerFold(2, 4, weights="dram", batch=5),
        "fc_out": LayerFold(1, 8)}
ONCHIP = {k: LayerFold(v.pe, v.simd) for k, v in BOTH.items()}


def _check(net, images, scores, labels=None):
    gold = GoldenModel(net).run(images)
    np.testing.assert_array_equal(scores, gold)
    if labels is not None:
        np.testing.assert_array_equal(labels, label_select(gold, 1))


# ---------------------------------------------------------------- traffic, passes, metadata


def test_conv_traffic_and_passes_count_output_pixels():
    net = conv_net()
    conv0, conv1, fc = net.compute_layers()
    assert offchip.vectors_per_frame(net, conv0) == offchip.vectors_per_frame(net, conv1) == 16
    assert offchip.vectors_per_frame(net, fc) == 1
    f1 = BOTH["conv1"]
    assert offchip.bytes_per_pass(conv1, f1) == 9 * 4 * 1  # SF=9 x NF=4 beats of 8 bits
    assert offchip.dram_bytes_per_frame(conv1, f1, net) == pytest.approx(36 * 16 / 5)
    assert offchip.dram_bytes_per_frame(conv0, BOTH["conv0"], net) == 6 * 16  # batch 1: once per pixel
    with pytest.raises(ValueError, match="conv1.*network"):
        offchip.dram_bytes_per_frame(conv1, f1)  # OH*OW needs the network
    assert offchip.network_dram_bytes_per_frame(net, BOTH) == pytest.approx(96 + 36 * 16 / 5)
    # passes per run: ceil(N * OH*OW / B); dense layers keep ceil(N / B)
    assert [offchip.passes(n, 5, 16) for n in (1, 5, 7, 10)] == [4, 16, 23, 32]
    assert [offchip.passes(n, 3) for n in (1, 3, 7)] == [1, 1, 3]
    assert "batch 5 pixels, 115 bytes/frame" in offchip.dram_weight_note(conv1, f1, net)
    # the cycles of the fold do not change (the unit keeps its pace when weights keep up)
    assert fo.pipeline_cycles(net, BOTH) == fo.pipeline_cycles(net, ONCHIP) == 576


def test_dense_traffic_unchanged():
    from test_offchip import HIDDEN_B2, dram_mlp

    net = dram_mlp()
    fc1 = net.layers[1]
    assert offchip.dram_bytes_per_frame(fc1, HIDDEN_B2["fc1"]) == offchip.dram_bytes_per_frame(fc1, HIDDEN_B2["fc1"], net) == 64.0
    meta = md.make(net, dumps(net), HIDDEN_B2, name="m", board=boards.get("pynq-z2"), clock_mhz=100.0)
    assert "vectors_per_frame" not in meta["dram_weights"]["fc1"]


def test_metadata_of_a_conv_dram_layer():
    net = conv_net()
    meta = md.validate(md.make(net, dumps(net), BOTH, name="m", board=boards.get("pynq-z2"), clock_mhz=100.0))
    assert meta["dram_weights"] == {
        "conv0": {"ip": "axi_dma_w0", "port": "s_axis_w_layer_conv0", "batch": 1, "bytes_per_pass": 6,
                  "beat_bits": 8, "vectors_per_frame": 16},
        "conv1": {"ip": "axi_dma_w1", "port": "s_axis_w_layer_conv1", "batch": 5, "bytes_per_pass": 36,
                  "beat_bits": 8, "vectors_per_frame": 16}}
    assert md.folding_of(meta) == BOTH
    bad = json.loads(json.dumps(meta))
    bad["dram_weights"]["conv1"]["vectors_per_frame"] = 0
    with pytest.raises(md.MetadataError, match="conv1"):
        md.validate(bad)


# ---------------------------------------------------------------- generated RTL and HLS


def test_rtl_conv_layer_streams_its_weights():
    net = conv_net()
    files = backend.generate(net, BOTH)
    assert "mem/layer_conv1_weights.mem" not in files and "mem/layer_conv0_weights.mem" not in files
    top = files["rtl/bnn_top.sv"]
    assert "s_axis_w_layer_conv0_TDATA" in top and "s_axis_w_layer_conv1_TREADY" in top
    layer = files["rtl/layer_conv1.sv"]
    assert "bnn_mvtu_dram" in layer and ".B(5), .CW(37)" in layer and "37'(run_frames) * 37'(16)" in layer
    assert "u_swg_conv1" in top  # the window generator feeds the DRAM unit as it feeds the on-chip one
    meta = json.loads(files["design.json"])
    assert meta["dram_weights"]["conv1"] == {"port": "s_axis_w_layer_conv1", "beat_bits": 8, "batch": 5,
                                             "words_per_pass": 36, "vectors_per_frame": 16}
    other = conv_net()  # new weights: the same design, a new DRAM image
    other.layers[1].weights = 1 - other.layers[1].weights
    assert backend.generate(other, BOTH) == files
    assert "s_axis_w_" not in backend.generate(net, ONCHIP)["rtl/bnn_top.sv"]
    with pytest.raises(backend.RTLError, match="conv1.*runtime_params"):
        backend.generate(net, {**ONCHIP, "conv1": BOTH["conv1"]}, runtime_params=True)


def test_hls_conv_layer_streams_its_weights():
    from bnnfpga.hls import backend as hb

    net = conv_net()
    files = hb.generate(net, BOTH)
    top = files["bnn_top.cpp"]
    assert "bnn_mvtu_dram<4, 1, 2, 9, 4," in top and "(unsigned long long)frames * 16)" in top
    assert "#pragma HLS INTERFACE axis port=w_conv1" in top
    assert "num_frames * 16 + 4) / 5" in files["tb_bnn_top.cpp"]
    assert "BNN_DRAM_VECTORS_conv1 = 16;" in files["bnn_top.h"]
    streams = hb.plan(net, BOTH).dram_streams
    assert [(s["layer"], s["vectors"], s["batch"]) for s in streams] == [("conv0", 16, 1), ("conv1", 16, 5)]
    assert "#ifndef __SYNTHESIS__" in files["params_conv1.h"]


# ---------------------------------------------------------------- simulations


@pytest.mark.cosim
def test_cosim_conv_layers_from_dram_bit_exact_at_the_folding_pace():
    from bnnfpga.rtl import cosim

    net = conv_net()
    images = rn.random_images(np.random.default_rng(1), net, 10)
    r = cosim.cosimulate(net, images, BOTH)
    _check(net, images, r.scores, r.labels)
    # conv0: one pass per output pixel; conv1: ceil(10 * 16 / 5) = 32 passes
    assert [(d["port"], d["passes"], d["bytes"]) for d in r.info["dram"]] == [
        ("s_axis_w_layer_conv0", 160, 160 * 6), ("s_axis_w_layer_conv1", 32, 32 * 36)]
    # frames 5 and 10 end on group boundaries (80 and 160 pixels): the steady pace is exact
    assert r.analytical_cycles == 576 and abs(r.cycles_per_frame / r.analytical_cycles - 1) <= 0.01, \
        (r.cycles_per_frame, r.analytical_cycles)


@pytest.mark.cosim
def test_cosim_conv_dram_partial_groups_stalls_and_reset():
    from bnnfpga.rtl import cosim

    net = conv_net()
    images = rn.random_images(np.random.default_rng(2), net, 7)
    # 7 frames = 112 pixels: conv1 groups of 5, the last of 2; a DRAM holding back 40% of its
    # beats, source gaps, sink back-pressure and a reset in mid-stream
    r = cosim.cosimulate(net, images, BOTH, dram_pause=0.4, source_pause=0.2, sink_pause=0.3, reset_test=True, seed=5)
    _check(net, images, r.scores, r.labels)
    # the reset test announces a run of 12 frames (192 pixels), then 7 frames (112 pixels) run
    assert [d["passes"] for d in r.info["dram"]] == [192 + 112, 39 + 23]


@pytest.mark.csim
def test_hls_csim_conv_layers_from_dram_bit_exact():
    from bnnfpga.hls import csim

    net = conv_net(seed=3)
    images = rn.random_images(np.random.default_rng(4), net, 7)
    _check(net, images, csim.simulate(net, images, BOTH))


@pytest.mark.cosim
def test_emulated_board_streams_conv_weights_per_pixel_group():
    from bnnfpga.overlay import Classifier

    net = conv_net()
    images = rn.random_images(np.random.default_rng(5), net, 3)
    clf = Classifier(net, runtime="sim", folding=BOTH)  # the design of the co-simulation tests (cached build)
    r = clf.classify_batch(images)
    _check(net, images, r.scores)
    drv, emu = clf._driver, clf._driver.ol.emulation
    assert drv.dram.left == {"conv0": 0, "conv1": 0} and emu.wleft == drv.dram.left
    assert [e["vectors_per_frame"] for e in drv.dram.entries.values()] == [16, 16]
    # the accelerator uses the DRAM buffer: inverted conv1 weights give the inverted network's scores
    buf = drv.dram.buffers["conv1"]
    buf[:] = ~np.asarray(buf)
    inv = conv_net()
    inv.layers[1].weights = 1 - inv.layers[1].weights
    r2 = clf.classify_batch(images[:2])
    _check(inv, images[:2], r2.scores)
    clf.close()


# ---------------------------------------------------------------- optimizer and resources


def test_resource_model_buffers_b_windows():
    from bnnfpga.resources import ResourceModel, stage_specs

    net = conv_net()
    model = ResourceModel.load()
    spec = [s for s in stage_specs(net, BOTH) if s.layer == "conv1" and s.kind == "conv"][0]
    assert spec.params["DRAM"] == 1 and spec.params["B"] == 5
    _, mems = model.stage(spec)
    depth = {m.what: m.depth for m in mems}
    assert depth["input batches"] == 2 * 5 * 9 and depth["output batches"] == 2 * 5 * 4
    assert "weights" not in depth


def test_optimizer_offers_conv_dram_and_counts_its_traffic():
    from bnnfpga import optimizer as O
    from bnnfpga.resources import ResourceModel

    net = conv_net()
    cands = O._layer_candidates(net, ResourceModel.load(), 1, offchip="auto")
    dram = [c for c in cands["conv1"] if c.fold.weights == "dram"]
    assert dram and {c.fold.batch for c in dram} == set(offchip.BATCHES)
    for c in dram:
        assert c.dram == pytest.approx(offchip.dram_bytes_per_frame(net.layers[1], c.fold, net))
    # evaluate budgets the conv traffic; the report shows it per layer
    from bnnfpga.report import text_table

    r = O.evaluate(net, BOTH, "pynq-z2")
    assert r.dram_bytes_per_frame == pytest.approx(96 + 36 * 16 / 5)
    text = text_table(net, r, ResourceModel.load())
    assert "dram B=5" in text and "DRAM: 211 weight bytes/frame" in text


def test_optimizer_picks_conv_dram_only_when_bandwidth_allows():
    """conv1 (4x4x256 -> 256, 1 Mbit of weights, 2x2 output pixels) crowds a budget of 10 BRAM36
    and 30k LUT: on chip its weights go to LUT ROM and LUTs bind.  Streamed, it costs
    131,072 bytes x 4 pixels / B per frame: the optimizer takes it off chip when that is faster
    and the DRAM budget holds it, and keeps it on chip when the budget does not."""
    from bnnfpga import optimizer as O

    rng = np.random.default_rng(0)
    layers = [Conv2D("conv0", 3, 256, 3, "same", rng.integers(0, 2, (256, 27), dtype=np.uint8), input_kind="fixed"),
              Conv2D("conv1", 256, 256, 4, "valid", rng.integers(0, 2, (256, 16 * 256), dtype=np.uint8)),
              Dense("fc_out", 2 * 2 * 256, 10, rng.integers(0, 2, (10, 1024), dtype=np.uint8))]
    net = Network("big-conv", InputSpec(5, 5, 3), layers, classes=[str(i) for i in range(10)])
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = rn._thresholds(rng, net, layer)
    net.validate()
    on = O.optimize(net, budget=O.Budget(lut=30000, bram36=10))
    assert on.feasible and all(f.weights == "onchip" for f in on.folding.values())
    off = O.optimize(net, budget=O.Budget(lut=30000, bram36=10, dram=16.0), offchip="auto")
    assert off.feasible and off.cycles < on.cycles, off.summary()
    f1 = off.folding["conv1"]
    assert f1.weights == "dram" and f1.batch > 4  # a batch of several frames' pixels
    assert off.dram_bytes_per_frame == pytest.approx(offchip.network_dram_bytes_per_frame(net, off.folding))
    assert off.dram_bytes_per_frame >= 131072 * 4 / 64
    assert off.dram_bytes_per_cycle <= 16.0 + 1e-9
    # 2 bytes/cycle: even batch 64 (8,192 bytes/frame) needs 4 bytes/cycle at the on-chip pace
    tight = O.optimize(net, budget=O.Budget(lut=30000, bram36=10, dram=2.0), offchip="auto")
    assert tight.feasible and all(f.weights == "onchip" for f in tight.folding.values())
    assert tight.cycles == on.cycles


# ---------------------------------------------------------------- bnnfpga build


@pytest.mark.skipif(__import__("shutil").which("tclsh") is None, reason="tclsh not installed")
def test_build_gives_a_conv_dram_layer_a_weight_dma(tmp_path):
    from bnnfpga import build

    net = conv_net()
    fold = {"conv0": LayerFold(2, 3), "conv1": LayerFold(2, 4, weights="dram", batch=5),
            "fc_out": LayerFold(1, 8)}
    out = tmp_path / "ov"
    files = build.generate(net, dumps(net), boards.get("pynq-z2"), fold, name="ov", clock_mhz=100.0)
    build.write_atomic(files, out)
    meta = md.load(out / "ov.json")
    assert meta["dram_weights"] == {"conv1": {"ip": "axi_dma_w0", "port": "s_axis_w_layer_conv1", "batch": 5,
                                              "bytes_per_pass": 36, "beat_bits": 8, "vectors_per_frame": 16}}
    dr = build.dry_run(out)
    assert dr.problems == []
    pairs = {(a.strip("/"), b.strip("/")) for a, b in dr.intf_nets}
    assert ("axi_dma_w0/M_AXIS_MM2S", "bnn_top_0/w_conv1") in pairs
    assert dr.props["axi_dma_w0"]["CONFIG.c_m_axis_mm2s_tdata_width"] == "8"
    assert "one pass per 5 output pixel(s), 16 per frame" in files["project/vivado/build_bd.tcl"]
    assert "| `axi_dma_w0` | `w_conv1` | 8 | 5 pixels | 36 |" in files["project/README.md"]


# ---------------------------------------------------------------- more shapes (slow)


def _dram_convs(rng, net, fold, p=0.7):
    """Each convolution off chip with probability p (at least one), batch 1..7."""
    convs = [l for l in net.compute_layers() if isinstance(l, Conv2D)]
    pick = [l for l in convs if rng.random() < p] or convs[:1]
    for layer in pick:
        f = fold[layer.name]
        fold[layer.name] = LayerFold(f.pe, f.simd, weights="dram", batch=int(rng.integers(1, 8)))
    return fold


def _both_backends(net, images, fold, dram_pause=0.0):
    from bnnfpga.hls import csim
    from bnnfpga.rtl import cosim

    r = cosim.cosimulate(net, images, fold, dram_pause=dram_pause)
    _check(net, images, r.scores, r.labels)
    for layer in offchip.dram_layers(net, fold):  # every pass of every run went out and was read
        d = [d for d in r.info["dram"] if d["port"] == f"s_axis_w_layer_{layer.name}"][0]
        assert d["passes"] == offchip.passes(len(images), fold[layer.name].batch, offchip.vectors_per_frame(net, layer))
    _check(net, images, csim.simulate(net, images, fold))
    return r


@pytest.mark.slow
@pytest.mark.cosim
@pytest.mark.csim
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_cnns_with_conv_layers_from_dram(seed):
    rng = np.random.default_rng(300 + seed)
    net = rn.random_network(rng, "cnn")
    fold = _dram_convs(rng, net, rn.random_folding(rng, net))
    _both_backends(net, rn.random_images(rng, net, int(rng.integers(3, 8))), fold,
                   dram_pause=float(rng.choice([0.0, 0.3])))


@pytest.mark.slow
@pytest.mark.cosim
@pytest.mark.csim
@pytest.mark.parametrize("seed", [0, 1])
def test_random_strided_convs_from_dram(seed):
    rng = np.random.default_rng(400 + seed)
    net = rn.random_strided_network(rng)
    fold = _dram_convs(rng, net, rn.random_folding(rng, net), p=1.0)
    _both_backends(net, rn.random_images(rng, net, 5), fold, dram_pause=0.2)


@pytest.mark.slow
@pytest.mark.cosim
@pytest.mark.csim
def test_window_width_converter_and_fixed_point_weights_from_dram():
    """conv1 at SIMD=6, which divides its 3x3x4 window but not its 4 channels (a width converter
    packs the window words), batch 3; conv0 with 4-bit two's complement weights, batch 7."""
    from bnnfpga.rtl import cosim

    net = conv_net(seed=7)
    rng = np.random.default_rng(7)
    net.layers[0].weights = rng.integers(-8, 8, (4, 9)).astype(np.int16)
    net.layers[0].weight_bits = 4
    net.layers[0].thresholds = rn._thresholds(rng, net, net.layers[0])
    net.layers[1].thresholds = rn._thresholds(rng, net, net.layers[1])
    net.validate()
    fold = {"conv0": LayerFold(4, 1, weights="dram", batch=7), "conv1": LayerFold(4, 6, weights="dram", batch=3),
            "fc_out": LayerFold(3, 4)}
    images = rn.random_images(rng, net, 6)
    r = _both_backends(net, images, fold, dram_pause=0.3)
    assert offchip.layer_beat_bits(net.layers[0], fold["conv0"]) == 16  # 4 lanes of 4 bits
    # a DRAM that keeps up: the pace of the fold
    r = cosim.cosimulate(net, rn.random_images(rng, net, 12), fold)
    assert abs(r.cycles_per_frame / r.analytical_cycles - 1) <= 0.05, (r.cycles_per_frame, r.analytical_cycles)
