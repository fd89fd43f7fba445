"""Off-chip (DRAM) weights (docs/offchip-weights.md): the folding field, the DRAM weight
image, the RTL unit without weight ROM and its co-simulation against an emulated DRAM
(bit-exact with the golden model, partial batches, slow DRAM, reset)."""
import json

import numpy as np
import pytest

from bnnfpga import folding as fo
from bnnfpga import offchip
from bnnfpga import random_net as rn
from bnnfpga.folding import FoldingError, LayerFold
from bnnfpga.golden import GoldenModel, label_select
from bnnfpga.ir import Conv2D, Dense, InputSpec, Network
from bnnfpga.rtl import backend


def dram_mlp(seed=0, sizes=(32, 32, 10), hw=8):
    """64-32-32-10 MLP (8x8 raw input), thresholds drawn inside the accumulator ranges."""
    rng = np.random.default_rng(seed)
    spec = InputSpec(hw, hw, 1)
    layers, n = [], hw * hw
    for i, m in enumerate(sizes):
        name = "fc_out" if i == len(sizes) - 1 else f"fc{i}"
        layers.append(Dense(name, n, m, rng.integers(0, 2, (m, n), dtype=np.uint8),
                            input_kind="fixed" if i == 0 else "binary"))
        n = m
    net = Network("mlp-dram", spec, layers, classes=[str(i) for i in range(sizes[-1])])
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = rn._thresholds(rng, net, layer)
    return net.validate()


HIDDEN_B2 = {"fc0": LayerFold(4, 8), "fc1": LayerFold(4, 4, weights="dram", batch=2), "fc_out": LayerFold(2, 4)}
# first (fixed-point input) and last (scores) layers off chip, batch 3; hidden layer on chip
ENDS_B3 = {"fc0": LayerFold(2, 16, weights="dram", batch=3), "fc1": LayerFold(4, 4), "fc_out": LayerFold(5, 8, weights="dram", batch=3)}


# ---------------------------------------------------------------- folding field


def test_folding_json_old_files_unchanged_and_offchip_roundtrip(tmp_path):
    net = dram_mlp()
    old = {"fc0": LayerFold(4, 8), "fc1": LayerFold(4, 4), "fc_out": LayerFold(2, 4)}
    text = fo.to_json(old)
    assert "weights" not in text and "batch" not in text  # on-chip foldings write what they always wrote
    p = tmp_path / "old.json"
    p.write_text(json.dumps({k: {"pe": v.pe, "simd": v.simd} for k, v in old.items()}))
    assert fo.load(p, net) == old
    assert fo.load(p, net)["fc1"].weights == "onchip" and fo.load(p, net)["fc1"].batch == 1
    q = tmp_path / "dram.json"
    q.write_text(fo.to_json(HIDDEN_B2))
    assert json.loads(q.read_text())["fc1"] == {"pe": 4, "simd": 4, "weights": "dram", "batch": 2}
    assert fo.load(q, net) == HIDDEN_B2
    assert fo.pipeline_cycles(net, HIDDEN_B2) == fo.pipeline_cycles(net, old)  # cycles per frame unchanged


@pytest.mark.parametrize("entry, msg", [
    ({"pe": 4, "simd": 4, "weights": "hbm"}, "weights must be 'onchip' or 'dram'"),
    ({"pe": 4, "simd": 4, "weights": "dram", "batch": 0}, "batch must be a positive integer"),
    ({"pe": 4, "simd": 4, "batch": 4}, "needs weights='dram'"),
    ({"pe": 4, "simd": 4, "weight": "dram"}, "expected"),
])
def test_folding_offchip_errors_name_the_layer(tmp_path, entry, msg):
    net = dram_mlp()
    data = {k: fo.fold_dict(v) for k, v in HIDDEN_B2.items()}
    data["fc1"] = entry
    p = tmp_path / "f.json"
    p.write_text(json.dumps(data))
    with pytest.raises(FoldingError, match=msg) as e:
        fo.load(p, net)
    assert "fc1" in str(e.value)


# ---------------------------------------------------------------- DRAM image


