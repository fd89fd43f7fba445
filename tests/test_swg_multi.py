"""Multi-position sliding-window generator (bnnfpga.swg_multi, issue 10): a convolution whose
SIMD is P times its input channels reads P kernel positions per cycle.  Folding legality and
cycles, the line-buffer banking, the optimizer, the resource model, Verilator lint, HLS C-sim
and RTL co-simulation bit-exact with measured cycles = analytical, binary and fixed-point input."""
import numpy as np
import pytest

from bnnfpga import folding as fo
from bnnfpga import optimizer as O
from bnnfpga import random_net as rn
from bnnfpga import swg_multi as M
from bnnfpga.folding import LayerFold as F
from bnnfpga.golden import GoldenModel
from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network
from bnnfpga.random_net import _thresholds


def first_layer_net(h=224, c=3, k=7, s=2, out=128, padding="same", seed=0) -> Network:
    """wu13's first layer (224x224x3, 7x7/2 "same", 128 out) and a tiny head (1x1 conv over one pixel, dense)."""
    rng = np.random.default_rng(seed)
    spec = InputSpec(h, h, c)
    conv = Conv2D("conv0", c, out, k, padding, rng.integers(0, 2, (out, k * k * c), dtype=np.uint8),
                  input_kind="fixed", stride=s)
    oh = (h + 2 * conv.pad - k) // s + 1
    head = Conv2D("head", out, 4, 1, "valid", rng.integers(0, 2, (4, out), dtype=np.uint8), stride=oh)
    net = Network("first", spec, [conv, head, Dense("fc", 4, 2, rng.integers(0, 2, (2, 4), dtype=np.uint8))])
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = _thresholds(rng, net, layer)
    return net.validate()


def multi_net(seed: int, binary: bool = False, size=None, c_in=None, k=None, stride=None) -> tuple:
    """A random chain whose first convolution (fixed-point or binarized pixels, random stride and
    padding) reads P > 1 kernel positions per word, a second convolution that may too, then dense
    scores; returns (net, folding)."""
    rng = np.random.default_rng(seed)
    size = size or int(rng.choice([7, 9, 10, 12]))
    c_in = c_in or int(rng.choice([1, 2, 3]))
    spec = InputSpec(size, size, c_in, binarize_threshold=int(rng.integers(60, 200)) if binary else None)
    k = k or int(rng.choice([3, 4, 5, 6, 7]))
    stride = stride or int(rng.choice([1, 2, 3]))
    padding = "valid" if k % 2 == 0 else str(rng.choice(["same", "valid"]))
    c1 = int(rng.choice([4, 6, 8]))
    layers = [Conv2D("conv0", c_in, c1, k, padding, rng.integers(0, 2, (c1, k * k * c_in), dtype=np.uint8),
                     input_kind="binary" if binary else "fixed", stride=stride)]
    net = Network(f"mswg{seed}{'b' if binary else 'f'}", spec, layers)
    h = (size + 2 * layers[0].pad - k) // stride + 1
    c = c1
    if h >= 3 and rng.random() < 0.7:  # a binary 3x3 (or 2x2) stride-1 convolution
        k2 = 3 if h >= 3 else 2
        c2 = int(rng.choice([2, 4]))
        layers.append(Conv2D("conv1", c, c2, k2, "same" if k2 == 3 else "valid",
                             rng.integers(0, 2, (c2, k2 * k2 * c), dtype=np.uint8)))
        h, c = (h if k2 == 3 else h - 1), c2
    if h >= 2 and rng.random() < 0.5:
        layers.append(MaxPool2D("pool", 2, 2))
        h //= 2
    n = h * h * c
    layers.append(Dense("fc", n, 3, rng.integers(0, 2, (3, n), dtype=np.uint8)))
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = _thresholds(rng, net, layer)
    net.validate()
    fold = {}
    for layer in net.compute_layers():
        pe = int(rng.choice(fo.divisors(layer.out_channels)))
        if isinstance(layer, Conv2D):
            ps = [p for p in fo.divisors(layer.kernel ** 2) if p > 1]
            p = int(rng.choice(ps)) if layer.name == "conv0" or rng.random() < 0.6 else 1
            simd = p * layer.in_channels
        else:
            simd = int(rng.choice(fo.divisors(layer.in_features)))
        fold[layer.name] = F(pe, simd)
    assert fo.swg_positions(net.layers[0], fold["conv0"]) > 1
    return net, fold


