"""LayerFold.lut_pe: the weights of the last lut_pe PEs in a LUT ROM (RTL rom_style "logic")
instead of block RAM, for weight bandwidth beyond the block RAMs (issue 7, LFC at 100 MHz)."""
import numpy as np
import pytest

from bnnfpga import folding as fo
from bnnfpga import optimizer as O
from bnnfpga.folding import FoldingError, LayerFold as F
from bnnfpga.ir import Dense, InputSpec, Network
from bnnfpga.resources import ResourceModel
from bnnfpga.rtl import backend

from fold_models import binarized_mlp


def deep_rom_net():
    """One binarized dense layer whose weight ROM (PE=2, SIMD=32: 512 words x 64 bits) is block RAM."""
    rng = np.random.default_rng(0)
    fc = Dense("fc", 512, 64, rng.integers(0, 2, (64, 512), dtype=np.uint8))
    return Network("deep-rom", InputSpec(16, 32, 1, binarize_threshold=128), [fc]).validate()


def test_check_and_json(tmp_path):
    net = binarized_mlp(0)
    f = {"fc0": F(4, 8, 1), "fc1": F(3, 4, 3), "fc2": F(2, 12)}
    fo.check(net, f)
    p = tmp_path / "f.json"
    p.write_text(fo.to_json(f))
    assert '"lut_pe": 1' in p.read_text() and p.read_text().count("lut_pe") == 2
    assert fo.load(p, net) == f
    assert "lut_pe" not in fo.to_json(fo.minimal(net))
    with pytest.raises(FoldingError, match=r"layer 'fc0': lut_pe must be an integer in \[0, PE=4\], got 5"):
        fo.check(net, {**f, "fc0": F(4, 8, 5)})
    assert fo.pipeline_cycles(net, f) == fo.pipeline_cycles(net, {k: F(v.pe, v.simd) for k, v in f.items()})


def test_resource_model_moves_weights_from_bram_to_luts():
    net = deep_rom_net()
    m = ResourceModel.load()
    a, b, c = (m.total(net, {"fc": F(2, 32, lp)}) for lp in (0, 1, 2))
    assert a.bram36 == 1.0 and b.bram36 == 0.5 and c.bram36 == 0.0
    assert a.lut < b.lut < c.lut
    assert c.lut - a.lut == pytest.approx(2 * 256 * m.coef["mvtu"]["lut"]["mem_lut"], rel=0.01)  # 64 bits x 8 LUT6


def test_rtl_text_and_refusals():
    net = binarized_mlp(0)
    f = {"fc0": F(4, 8, 1), "fc1": F(3, 4, 3), "fc2": F(2, 12)}
    files = backend.generate(net, f)
    fc0, fc1 = files["rtl/layer_fc0.sv"], files["rtl/layer_fc1.sv"]
    assert '(* rom_style = "logic" *) logic [7:0] weights_lut [8];' in fc0 and "logic [23:0] weights [8];" in fc0
    assert "weights_lut[w_addr];" in fc1 and "mem/layer_fc1_weights.mem" not in files  # all PEs in LUT ROM
    assert "lut_pe" not in files["rtl/layer_fc2.sv"] and "weights_lut" not in files["rtl/layer_fc2.sv"]
    from bnnfpga.rtl.backend import RTLError

    with pytest.raises(RTLError, match="layer 'fc0': lut_pe=1 .* runtime_params"):
        backend.generate(net, f, runtime_params=True)


@pytest.mark.slow
@pytest.mark.cosim
def test_yosys_places_the_split_rom_as_the_model_says(tmp_path):
    from bnnfpga.rtl import yosys

    if yosys.yosys_path() is None:
        pytest.skip("yosys not installed")
    net = deep_rom_net()
    got = {}
    for lp in (0, 1):
        d = backend.write_design(backend.generate(net, {"fc": F(2, 32, lp)}), tmp_path / f"d{lp}")
        got[lp] = yosys.estimate(d)["total"]
    assert got[0]["BRAM"] == 1.0 and got[1]["BRAM"] == 0.5
    assert got[1]["LUT"] - got[0]["LUT"] >= 200  # 512 x 32 bits of LUT ROM: 256 LUT6


