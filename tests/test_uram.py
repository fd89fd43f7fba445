"""Weights in UltraRAM (bnnfpga.uram): folding field, resource model, optimizer, RTL
(loaded at run time through the parameter port), HLS C-sim and the overlay driver."""
import json

import numpy as np
import pytest

from bnnfpga import boards
from bnnfpga import folding as fo
from bnnfpga import metadata as md
from bnnfpga import uram
from bnnfpga.folding import FoldingError, LayerFold
from bnnfpga.golden import GoldenModel
from bnnfpga.modelfile import dumps
from bnnfpga.optimizer import Budget, evaluate, optimize
from bnnfpga.resources import ResourceModel

from uram_models import URAM_FOLD, small_cnn
from bnnfpga import random_net as rn


def _images(net, n, seed=1):
    return rn.random_images(np.random.default_rng(seed), net, n)


# ---------------------------------------------------------------- folding JSON


def test_folding_json_roundtrip_and_old_files_unchanged(tmp_path):
    net = small_cnn()
    plain = {k: LayerFold(v.pe, v.simd) for k, v in URAM_FOLD.items()}
    text = fo.to_json(plain)
    assert "weights" not in text  # a folding without URAM writes what it always wrote
    assert json.loads(text) == {"conv0": {"pe": 2, "simd": 9}, "conv1": {"pe": 2, "simd": 12}, "fc": {"pe": 2, "simd": 16}}
    p = tmp_path / "f.json"
    p.write_text(fo.to_json(URAM_FOLD))
    assert json.loads(p.read_text())["conv1"] == {"pe": 2, "simd": 12, "weights": "uram"}
    assert fo.load(p, net) == URAM_FOLD
    # a file naming batch 1 explicitly loads to the same folding
    p.write_text(json.dumps({**json.loads(fo.to_json(plain)), "conv1": {"pe": 2, "simd": 12, "weights": "uram", "batch": 1}}))
    assert fo.load(p, net) == URAM_FOLD
    assert fo.pipeline_cycles(net, URAM_FOLD) == fo.pipeline_cycles(net, plain)
    assert "weights in URAM" in [s for s in fo.stage_cycles(net, URAM_FOLD) if s.name == "conv1"][0].detail


@pytest.mark.parametrize("entry, msg", [
    ({"pe": 2, "simd": 12, "weights": "uram", "batch": 2}, "batch=2 needs weights='dram'"),
    ({"pe": 2, "simd": 12, "weights": "uram", "lut_pe": 1}, "'conv1': weights='uram' cannot be combined with lut_pe"),
    ({"pe": 2, "simd": 12, "weights": "ultra"}, "'conv1': weights must be"),
])
def test_bad_uram_foldings_name_the_layer(tmp_path, entry, msg):
    net = small_cnn()
    p = tmp_path / "f.json"
    p.write_text(json.dumps({**json.loads(fo.to_json(URAM_FOLD)), "conv1": entry}))
    with pytest.raises(FoldingError, match=msg):
        fo.load(p, net)


# ---------------------------------------------------------------- resources


def test_uram_blocks_mapping():
    assert uram.uram_blocks(4096, 72) == 1
    assert uram.uram_blocks(4097, 72) == 2  # cascaded in depth
    assert uram.uram_blocks(4096, 73) == 2  # side by side in width
    assert uram.uram_blocks(12, 24) == 1  # a narrow shallow memory still takes a whole block
    assert uram.uram_blocks(32768, 144) == 16