# ---------------------------------------------------------------- folding: legality and cycles
def test_positions_legality_unchanged():
    net = first_layer_net(h=32)
    conv = net.layers[0]
    assert fo.simd_options(net, conv) == [1, 3, 7, 21, 49, 147]  # as before: SIMD | K*K*C_in
    assert [fo.swg_positions(conv, F(1, s)) for s in (1, 3, 7, 21, 49, 147)] == [1, 1, 1, 7, 1, 49]
    assert fo.swg_lanes(conv, 21) == 3  # the generator's input words: one pixel
    assert fo.swg_positions(conv, F(1, 21, share=True)) == 1  # the shared datapath counts SIMD per channel
    assert fo.swg_positions(net.layers[-1], F(1, 4)) == 1  # dense
    head = net.layers[1]
    assert fo.swg_positions(head, F(1, 64)) == 1  # SIMD <= C_in
    g = rn.random_graph_network(np.random.default_rng(1))  # graphs keep SIMD | C_in: never multi-position
    assert not M.uses(g, {l.name: F(1, 1) for l in g.compute_layers()})


def test_full_wu13_first_layer_window_cycles():
    """224x224x3, 7x7/2 'same', 128 outputs: the window stage before (one position per cycle and a
    converter) and now (P = SIMD/3 positions per cycle, one pixel written per cycle)."""
    net = first_layer_net()
    conv = net.layers[0]
    st = {s: {x.name: x.cycles for x in fo.stage_cycles(net, {"conv0": F(128, s), "head": F(4, 128), "fc": F(2, 4)})}
          for s in (3, 21, 147)}
    assert st[3]["conv0 window"] == 112 * 112 * 49 == 614656  # P = 1: as before
    assert st[21]["conv0 window"] == 112 * 112 * 7 == 87808  # was 614,656 with the converter
    assert st[147]["conv0 window"] == 224 * 224 == 50176  # the write side binds: one input pixel per cycle
    assert st[147]["conv0"] == 112 * 112
    assert fo.fold_cycles(net, conv, F(128, 21)) == 87808
    assert fo.fold_cycles(net, conv, F(64, 147)) == 50176
    d = next(s.detail for s in fo.stage_cycles(net, {"conv0": F(128, 21), "head": F(4, 128), "fc": F(2, 4)})
             if s.name == "conv0 window")
    assert "7 positions x 3 channels = SIMD=21" in d


def test_stride1_multi_position_window_stage():
    net, _ = multi_net(0, size=8, c_in=2, k=3, stride=1)
    conv = net.layers[0]
    oh = (8 + 2 * conv.pad - 3) + 1
    assert fo.swg_cycles(net, conv, F(1, 6)) == max(64, oh * oh * 3)  # P = 3
    assert fo.swg_cycles(net, conv, F(1, 18)) == max(64, oh * oh)  # P = 9: the whole window per word
    assert fo.swg_cycles(net, conv, F(1, 2)) == 0  # SIMD | C_in, stride 1: keeps pace, not listed


def test_for_target_and_optimizer_pick_multi_position_first_layer():
    net = first_layer_net(h=64, out=16)
    f = fo.for_target(net, 32 * 32 * 7)  # below 32*32*49: only P >= 7 meets it
    assert fo.swg_positions(net.layers[0], f["conv0"]) >= 7
    assert fo.pipeline_cycles(net, f) <= 32 * 32 * 7
    r = O.optimize(net, lanes=1000)
    assert r.cycles == fo.pipeline_cycles(net, r.folding)
    assert fo.swg_positions(net.layers[0], r.folding["conv0"]) > 1 and r.cycles < 32 * 32 * 49


