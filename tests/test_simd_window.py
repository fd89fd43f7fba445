"""Convolution SIMD dividing the window K*K*C_in but not C_in: legality, stage cycles,
HLS C-sim and RTL co-simulation bit-exact, optimizer (issue 7)."""
import numpy as np
import pytest

from bnnfpga import folding as fo
from bnnfpga import golden
from bnnfpga import optimizer as O
from bnnfpga import random_net as rn
from bnnfpga.folding import FoldingError, LayerFold as F

from fold_models import conv_net


def test_legality():
    net = conv_net(1, 3)  # conv0: 3 -> 4 channels, 3x3 (27), conv1: 4 -> 6 (36)
    fo.check(net, {"conv0": F(2, 9), "conv1": F(3, 12), "fc": F(1, 8)})
    fo.check(net, {"conv0": F(2, 27), "conv1": F(3, 36), "fc": F(1, 8)})
    with pytest.raises(FoldingError, match=r"layer 'conv1': SIMD=8 divides neither its 4 input channels nor its window "
                                           r"of 3x3x4 = 36 bits"):
        fo.check(net, {"conv0": F(2, 9), "conv1": F(3, 8), "fc": F(1, 8)})
    assert fo.simd_options(net, net.layers[0]) == [1, 3, 9, 27]
    assert fo.swg_lanes(net.layers[0], 9) == 3 and fo.swg_lanes(net.layers[1], 12) == 4
    assert fo.swg_lanes(net.layers[1], 2) == 2  # SIMD | C_in: the window generator's words are SIMD wide
    g = rn.random_graph_network(np.random.default_rng(1))
    conv = next(l for l in g.compute_layers() if hasattr(l, "kernel") and l.kernel > 1)
    assert fo.simd_options(g, conv) == fo.divisors(conv.in_channels)  # graphs keep SIMD | C_in


def test_stage_cycles_have_a_window_stage_only_when_simd_does_not_divide_c_in():
    net = conv_net(1, 3)
    st = {s.name: s.cycles for s in fo.stage_cycles(net, {"conv0": F(4, 9), "conv1": F(6, 36), "fc": F(3, 24)})}
    # SIMD = P * C_in reads P kernel positions per word (issue 10, bnnfpga.swg_multi): conv0 max(6x6 pixels
    # written, 4x4 output pixels x 9 positions / 3) = 48 (144 with 3-lane words); conv1 max(4x4, 2x2 x 9 / 9) = 16
    assert st == {"input": 14, "conv0 window": 48, "conv0": 48, "conv1 window": 16, "conv1": 4, "fc": 1, "output": 4}
    st = [s.name for s in fo.stage_cycles(net, {"conv0": F(4, 3), "conv1": F(6, 4), "fc": F(3, 24)})]
    assert st == ["input", "conv0", "conv1", "fc", "output"]
    assert fo.fold_cycles(net, net.layers[0], F(4, 9)) == 48
    st = {s.name: s.cycles for s in fo.stage_cycles(net, {"conv0": F(4, 3), "conv1": F(6, 18), "fc": F(3, 24)})}
    assert st["conv1 window"] == 2 * 2 * 36 // 2  # SIMD=18 over C_in=4: 2-lane words and a converter


def _cases():
    return [
        (conv_net(1, 3), {"conv0": F(4, 9), "conv1": F(6, 36), "fc": F(3, 24)}),  # window stages bind
        (conv_net(2, 4, padding="same", channels=(6, 4)), {"conv0": F(3, 6), "conv1": F(2, 18), "fc": F(3, 16)}),
        (conv_net(5, 3, hw=8, pool=True, channels=(4, 8)), {"conv0": F(2, 27), "conv1": F(8, 6), "fc": F(1, 2)}),
    ]


@pytest.mark.csim
def test_hls_csim_bit_exact(tmp_path):
    from bnnfpga.hls import backend, csim

    from test_hls_csim import _check

    cases = _cases()[:2]  # the third (SIMD=27 over 3x3x3) is in test_binarized_input's C-sim
    dirs = []
    for i, (net, f) in enumerate(cases):
        backend.compile_project(net, f, tmp_path / f"p{i}")
        dirs.append(tmp_path / f"p{i}")
    top = (tmp_path / "p1" / "bnn_top.cpp").read_text()
    assert "window width converter of 'conv0': 2 -> 6 lanes" in top
    assert "bnn_swg_multi<3, 1, 6, 6, 3, 1, 6, 3>" in top  # conv1: SIMD=18 = 3 positions x 6 channels
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    for i, (net, f) in enumerate(cases):
        imgs = rn.random_images(np.random.default_rng(i), net, 5)
        _check(csim.run_bench(exe, net, imgs, select=i, workdir=tmp_path / f"run{i}"), net.name)