def test_lfc_binarized_meets_356633_fps_on_the_xc7z020():
    """Binarized LFC shape: 390,625 frames/s (256 cycles) at 100 MHz, estimated inside the
    xc7z020's 53,200 LUT / 140 BRAM36 (90% / 90% margins), some fc0 weights in LUT ROM."""
    lfc = O.bnn_pynq_network("lfc", binarize_threshold=128)
    r = O.optimize(lfc, "pynq-z2", lut_margin=0.9, bram_margin=0.9)
    fo.check(lfc, r.folding)
    assert r.feasible and r.frames_per_second >= 356633 and r.cycles <= 280
    assert r.resources.lut <= 0.9 * 53200 and r.resources.bram36 <= 0.9 * 140
    assert any(f.lut_pe for f in r.folding.values())
    t = O.optimize(lfc, "pynq-z2", target_fps=356633, lut_margin=0.9, bram_margin=0.9)
    assert t.feasible and t.frames_per_second >= 356633


@pytest.mark.slow
@pytest.mark.cosim
def test_lfc_binarized_chosen_folding_rtl_cycles():
    """The binarized LFC's chosen folding (256 cycles/frame, fc0 weights partly in LUT ROM):
    bit-exact in RTL co-simulation and the measured interval equals the optimizer's cycles."""
    from bnnfpga import golden, random_net
    from bnnfpga.rtl import cosim

    lfc = O.bnn_pynq_network("lfc", binarize_threshold=128)
    r = O.optimize(lfc, "pynq-z2", lut_margin=0.9, bram_margin=0.9)
    images = random_net.random_images(np.random.default_rng(0), lfc, 6)
    res = cosim.cosimulate(lfc, images, r.folding)
    np.testing.assert_array_equal(res.scores, golden.run(lfc, images))
    assert res.cycles_per_frame == pytest.approx(r.cycles, abs=1.0)


def test_default_folding_has_no_lut_pe_and_fold_cli_switch(tmp_path, capsys):
    from bnnfpga import cli, modelfile

    lfc = O.bnn_pynq_network("lfc", binarize_threshold=128)
    assert not any(f.lut_pe for f in O.default_folding(lfc).values())
    m = tmp_path / "lfc.bnn"
    modelfile.save(lfc, m)
    argv = ["fold", str(m), "--board", "pynq-z2", "--lut-margin", "0.9", "-o", str(tmp_path / "f.json")]
    assert cli.main(argv) == 0
    assert "weights in LUT ROM" in capsys.readouterr().out and "lut_pe" in (tmp_path / "f.json").read_text()
    assert cli.main(argv + ["--no-lut-rom"]) == 0
    assert "lut_pe" not in (tmp_path / "f.json").read_text()


def test_hls_splits_the_weights_and_csim_is_exact(tmp_path):
    """HLS honours lut_pe as the RTL does: the last lut_pe PEs' weights live in an array of their
    own bound to LUT ROM (or the whole array when lut_pe = PE), and C-simulation stays exact."""
    from bnnfpga import golden, random_net
    from bnnfpga.hls import backend as hb
    from bnnfpga.hls import csim
    from bnnfpga.hls.backend import BackendError

    net = binarized_mlp(0)
    f = {"fc0": F(4, 8, 1), "fc1": F(3, 4, 3), "fc2": F(2, 12)}
    files = hb.generate(net, f)
    p0, p1, top = files["params_fc0.h"], files["params_fc1.h"], files["bnn_top.cpp"]
    assert "fc0_w[3][" in p0 and "fc0_wl[1][" in p0 and "struct fc0_wsel" in p0
    assert "BIND_STORAGE variable=fc0_wl type=rom_1p impl=lutram" in top and "fc0_wsel()" in top
    assert "fc1_wl" not in p1 and "BIND_STORAGE variable=fc1_w type=rom_1p impl=lutram" in top  # all 3 PEs
    assert "fc2_wl" not in files["params_fc2.h"] and "variable=fc2_w type=rom_1p" not in top
    images = random_net.random_images(np.random.default_rng(1), net, 8)
    scores = csim.simulate(net, images, f, workdir=tmp_path / "split")
    np.testing.assert_array_equal(scores, golden.run(net, images))
    with pytest.raises(BackendError, match="layer 'fc0': lut_pe=1 .* runtime_params"):
        hb.generate(net, f, runtime_params=True)
