"""Off-chip (DRAM) weights for dense layers with fixed-point weights (weight_bits > 1,
docs/offchip-weights.md): the DRAM image of WB-bit lanes and its round trip, the folding
check, the resource estimate and optimizer candidates, the generated HLS / RTL text, and
HLS C simulation and RTL co-simulation (emulated DRAM, stalls) bit-exact with the golden model."""
import json

import numpy as np
import pytest

from bnnfpga import fixed_weights as fw
from bnnfpga import folding as fo
from bnnfpga import offchip
from bnnfpga import random_net as rn
from bnnfpga.folding import FoldingError, LayerFold
from bnnfpga.golden import GoldenModel
from bnnfpga.ir import Conv2D, Dense, InputSpec, Network

from test_offchip import dram_mlp


def fixed_mlp(seed=0, bits=8, first=True):
    """dram_mlp (64-32-32-10) with `bits`-bit weights on its last dense layer (and on its first,
    fixed-point-input layer when ``first``): thresholds re-drawn by fixed_weights.random_fixed."""
    net = dram_mlp(seed)
    return fw.random_fixed(np.random.default_rng(seed + 100), net, first=first, last=True, bits=bits)


# the 8-bit last layer from DRAM, batch 1 (fc0 on chip with 8-bit weights)
LAST_B1 = {"fc0": LayerFold(4, 8), "fc1": LayerFold(4, 4), "fc_out": LayerFold(2, 8, weights="dram", batch=1)}
# both fixed-weight layers from DRAM, batch 2: fixed-point input x 8-bit weights -> thresholds (fc0),
# binary input x 8-bit weights -> scores (fc_out); PE*SIMD*8 = 40 bits: 5-byte beats
BOTH_B2 = {"fc0": LayerFold(2, 8, weights="dram", batch=2), "fc1": LayerFold(4, 4),
           "fc_out": LayerFold(5, 1, weights="dram", batch=2)}


# ---------------------------------------------------------------- image