def test_resource_model_moves_weights_from_bram_to_uram():
    net = small_cnn()
    model = ResourceModel.load()
    big = {"conv0": LayerFold(1, 9), "conv1": LayerFold(1, 4), "fc": LayerFold(1, 1)}  # 72-word x 4-bit conv1 ROM
    on = model.per_layer(net, big)
    ur = model.per_layer(net, {**big, "conv1": LayerFold(1, 4, weights="uram")})
    assert on["conv1"].uram == 0 and ur["conv1"].uram == 1
    assert ur["conv1"].bram36 <= on["conv1"].bram36
    assert model.total(net, big).uram == 0 and "uram" not in model.total(net, big).as_dict()
    # fc0 of wu13-like size: 4096 x 4608 bits at PE*SIMD = 72 -> 262,144 words: 64 cascaded URAMs
    p = {"PE": 4, "SIMD": 18, "SF": 256, "NF": 1024, "EW": 1, "FIXED": 0, "SCORES": 0, "AW": 14, "FANIN": 4608}
    r, mems = model.mvtu({**p, "URAM": 1})
    rb, _ = model.mvtu(p)
    assert r.uram == 64 and mems[0].kind == "uram" and mems[0].bram36 == 0
    assert rb.bram36 - r.bram36 == 512  # 18.9 Mbit of weights left block RAM (512 RAMB36 at 512 x 72)


# ---------------------------------------------------------------- optimizer


def _uram_hungry():
    """Dense 2048 -> 512 -> 512 -> 10 (binary): 1.3 Mbit of weights, BRAM binds on a small budget."""
    from bnnfpga.ir import Dense, InputSpec, Network

    rng = np.random.default_rng(3)
    layers = [Dense("fc0", 2048, 512, rng.integers(0, 2, (512, 2048), dtype=np.uint8)),
              Dense("fc1", 512, 512, rng.integers(0, 2, (512, 512), dtype=np.uint8)),
              Dense("fc2", 512, 10, rng.integers(0, 2, (10, 512), dtype=np.uint8))]
    net = Network("uram-mlp", InputSpec(32, 64, 1, binarize_threshold=128), layers, classes=[str(i) for i in range(10)])
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = rn._thresholds(rng, net, layer)
    return net.validate()


def test_optimizer_uses_uram_on_zcu104_when_bram_binds_and_never_on_pynq_z2():
    net = _uram_hungry()
    zcu = boards.get("zcu104")
    tight = Budget.for_board(zcu)
    tight.bram36, tight.lut = 8.0, 10000.0  # a small part of the device: block RAM binds
    never = optimize(net, zcu, budget=tight, uram="never", lut_rom=False)
    auto = optimize(net, zcu, budget=tight, lut_rom=False)  # default: auto
    assert never.binding == "BRAM36" and not never.feasible
    assert auto.feasible and auto.cycles < never.cycles
    placed = {k: v.weights for k, v in auto.folding.items()}
    assert "uram" in placed.values() and auto.resources.uram > 0
    assert auto.resources.uram <= tight.uram and auto.resources.bram36 <= tight.bram36
    assert "URAM" in auto.summary() and "weights in URAM" in uram.uram_weight_note(net.layers[0], LayerFold(4, 18, weights="uram"))
    # plenty of block RAM: auto keeps every weight on chip in block RAM
    loose = optimize(net, zcu, lut_rom=False)
    assert all(v.weights == "onchip" for v in loose.folding.values())
    # PYNQ-Z2 (xc7z020) has no URAM: auto never uses it, and always is an error
    small = Budget.for_board(boards.get("pynq-z2"))
    small.bram36, small.lut = 8.0, 10000.0
    r = optimize(net, "pynq-z2", budget=small, lut_rom=False)
    assert all(v.weights != "uram" for v in r.folding.values())
    with pytest.raises(FoldingError, match="no UltraRAM"):
        optimize(net, "pynq-z2", uram="always")
    # a URAM folding evaluated on a board without URAM does not fit, and says why
    e = evaluate(net, auto.folding, "pynq-z2")
    assert not e.feasible and "URAM" in e.message


def test_optimizer_always_puts_every_layer_in_uram():
    net = _uram_hungry()
    r = optimize(net, "zcu104", uram="always", lut_rom=False)
    assert {v.weights for v in r.folding.values()} == {"uram"}
    assert all(v.simd <= 64 for v in r.folding.values())  # loadable through the 64-bit parameter value