@pytest.mark.parametrize("pe, simd, batch", [(4, 4, 2), (1, 1, 1), (2, 8, 3), (32, 32, 5), (3, 2, 1)])
def test_dram_image_layout_and_traffic(pe, simd, batch):
    rng = np.random.default_rng(pe * 7 + simd)
    out, fan_in = 96, 64
    layer = Dense("d", fan_in, out, rng.integers(0, 2, (out, fan_in), dtype=np.uint8))
    f = LayerFold(pe, simd, weights="dram", batch=batch)
    img = offchip.dram_image(layer, f)
    beat = offchip.beat_bits(pe, simd)
    assert beat % 8 == 0 and pe * simd <= beat < pe * simd + 8
    nf, sf = out // pe, fan_in // simd
    assert len(img) == nf * sf * beat // 8 == offchip.bytes_per_pass(layer, f)
    assert offchip.dram_bytes_per_frame(layer, f) == len(img) / batch
    np.testing.assert_array_equal(offchip.weights_from_image(img, layer, f), layer.weights)
    # beat nf*SF + sf holds, for PE p, bits [sf*SIMD, +SIMD) of channel nf*PE + p at [p*SIMD +: SIMD]
    words = np.frombuffer(img, np.uint8).reshape(nf * sf, beat // 8)
    n, s, p = nf - 1, sf // 2, pe - 1
    bits = np.unpackbits(words[n * sf + s], bitorder="little")
    np.testing.assert_array_equal(bits[p * simd:(p + 1) * simd], layer.weights[n * pe + p, s * simd:(s + 1) * simd])
    assert not bits[pe * simd:].any()  # padding is zero
    assert [offchip.passes(k, batch) for k in (1, batch, batch + 1)] == [1, 1, 2]


# ---------------------------------------------------------------- RTL generation


def test_rtl_dram_layer_has_no_weight_rom_and_a_weight_port():
    net = dram_mlp()
    files = backend.generate(net, HIDDEN_B2)
    assert "mem/layer_fc1_weights.mem" not in files and "mem/layer_fc0_weights.mem" in files
    assert "rtl/bnn_mvtu_dram.sv" in backend.sources(files)
    top = files["rtl/bnn_top.sv"]
    assert "input  logic [15:0] s_axis_w_layer_fc1_TDATA" in top and "s_axis_w_layer_fc1_TREADY" in top
    assert "bnn_mvtu_dram" in files["rtl/layer_fc1.sv"] and ".B(2)" in files["rtl/layer_fc1.sv"]
    meta = json.loads(files["design.json"])
    assert meta["dram_weights"] == {"fc1": {"port": "s_axis_w_layer_fc1", "beat_bits": 16, "batch": 2,
                                            "words_per_pass": 64}}
    assert meta["folding"]["fc1"] == {"pe": 4, "simd": 4, "weights": "dram", "batch": 2}
    # the design does not depend on the off-chip weights: new weights = same bitstream, new DRAM image
    other = dram_mlp()
    other.layers[1].weights = 1 - other.layers[1].weights
    assert backend.generate(other, HIDDEN_B2) == files
    # a design without off-chip layers is the same as before (no DRAM module, no ports)
    plain = backend.generate(net, {k: LayerFold(v.pe, v.simd) for k, v in HIDDEN_B2.items()})
    assert "rtl/bnn_mvtu_dram.sv" not in plain and "s_axis_w_" not in plain["rtl/bnn_top.sv"]
    assert "dram_weights" not in json.loads(plain["design.json"])


def test_rtl_refuses_what_it_does_not_support():
    net = dram_mlp()
    with pytest.raises(backend.RTLError, match="fc1.*runtime_params"):
        backend.generate(net, HIDDEN_B2, runtime_params=True)
    rng = np.random.default_rng(0)
    conv = Network("c", InputSpec(6, 6, 1), [
        Conv2D("conv0", 1, 4, 3, "valid", rng.integers(0, 2, (4, 9), dtype=np.uint8), input_kind="fixed"),
        Dense("fc_out", 64, 3, rng.integers(0, 2, (3, 64), dtype=np.uint8))])
    conv.layers[0].thresholds = rn._thresholds(rng, conv, conv.layers[0])
    # convolutions stream their weights too (a batch = output pixels: tests/test_conv_dram.py)
    files = backend.generate(conv.validate(), {"conv0": LayerFold(1, 1, weights="dram", batch=2), "fc_out": LayerFold(1, 1)})
    assert "bnn_mvtu_dram" in files["rtl/layer_conv0.sv"]


# ---------------------------------------------------------------- co-simulation with emulated DRAM


def _check(net, images, r, top_k=1):
    gold = GoldenModel(net).run(images)
    np.testing.assert_array_equal(r.scores, gold)
    np.testing.assert_array_equal(r.labels, label_select(gold, top_k))


# every layer off chip, two batch sizes: fixed-point input (fc0), binary (fc1), scores (fc_out)
ALL_DRAM = {"fc0": LayerFold(2, 16, weights="dram", batch=3), "fc1": LayerFold(4, 4, weights="dram", batch=2), "fc_out": LayerFold(5, 8, weights="dram", batch=3)}


@pytest.mark.cosim
def test_cosim_offchip_layers_bit_exact_and_at_the_folding_pace():
    from bnnfpga.rtl import cosim

    net = dram_mlp()
    rng = np.random.default_rng(1)
    images = rn.random_images(rng, net, 12)
    r = cosim.cosimulate(net, images, ALL_DRAM)  # full batches only: 4 of 3 frames, 6 of 2
    _check(net, images, r)
    assert [(d["port"], d["passes"], d["bytes"]) for d in r.info["dram"]] == [
        ("s_axis_w_layer_fc0", 4, 4 * 256), ("s_axis_w_layer_fc1", 6, 6 * 128), ("s_axis_w_layer_fc_out", 4, 4 * 40)]
    # the off-chip layers keep the folding's pace (batches of frames leave together)
    assert abs(r.cycles_per_frame / r.analytical_cycles - 1) <= 0.02, (r.cycles_per_frame, r.analytical_cycles)


@pytest.mark.cosim
def test_cosim_all_layers_from_dram_partial_batches_slow_dram_stalls_and_reset():
    from bnnfpga.rtl import cosim

    net = dram_mlp()
    rng = np.random.default_rng(2)
    images = rn.random_images(rng, net, 12)
    r = cosim.cosimulate(net, images[:7], ALL_DRAM)  # batches of 3: 3+3+1; of 2: 2+2+2+1
    _check(net, images[:7], r)
    assert [(d["batch"], d["passes"]) for d in r.info["dram"]] == [(3, 3), (2, 4), (3, 3)]
    r = cosim.cosimulate(net, images[:8], ALL_DRAM, dram_pause=0.5, source_pause=0.2, sink_pause=0.3,
                         reset_test=True, seed=3)
    _check(net, images[:8], r)
    assert r.info["dram"][0]["passes"] == 5 + 3  # the reset test's run (13 frames announced) + 8 frames


@pytest.mark.cosim
def test_sim_command_with_an_offchip_folding(tmp_path, capsys):
    from bnnfpga import cli, modelfile

    net = dram_mlp()
    m, f = tmp_path / "m.bnn", tmp_path / "f.json"
    modelfile.save(net, m)
    f.write_text(fo.to_json(ALL_DRAM))
    assert cli.main(["sim", str(m), "--backend", "rtl", "--folding", str(f), "--images", "5"]) == 0
    assert "matches the golden model" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.cosim
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cosim_random_mlps_random_offchip_layers(seed):
    """Random MLPs and foldings; each dense layer on or off chip at random with a random batch."""
    from bnnfpga.rtl import cosim

    rng = np.random.default_rng(100 + seed)
    net = rn.random_network(rng, "mlp")
    fold = rn.random_folding(rng, net)
    for layer in net.compute_layers():
        if rng.random() < 0.6:
            f = fold[layer.name]
            fold[layer.name] = LayerFold(f.pe, f.simd, weights="dram", batch=int(rng.integers(1, 5)))
    images = rn.random_images(rng, net, int(rng.integers(5, 12)))
    r = cosim.cosimulate(net, images, fold, dram_pause=float(rng.choice([0.0, 0.3])))
    _check(net, images, r)