@pytest.mark.parametrize("bits, pe, simd", [(8, 2, 8), (8, 5, 1), (3, 5, 4), (12, 1, 1), (2, 10, 32)])
def test_dram_image_of_fixed_weights_round_trips(bits, pe, simd):
    net = fixed_mlp(seed=bits + pe, bits=bits, first=False)
    layer = net.layers[-1]
    f = LayerFold(pe, simd, weights="dram", batch=2)
    img = offchip.dram_image(layer, f)
    bb = offchip.layer_beat_bits(layer, f)
    assert bb == -(-pe * simd * bits // 8) * 8 and bb % 8 == 0
    assert len(img) == offchip.words_per_pass(layer, f) * bb // 8 == offchip.bytes_per_pass(layer, f)
    assert offchip.dram_bytes_per_frame(layer, f) == len(img) / 2
    back = offchip.weights_from_image(img, layer, f)
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, layer.weights)
    # beat 0: channel 0's weights 0..SIMD-1 in lanes 0..SIMD-1, the same word as the RTL ROM row
    first = int.from_bytes(img[: bb // 8], "little")
    w = np.asarray(layer.weights)
    row = w.reshape(layer.out_channels // pe, pe, layer.fan_in // simd, simd).transpose(0, 2, 1, 3)[0, 0].reshape(-1)
    assert first == fw.rtl_weight_row(row, bits)
    assert offchip.dram_meta(net, {"fc0": LayerFold(1, 1), "fc1": LayerFold(1, 1), "fc_out": f})["fc_out"][
        "beat_bits"] == bb


def test_binary_image_unchanged():
    net = dram_mlp()
    layer = net.layers[1]
    f = LayerFold(4, 4, weights="dram", batch=2)
    assert offchip.layer_beat_bits(layer, f) == offchip.beat_bits(4, 4) == 16
    np.testing.assert_array_equal(offchip.weights_from_image(offchip.dram_image(layer, f), layer, f), layer.weights)


# ---------------------------------------------------------------- folding, resources, optimizer


def test_folding_accepts_dram_for_fixed_weights_and_convolutions(tmp_path):
    net = fixed_mlp()
    p = tmp_path / "f.json"
    p.write_text(fo.to_json(BOTH_B2))
    assert fo.load(p, net) == BOTH_B2  # was refused: "weights='dram' is for binary weights"
    from bnnfpga.rtl import backend

    rng = np.random.default_rng(0)
    conv = Network("c", InputSpec(4, 4, 1), [
        Conv2D("conv0", 1, 4, 3, "valid", rng.integers(-8, 8, (4, 9)).astype(np.int16), input_kind="fixed",
               weight_bits=4),
        Dense("fc_out", 16, 2, rng.integers(0, 2, (2, 16), dtype=np.uint8))], classes=["a", "b"])
    conv.layers[0].thresholds = rn._thresholds(rng, conv, conv.layers[0])
    # convolutions stream their weights too (tests/test_conv_dram.py): here 4-bit lanes
    files = backend.generate(conv.validate(), {"conv0": LayerFold(1, 1, weights="dram", batch=2), "fc_out": LayerFold(1, 1)})
    assert "bnn_mvtu_dram" in files["rtl/layer_conv0.sv"] and ".WB(4)" in files["rtl/layer_conv0.sv"]


def test_resource_estimate_and_optimizer_candidates():
    from bnnfpga.optimizer import _layer_candidates
    from bnnfpga.resources import ResourceModel, stage_specs

    net = fixed_mlp()
    model = ResourceModel.load()
    spec = [s for s in stage_specs(net, BOTH_B2) if s.layer == "fc_out" and s.kind == "dense"][0]
    r, mems = model.stage(spec)
    assert spec.params["WB"] == 8 and spec.params["DRAM"] == 1
    assert not any(m.what == "weights" for m in mems)  # no weight memory on chip
    onchip, _ = model.stage([s for s in stage_specs(net, {**BOTH_B2, "fc_out": LayerFold(5, 1)})
                             if s.layer == "fc_out" and s.kind == "dense"][0])
    assert r.lut > offchip.DMA_LUT and r.dsp == onchip.dsp == 0  # binary input: add/subtract lanes, no DSP
    cands = _layer_candidates(net, model, 1, offchip="auto")
    dram = [c for c in cands["fc_out"] if c.fold.weights == "dram"]
    assert dram and all(c.dram == offchip.dram_bytes_per_frame(net.layers[-1], c.fold) for c in dram)
    assert any(c.fold.weights == "dram" for c in cands["fc0"])


# ---------------------------------------------------------------- generated text


def test_generated_hls_and_rtl_text():
    from bnnfpga.hls import backend as hb
    from bnnfpga.rtl import backend

    net = fixed_mlp()
    files = hb.generate(net, BOTH_B2)
    top = files["bnn_top.cpp"]
    assert "hls::stream<ap_uint<128> >& w_fc0" in top and "hls::stream<ap_uint<40> >& w_fc_out" in top
    assert "bnn_mvu_scores_dram<1, 1, 5, 32, 2, 32, 2, 40, 8>(" in top
    assert ", 2, 128, 8>(" in top  # bnn_mvtu_dram<..., B=2, beat 128 bits, 8-bit weights>
    assert "#ifndef __SYNTHESIS__" in files["params_fc_out.h"]
    assert "bnn_dram_pass<5, 1, 64, 40, 8>" in files["tb_bnn_top.cpp"]
    rfiles = backend.generate(net, BOTH_B2)
    text = rfiles["rtl/layer_fc_out.sv"]
    assert "bnn_mvtu_dram #(" in text and ".WB(8)" in text and "input  logic [39:0]  w_data" in text
    assert "8-bit two's complement weights" in text
    meta = json.loads(rfiles["design.json"])["dram_weights"]
    assert meta["fc_out"]["beat_bits"] == 40 and meta["fc0"]["beat_bits"] == 128
    assert not any(k.startswith("mem/layer_fc_out") for k in rfiles)  # no weight memory file


# ---------------------------------------------------------------- C simulation and RTL co-simulation


@pytest.mark.csim
@pytest.mark.parametrize("fold", [LAST_B1, BOTH_B2], ids=["last-b1", "both-b2"])
def test_hls_csim_fixed_weights_from_dram_bit_exact(fold):
    from bnnfpga.hls import csim

    net = fixed_mlp(seed=1)
    images = rn.random_images(np.random.default_rng(2), net, 5)  # batch 2: 2+2+1
    np.testing.assert_array_equal(csim.simulate(net, images, fold), GoldenModel(net).run(images))


def _cosim(net, images, fold, **kw):
    from bnnfpga.golden import label_select
    from bnnfpga.rtl import cosim

    r = cosim.cosimulate(net, images, fold, **kw)
    gold = GoldenModel(net).run(images)
    np.testing.assert_array_equal(r.scores, gold)
    np.testing.assert_array_equal(r.labels, label_select(gold, 1))
    return r


@pytest.mark.slow  # ~65 s with its Verilator build
@pytest.mark.cosim
def test_cosim_fixed_weights_from_dram_batch2_stalls_bit_exact():
    net = fixed_mlp(seed=1)
    images = rn.random_images(np.random.default_rng(3), net, 5)  # batches 2+2+1
    r = _cosim(net, images, BOTH_B2, dram_pause=0.4, source_pause=0.2, sink_pause=0.2, seed=5)
    assert [(d["port"], d["passes"], d["bytes"]) for d in r.info["dram"]] == [
        ("s_axis_w_layer_fc0", 3, 3 * 128 * 16), ("s_axis_w_layer_fc_out", 3, 3 * 64 * 5)]


@pytest.mark.cosim
def test_cosim_fixed_last_layer_from_dram_batch1_at_the_folding_pace():
    net = fixed_mlp(seed=1)
    images = rn.random_images(np.random.default_rng(4), net, 6)
    r = _cosim(net, images, LAST_B1, dram_pause=0.3)
    assert [(d["batch"], d["passes"]) for d in r.info["dram"]] == [(1, 6)]
    r = _cosim(net, images, LAST_B1)
    assert abs(r.cycles_per_frame / r.analytical_cycles - 1) <= 0.05, (r.cycles_per_frame, r.analytical_cycles)


@pytest.mark.cosim
def test_sim_runtime_fills_the_buffer_with_the_fixed_weight_image():
    """The overlay driver fills the DRAM buffer with the WB-bit image; the emulated board streams it."""
    from bnnfpga.overlay import Classifier

    net = fixed_mlp(seed=1)
    images = rn.random_images(np.random.default_rng(7), net, 3)
    clf = Classifier(net, runtime="sim", folding=LAST_B1)  # the design of the batch-1 cosim (its build is reused)
    r = clf.classify_batch(images)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))
    buf = clf._driver.dram.buffers["fc_out"]
    image = offchip.dram_image(net.layers[-1], LAST_B1["fc_out"])
    assert len(image) == 320 and bytes(np.asarray(buf)) == 3 * image  # one copy per pass of the 3-frame run
    # the accelerator computes with what the driver put in DRAM: other 8-bit weights in the buffer
    other = fixed_mlp(seed=1)
    other.layers[-1].weights = np.clip(-other.layers[-1].weights.astype(np.int32), -128, 127).astype(np.int16)
    buf[:] = np.tile(np.frombuffer(offchip.dram_image(other.layers[-1], LAST_B1["fc_out"]), np.uint8), 3)
    np.testing.assert_array_equal(clf.classify_batch(images).scores, GoldenModel(other).run(images))
    clf.close()