def test_fold_cli_reports_uram(tmp_path, capsys):
    from bnnfpga.cli import main
    from bnnfpga.modelfile import save

    net = _uram_hungry()
    save(net, tmp_path / "m.bnn")
    main(["fold", str(tmp_path / "m.bnn"), "--board", "zcu104", "--uram", "always", "--no-lut-rom",
          "-o", str(tmp_path / "f.json")])
    out = capsys.readouterr().out
    assert "weights in URAM" in out and "URAM" in out.splitlines()[-2]
    assert all(v.weights == "uram" for v in fo.load(tmp_path / "f.json", net).values())
    main(["report", str(tmp_path / "m.bnn"), "--board", "zcu104", "--folding", str(tmp_path / "f.json"),
          "-o", str(tmp_path / "rep")])
    text = (tmp_path / "rep" / "report.txt").read_text()
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "URAM" in text and "<th>URAM</th>" in html


# ---------------------------------------------------------------- RTL


def test_rtl_uram_layer_has_no_initialised_weights():
    from bnnfpga.rtl import backend

    net = small_cnn()
    files = backend.generate(net, URAM_FOLD)
    sv = files["rtl/layer_conv1.sv"]
    assert '(* ram_style = "ultra" *) logic [23:0] weights [12];' in sv and "$readmemh" not in sv
    assert "mem/layer_conv1_weights.mem" not in files and "mem/layer_conv0_weights.mem" in files
    assert "RUNTIME(1)" in files["rtl/bnn_top.sv"]
    assert json.loads(files["design.json"])["uram_weights"] == {
        "conv1": {"target_layer": 1, "words": 12, "word_bits": 24, "pe": 2, "uram_blocks": 1}}
    # the design does not depend on the URAM layer's weights
    other = small_cnn()
    other.layers[1].weights = 1 - other.layers[1].weights
    assert backend.generate(other, URAM_FOLD) == files
    with pytest.raises(backend.RTLError, match="'fc'.*SIMD x weight bits must be <= 64"):
        backend.generate(net, {**URAM_FOLD, "fc": LayerFold(2, 128, weights="uram")})


def test_load_rows_are_in_index_order():
    net = small_cnn()
    rows = uram.load_rows(net, URAM_FOLD)
    assert rows.shape == (24, 5) and set(rows[:, 0]) == {1} and set(rows[:, 1]) == {0}
    assert rows[:, 2].tolist() == list(range(24))


@pytest.mark.cosim
def test_rtl_cosim_loads_the_uram_layer_at_run_time():
    from bnnfpga.rtl import cosim

    net = small_cnn()
    images = _images(net, 6)
    r = cosim.cosimulate(net, images, URAM_FOLD)  # checks every word against the golden model
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))
    assert r.cycles_per_frame == pytest.approx(r.analytical_cycles, rel=0.05)
    # without the load the URAM is empty and the scores differ
    skip = cosim.cosimulate(net, images, URAM_FOLD, check=False, uram_load=False)
    assert not np.array_equal(skip.scores, GoldenModel(net).run(images))
    # the weights come from the load, not from the design: loading another network's weights
    other = small_cnn()
    other.layers[1].weights = 1 - other.layers[1].weights
    np.testing.assert_array_equal(
        cosim.cosimulate(net, images[:3], URAM_FOLD, check=False, uram_rows=uram.load_rows(other, URAM_FOLD)).scores,
        GoldenModel(other).run(images[:3]))


# ---------------------------------------------------------------- HLS