# ---------------------------------------------------------------- the banking
def _word_banks(p, oy, ox, j, fb):
    """Python mirror of bnn_swg_multi's lane -> (bank, address) map for word j of window (oy, ox)."""
    out = []
    for i in range(p["P"]):
        fp = j * p["P"] + i
        iy = oy * p["S"] - p["PAD"] + fp // p["K"]
        ix = ox * p["S"] - p["PAD"] + fp % p["K"]
        if not (0 <= iy < p["H"] and 0 <= ix < p["W"]):
            continue
        slot = (fb + iy) % p["R"]
        wb = -(-p["W"] // p["NBC"])
        out.append(((slot % p["NBR"]) * p["NBC"] + ix % p["NBC"], (slot // p["NBR"]) * wb + ix // p["NBC"], (slot, ix)))
    return out


@pytest.mark.parametrize("k,s", [(3, 1), (3, 2), (4, 1), (5, 2), (6, 1), (7, 2), (7, 3), (11, 4)])
def test_every_word_reads_distinct_banks(k, s):
    """For every P dividing K*K, every word's non-padding positions hit distinct banks, and a bank's
    address names one pixel: P reads per cycle map to NBR*NBC simple dual-port memories."""
    h = w = 2 * k + 3
    pad = (k - 1) // 2 if k % 2 else 0
    for p in [d for d in fo.divisors(k * k) if d > 1]:
        prm = M.rtl_params(h, w, 2, 8, k, pad, s, p)
        assert prm["R"] % prm["NBR"] == 0 and prm["NBC"] >= min(p, k)
        oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        for fb in (0, 5 * h):
            seen = {}
            for oy in range(oh):
                for ox in range(ow):
                    for j in range(k * k // p):
                        lanes = _word_banks(prm, oy, ox, j, fb)
                        assert len({b for b, _, _ in lanes}) == len(lanes), (k, s, p, oy, ox, j)
                        for b, a, pix in lanes:
                            assert seen.setdefault((b, a), pix) == pix  # one pixel per (bank, address)
    assert M.banks(7, 7) == (1, 8) and M.banks(7, 49) == (8, 8) and M.banks(6, 4) == (2, 4) and M.banks(3, 9) == (4, 4)


# ---------------------------------------------------------------- resources
# bnn_swg_multi under yosys 0.23 synth_xilinx (H, W, PW, K, PAD, S, P) -> (LUT, FF, BRAM36)
SWG_MULTI_YOSYS = {(8, 8, 2, 3, 1, 1, 3): (217, 89, 0), (32, 32, 24, 7, 3, 2, 7): (1223, 291, 0),
                   (32, 32, 8, 3, 1, 1, 9): (1714, 222, 0), (16, 16, 24, 3, 1, 1, 3): (404, 179, 0)}


def test_resource_model_counts_the_banks_and_no_converter():
    from bnnfpga import resources as R

    net = first_layer_net()
    f = {"conv0": F(128, 21), "head": F(4, 128), "fc": F(2, 4)}
    specs = R.stage_specs(net, f)
    swg = next(s for s in specs if s.kind == "swg" and s.layer == "conv0")
    assert swg.params["P"] == 7 and (swg.params["NBR"], swg.params["NBC"]) == (1, 8)
    assert [s.kind for s in specs if s.layer == "conv0"] == ["dwc", "swg", "conv"]  # input pixels -> 3 lanes only
    est = {e.name: e for e in R.ResourceModel.load().network(net, f)}["swg conv0"]
    assert len(est.memories) == 8 and est.res.lut > 0 and est.res.bram36 > 0
    for key, (lut, ff, _) in SWG_MULTI_YOSYS.items():
        prm = M.rtl_params(*key[:2], 1, 1, *key[3:])
        prm["PW"] = key[2]
        elut, eff, _ = M.estimate(prm)
        assert abs(elut - lut) <= 0.15 * lut and abs(eff - ff) <= 0.3 * ff, (key, elut, lut, eff, ff)


# ---------------------------------------------------------------- RTL lint, C-sim, co-simulation
def test_rtl_designs_lint_clean(tmp_path):
    from bnnfpga.rtl import backend

    from test_rtl_backend import _lint

    for seed, binary in ((1, False), (2, True), (3, False)):
        net, f = multi_net(seed, binary)
        files = backend.generate(net, f, top_k=2)
        assert "rtl/bnn_swg_multi.sv" in files and "bnn_swg_multi #(" in files["rtl/bnn_top.sv"]
        rc, out = _lint(tmp_path / str(seed), files)
        assert rc == 0 and "%Warning" not in out, out


CSIM_CASES = [(s, b) for s in range(4, 9) for b in (False, True)]


@pytest.mark.csim
def test_hls_csim_bit_exact(tmp_path):
    """Random multi-position networks, fixed-point and binarized input, in one C-sim program."""
    from bnnfpga.hls import backend, csim

    from test_hls_csim import _check

    dirs, cases = [], []
    for i, (seed, binary) in enumerate(CSIM_CASES):
        net, f = multi_net(seed, binary)
        backend.compile_project(net, f, tmp_path / f"p{i}", top_k=2)
        top = (tmp_path / f"p{i}" / "bnn_top.cpp").read_text()
        assert "bnn_swg_multi<" in top and "window width converter of 'conv0'" not in top
        dirs.append(tmp_path / f"p{i}")
        cases.append((net, f))
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    for i, (net, f) in enumerate(cases):
        imgs = rn.random_images(np.random.default_rng(i), net, 4)
        _check(csim.run_bench(exe, net, imgs, top_k=2, select=i, workdir=tmp_path / f"run{i}"), net.name)


def _cosim(net, f, n=4, top_k=2):
    from bnnfpga.rtl import cosim

    from test_strided_sim import _check_rtl

    imgs = rn.random_images(np.random.default_rng(5), net, n)
    r = cosim.cosimulate(net, imgs, f, top_k=top_k)
    _check_rtl(net, imgs, f, r, top_k)
    print(f"{net.name} {f}: measured {r.cycles_per_frame} cycles/frame, analytical {fo.pipeline_cycles(net, f, top_k)}")
    assert r.cycles_per_frame == pytest.approx(fo.pipeline_cycles(net, f, top_k), abs=1.0)
    return r


@pytest.mark.cosim
def test_rtl_cosim_fixed_input_7x7_stride2():
    """A 7x7 stride-2 'same' first layer on 12x12x3 fixed-point pixels, SIMD = 21 (one kernel row per
    word) and PE = C_out: the window stage binds at 6*6*7 = 252 cycles (was 6*6*49 = 1,764)."""
    net = first_layer_net(h=12, out=8)
    f = {"conv0": F(8, 21), "head": F(4, 8), "fc": F(2, 4)}
    assert fo.pipeline_cycles(net, f) == 252
    r = _cosim(net, f, top_k=1)
    assert r.cycles_per_frame == pytest.approx(252, abs=1.0)


@pytest.mark.slow
@pytest.mark.cosim
@pytest.mark.parametrize("seed,binary", [(4, False), (5, True), (6, False), (7, False), (7, True), (8, True)])
def test_rtl_cosim_random_multi_position(seed, binary):
    _cosim(*multi_net(seed, binary))


@pytest.mark.slow
@pytest.mark.cosim
def test_rtl_cosim_whole_window_per_word_write_bound():
    """SIMD = 49 * 3: a whole 7x7 window per word; stride 3 on 16x16: the write side (256 pixels) binds."""
    net = first_layer_net(h=16, s=3, out=4, padding="valid")
    f = {"conv0": F(4, 147), "head": F(4, 4), "fc": F(2, 4)}
    assert {s.name: s.cycles for s in fo.stage_cycles(net, f)}["conv0 window"] == 256
    _cosim(net, f, top_k=1)