@pytest.mark.cosim
def test_rtl_mvtu_bound_window_layer_runs_at_its_cycles():
    """SIMD=10 over a 5x5x4 window (2-lane window words, 5 per SIMD word) and the MVTU binding
    (720 vs 450 window cycles): the MVTU's input FIFO holds a whole window (SF + 2 words), so its
    first output fold never waits for the slower window words (873 cycles with a 4-deep FIFO)."""
    from bnnfpga.rtl import backend, cosim

    net = conv_net(9, 4, hw=7, k=5, channels=(8,), classes=2)
    f = {"conv0": F(1, 10), "fc": F(2, 8)}
    assert {s.name: s.cycles for s in fo.stage_cycles(net, f)}["conv0 window"] == 450
    stages, _, _ = backend.plan(net, f)
    assert next(s for s in stages if s.kind == "conv").fifo_depth == 10 + 2
    imgs = rn.random_images(np.random.default_rng(0), net, 6)
    r = cosim.cosimulate(net, imgs, f)
    np.testing.assert_array_equal(r.scores, golden.run(net, imgs))
    assert r.cycles_per_frame == pytest.approx(720, abs=1.0)


@pytest.mark.cosim
@pytest.mark.parametrize("case", [pytest.param(0, marks=pytest.mark.slow), 1, pytest.param(2, marks=pytest.mark.slow)])
def test_rtl_cosim_bit_exact_and_cycles(case):
    """Bit-exact, and the measured cycles per frame equal the analytical (window stage included)."""
    from bnnfpga.rtl import cosim

    from test_rtl_cosim import check_result

    net, f = _cases()[case]
    imgs = rn.random_images(np.random.default_rng(7), net, 6)
    r = cosim.cosimulate(net, imgs, f)
    check_result(net, imgs, f, r)
    assert r.cycles_per_frame == pytest.approx(fo.pipeline_cycles(net, f), abs=1.0)


def test_cnv_under_bnn_pynq_lanes_beats_32768():
    cnv = O.bnn_pynq_network("cnv")
    r = O.optimize(cnv, lanes=O.BNN_PYNQ_LANES["cnv"])
    fo.check(cnv, r.folding)
    assert r.feasible and r.lanes <= 2272 and r.cycles < O.BNN_PYNQ_CYCLES["cnv"]
    assert r.cycles == fo.pipeline_cycles(cnv, r.folding)
    assert any(cnv.layers[i].in_channels % r.folding[l.name].simd for i, l in enumerate(cnv.layers)
               if l.name in r.folding and hasattr(l, "kernel"))


@pytest.mark.cosim
def test_optimizer_cycles_equal_rtl_measured():
    """A chosen folding with window stages, on a binarized input: optimizer cycles = RTL measured cycles."""
    from bnnfpga.rtl import cosim

    net = conv_net(1, 3, hw=8, channels=(8, 5), binarize=100)
    r = O.optimize(net, lanes=32)
    assert {s.name for s in fo.stage_cycles(net, r.folding) if s.kind == "swg"} == {"conv0 window", "conv1 window"}
    imgs = rn.random_images(np.random.default_rng(0), net, 6)
    res = cosim.cosimulate(net, imgs, r.folding)
    print(f"optimizer {r.folding}: {r.cycles} cycles/frame; RTL measured {res.cycles_per_frame}")
    assert res.cycles_per_frame == pytest.approx(r.cycles, abs=1.0)
    np.testing.assert_array_equal(res.scores, golden.run(net, imgs))


@pytest.mark.slow
@pytest.mark.cosim
def test_cnv_lane_budget_folding_rtl_cycles():
    """CNV-W1A1 shape at the optimizer's folding under 2,272 lanes (window SIMD in conv2..conv5):
    bit-exact and the measured interval equals the optimizer's 28,224 cycles."""
    from bnnfpga.rtl import cosim

    cnv = O.bnn_pynq_network("cnv")
    r = O.optimize(cnv, lanes=O.BNN_PYNQ_LANES["cnv"])
    images = rn.random_images(np.random.default_rng(0), cnv, 4)
    res = cosim.cosimulate(cnv, images, r.folding)
    np.testing.assert_array_equal(res.scores, golden.run(cnv, images))
    assert res.cycles_per_frame == pytest.approx(r.cycles, abs=1.0)
