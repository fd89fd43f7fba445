"""RTL co-simulation (cocotb on Verilator): bit-exact against the golden model,
robust to valid gaps, back-pressure and a mid-stream reset, and running at the
analytical cycles per frame of the folding (within 2%)."""
import numpy as np
import pytest

from bnnfpga import folding as fold_mod
from bnnfpga import random_net
from bnnfpga.golden import GoldenModel, label_select
from bnnfpga.ir import Dense, InputSpec, Network, Thresholds
from bnnfpga.rtl import cosim

from test_rtl_backend import small_convnet

pytestmark = pytest.mark.cosim


def small_mlp(seed=0, sizes=(16, 12, 4), hw=4, zp=128):
    rng = np.random.default_rng(seed)
    spec = InputSpec(hw, hw, 1, zero_point=zp, frac_bits=7 if zp else 8, bits=8 if zp else 9)
    layers, n = [], hw * hw
    for i, m in enumerate(sizes):
        layers.append(Dense(f"fc{i}", n, m, rng.integers(0, 2, (m, n), dtype=np.uint8),
                            input_kind="fixed" if i == 0 else "binary"))
        n = m
    net = Network("small-mlp", spec, layers)
    for layer in layers[:-1]:
        if layer.input_kind == "fixed":
            t = rng.integers(-300, 300, layer.out_features)
        else:
            t = rng.integers(layer.in_features // 2 - 3, layer.in_features // 2 + 4, layer.out_features)
        d = np.where(rng.random(layer.out_features) < 0.3, -1, 1).astype(np.int8)
        layer.thresholds = Thresholds(t.astype(np.int64), d)
    return net.validate()


def check_result(net, images, folding, r, top_k=1):
    gold = GoldenModel(net).run(images)
    np.testing.assert_array_equal(r.scores, gold)
    np.testing.assert_array_equal(r.labels, label_select(gold, top_k))
    analytical = fold_mod.pipeline_cycles(net, folding, top_k)
    assert r.analytical_cycles == analytical
    if r.cycles_per_frame is not None:
        err = abs(r.cycles_per_frame / analytical - 1)
        print(f"{net.name}: measured {r.cycles_per_frame:.1f} cycles/frame, analytical {analytical} "
              f"({err:.2%}), latency {r.latency_cycles}")
        assert err <= 0.02, f"measured {r.cycles_per_frame} cycles per frame vs analytical {analytical}"


def test_small_mlp_bit_exact_and_cycles():
    net = small_mlp()
    rng = np.random.default_rng(1)
    images = random_net.random_images(rng, net, 8)
    for f in (fold_mod.minimal(net), {"fc0": fold_mod.LayerFold(4, 8), "fc1": fold_mod.LayerFold(3, 4),
                                      "fc2": fold_mod.LayerFold(4, 12)}):
        r = cosim.cosimulate(net, images, f)
        check_result(net, images, f, r)


def test_small_convnet_bit_exact_top3_and_cycles():
    net = small_convnet(2)
    rng = np.random.default_rng(2)
    images = random_net.random_images(rng, net, 5)
    f = {"conv 1": fold_mod.LayerFold(2, 1), "conv2": fold_mod.LayerFold(4, 2), "fc": fold_mod.LayerFold(5, 8)}
    r = cosim.cosimulate(net, images, f, top_k=3)
    check_result(net, images, f, r, top_k=3)


def test_valid_convnet_zero_point_zero():
    net = small_convnet(4, "valid")
    net.input.zero_point, net.input.bits, net.input.frac_bits = 0, 9, 8
    net.validate()
    rng = np.random.default_rng(3)
    images = random_net.random_images(rng, net, 4)
    f = {"conv 1": fold_mod.LayerFold(4, 2), "conv2": fold_mod.LayerFold(2, 4), "fc": fold_mod.LayerFold(1, 4)}
    check_result(net, images, f, cosim.cosimulate(net, images, f))


@pytest.mark.parametrize("seed", range(12))
def test_random_networks_random_foldings(seed):
    rng = np.random.default_rng(1000 + seed)
    net = random_net.random_network(rng, ["mlp", "cnn"][seed % 2], name=f"random{seed}")
    f = random_net.random_folding(rng, net)
    top_k = int(rng.integers(1, min(3, net.num_classes) + 1))
    cycles = fold_mod.pipeline_cycles(net, f, top_k)
    n = int(np.clip(150_000 // cycles, 3, 8))  # enough frames for a steady state, bounded sim time
    images = random_net.random_images(rng, net, n)
    r = cosim.cosimulate(net, images, f, top_k=top_k)
    print(f"seed {seed}: layers {[l.name for l in net.layers]} folding {f} top_k {top_k}")
    check_result(net, images, f, r, top_k)


def test_backpressure_and_gaps_1000_frames():
    """Random valid gaps on the input and random back-pressure on the output:
    every frame arrives, once, in order, correct (the bench compares each word)."""
    net = small_mlp(5, sizes=(8, 6), hw=3)
    f = {"fc0": fold_mod.LayerFold(4, 9), "fc1": fold_mod.LayerFold(3, 8)}
    rng = np.random.default_rng(5)
    images = random_net.random_images(rng, net, 1000)
    r = cosim.cosimulate(net, images, f, source_pause=0.3, sink_pause=0.4, seed=7)
    assert r.scores.shape == (1000, 6)
    check_result(net, images, f, r)
    assert np.all(np.diff(r.t_end) > 0)
    assert r.info["extra_frames"] == 0


def test_reset_mid_stream_then_recovery():
    net = small_convnet(6)
    f = {"conv 1": fold_mod.LayerFold(4, 2), "conv2": fold_mod.LayerFold(8, 4), "fc": fold_mod.LayerFold(5, 8)}
    rng = np.random.default_rng(6)
    images = random_net.random_images(rng, net, 6)
    r = cosim.cosimulate(net, images, f, reset_test=True, sink_pause=0.2)
    check_result(net, images, f, r)
    assert r.info["words_before_reset"] >= 1 and r.info["source_active_at_reset"]


def test_simulate_api_returns_scores():
    net = small_mlp(7)
    images = random_net.random_images(np.random.default_rng(7), net, 4)
    meas = {}
    s = cosim.simulate(net, images, fold_mod.minimal(net), result=meas)
    assert s.dtype == np.int32
    np.testing.assert_array_equal(s, GoldenModel(net).run(images))
    assert meas["analytical_cycles"] == fold_mod.pipeline_cycles(net, fold_mod.minimal(net))


def test_runtime_loaded_parameters():
    """A runtime_params build of network A, loaded through do_init with the weights
    and thresholds of network B (same shapes), computes B's scores."""
    a = small_convnet(8)
    b = small_convnet(9)
    f = {"conv 1": fold_mod.LayerFold(2, 2), "conv2": fold_mod.LayerFold(4, 4), "fc": fold_mod.LayerFold(5, 8)}
    images = random_net.random_images(np.random.default_rng(8), a, 4)
    assert not np.array_equal(GoldenModel(a).run(images), GoldenModel(b).run(images))
    r = cosim.cosimulate(a, images, f, runtime_params=True, load=b)
    np.testing.assert_array_equal(r.scores, GoldenModel(b).run(images))
    # without loading, the same build computes A
    r = cosim.cosimulate(a, images, f, runtime_params=True)
    check_result(a, images, f, r)