def test_hls_uram_pragma_and_csim_bit_exact(tmp_path):
    from bnnfpga.hls import backend, csim

    net = small_cnn()
    files = backend.generate(net, URAM_FOLD)
    top = files["bnn_top.cpp"]
    assert "#pragma HLS BIND_STORAGE variable=conv1_w type=ram_2p impl=uram" in top
    assert "#pragma HLS RESOURCE variable=conv1_w core=XPM_MEMORY uram" in top
    assert "static bnn_rom<12>::word conv1_w[2][12];" in files["params_conv1.h"]  # no initial values
    assert "tv/init_words.bin" in files["run_hls.tcl"] and "tv/init_words.bin" in files
    assert np.array_equal(np.frombuffer(files["tv/init_words.bin"], "<u4").reshape(-1, 5), uram.load_rows(net, URAM_FOLD))
    images = _images(net, 6)
    np.testing.assert_array_equal(csim.simulate(net, images, URAM_FOLD), GoldenModel(net).run(images))
    # without the do_init writes the URAM arrays stay zero and the scores differ
    proj = tmp_path / "p"
    backend.compile_project(net, URAM_FOLD, proj)
    exe, _ = csim.build(proj, tmp_path / "tb")
    res = csim.run_bench(exe, net, images, workdir=tmp_path / "run")
    assert not res.matches


def test_hls_fixed_weight_layer_in_uram_csim(tmp_path):
    from bnnfpga.hls import csim

    net = small_cnn(fixed_last=True)
    f = {**URAM_FOLD, "fc": LayerFold(2, 8, weights="uram")}  # 8-bit weights: SIMD x 8 = 64 bits per lane
    images = _images(net, 4)
    np.testing.assert_array_equal(csim.simulate(net, images, f), GoldenModel(net).run(images))


# ---------------------------------------------------------------- overlay driver


def test_metadata_records_uram_layers_and_build_refuses_boards_without_uram():
    from bnnfpga.build import BuildError, generate

    net = small_cnn()
    meta = md.make(net, dumps(net), URAM_FOLD, name="m", board=boards.get("zcu104"), clock_mhz=200.0)
    assert meta["uram_weights"]["conv1"]["target_layer"] == 1 and meta["folding"]["conv1"]["weights"] == "uram"
    assert md.folding_of(md.validate(meta)) == URAM_FOLD
    plain = {k: LayerFold(v.pe, v.simd) for k, v in URAM_FOLD.items()}
    assert "uram_weights" not in md.make(net, dumps(net), plain, name="m", board=boards.get("zcu104"), clock_mhz=200.0)
    with pytest.raises(BuildError, match="'conv1'.*UltraRAM.*pynq-z2"):
        generate(net, dumps(net), boards.get("pynq-z2"), URAM_FOLD, name="m", clock_mhz=100.0)


@pytest.mark.cosim
def test_sim_runtime_driver_loads_the_uram_weights():
    from bnnfpga.overlay import Classifier

    net = small_cnn()
    images = _images(net, 5, seed=4)
    clf = Classifier(net, runtime="sim", folding=URAM_FOLD)
    drv, emu = clf._driver, clf._driver.ol.emulation
    assert drv.uram.writes == 24 and len(emu.param_rows) == 24  # written once, at start-up
    r = clf.classify_batch(images)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))
    # the accelerator computes with what the driver wrote: load another network's weights
    other = small_cnn()
    other.layers[1].weights = 1 - other.layers[1].weights
    drv.uram.load(other)
    np.testing.assert_array_equal(clf.classify_batch(images[:3]).scores, GoldenModel(other).run(images[:3]))
    clf.close()


@pytest.mark.slow
@pytest.mark.cosim
def test_rtl_cosim_uram_with_runtime_params_loads_another_network():
    """runtime_params and a URAM layer together: ``load`` writes every parameter (the URAM layer's
    lanes in index order), and the results are the loaded network's."""
    from bnnfpga.rtl import cosim

    net, other = small_cnn(0), small_cnn(7)
    images = _images(net, 4, seed=2)
    r = cosim.cosimulate(net, images, URAM_FOLD, runtime_params=True, load=other)  # checked against other's golden
    np.testing.assert_array_equal(r.scores, GoldenModel(other).run(images))
