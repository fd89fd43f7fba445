"""Strided convolutions, window max-pools and the zoo's wu13 / alexnet_bnn through the backends:
HLS C simulation and RTL co-simulation bit-exact against the golden model (which equals torch),
with top-5 labels; RTL cycles per frame equal to the analytical model."""
import time

import numpy as np
import pytest
import torch

from bnnfpga import export, folding as fo, random_net as rn, zoo
from bnnfpga.golden import GoldenModel, label_select
from bnnfpga.hls import backend, csim
from bnnfpga.rtl import cosim

from zoo_calibration import calibrate_bn


def _check_csim(res, what):
    bad = np.argwhere(res.scores != res.golden_scores)
    assert bad.size == 0, f"{what}: {len(bad)} scores differ, first at {bad[0].tolist()}\n{res.log}"
    assert np.array_equal(res.labels, res.golden_labels), what
    assert "0 mismatches, 0 TLAST errors" in res.log, res.log


def _check_rtl(net, images, folding, r, top_k):
    gold = GoldenModel(net).run(images)
    np.testing.assert_array_equal(r.scores, gold)
    np.testing.assert_array_equal(r.labels, label_select(gold, top_k))
    analytical = fo.pipeline_cycles(net, folding, top_k)
    assert r.analytical_cycles == analytical
    if r.cycles_per_frame is not None:
        err = abs(r.cycles_per_frame / analytical - 1)
        print(f"{net.name}: measured {r.cycles_per_frame:.1f} cycles/frame, analytical {analytical} ({err:.2%})")
        assert err <= 0.02, f"measured {r.cycles_per_frame} cycles per frame vs analytical {analytical}"


def zoo_net(name, size, width, classes=6, seed=0):
    """A reduced zoo network with data-driven random BatchNorm statistics, its IR and test images."""
    torch.manual_seed(seed)
    m = zoo.build(name, input_shape=(3, size, size), width=width, classes=classes)
    rng = np.random.default_rng(seed + 1)
    calibrate_bn(m, rng.integers(0, 256, (48, size, size, 3), dtype=np.uint8), seed=seed)
    net = export.to_ir(m, (3, size, size), name=f"{name}_{size}_{width:g}")
    images = rng.integers(0, 256, (10, size, size, 3), dtype=np.uint8)
    logits, _ = export.torch_trace(m, images)
    scores = GoldenModel(net).run(images)
    np.testing.assert_array_equal(np.rint(logits / float(torch.exp(m[-1].log_scale).detach())).astype(np.int64), scores)
    return net, images


@pytest.mark.csim
def test_csim_random_strided_networks_tiny_wu13_and_graph(tmp_path):
    """Random strided chains (random foldings and top-k), a tiny wu13 (top-5) and a shortcut network with
    strided layers (strided_graph), in one program."""
    rng = np.random.default_rng(31)
    cases = []
    for i in range(5):
        net = rn.random_strided_network(rng, name=f"strided{i}")
        cases.append((net, rn.random_folding(rng, net), int(rng.integers(1, net.num_classes + 1)), rn.random_images(rng, net, 4)))
    net, images = zoo_net("wu13", 32, 1 / 16)
    cases.append((net, fo.for_target(net, 20000), 5, images))
    net = strided_graph()
    images = rn.random_images(rng, net, 6)
    assert len({tuple(r) for r in GoldenModel(net).run(images).tolist()}) > 2
    cases.append((net, rn.random_folding(rng, net), 5, images))
    dirs = []
    for i, (net, fold, k, _) in enumerate(cases):
        backend.compile_project(net, fold, tmp_path / f"p{i}", top_k=k)
        dirs.append(tmp_path / f"p{i}")
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    for i, (net, fold, k, images) in enumerate(cases):
        res = csim.run_bench(exe, net, images, top_k=k, select=i, workdir=tmp_path / f"run{i}")
        _check_csim(res, f"{net.name} {fold}")


@pytest.mark.cosim
@pytest.mark.parametrize("seed", [1, 32])  # 32: overlapping 3x3/2 pool, 10 classes (top-5)
def test_rtl_random_strided_networks(seed):
    rng = np.random.default_rng(seed)
    net = rn.random_strided_network(rng, name=f"strided{seed}")
    fold = rn.random_folding(rng, net)
    images = rn.random_images(rng, net, 4)
    k = min(5, net.num_classes)
    _check_rtl(net, images, fold, cosim.cosimulate(net, images, fold, top_k=k), k)


# The reduced zoo networks end to end: torch = golden (in zoo_net) = C-sim = RTL sim on 10 images, top-5.
ZOO = [("wu13", 32, 1 / 16, 20000), ("alexnet_bnn", 64, 1 / 16, 40000),
       ("wu13", 64, 0.25, 50176), ("alexnet_bnn", 64, 0.25, 20000)]


@pytest.mark.slow
@pytest.mark.csim
@pytest.mark.cosim
@pytest.mark.parametrize("name,size,width,target", ZOO)
def test_zoo_reduced_torch_golden_csim_rtl(tmp_path, name, size, width, target):
    net, images = zoo_net(name, size, width)
    fold = fo.for_target(net, target)
    t0 = time.perf_counter()
    scores = csim.simulate(net, images, fold, top_k=5, workdir=tmp_path / "hls")
    t1 = time.perf_counter()
    np.testing.assert_array_equal(scores, GoldenModel(net).run(images))
    r = cosim.cosimulate(net, images, fold, top_k=5)
    t2 = time.perf_counter()
    _check_rtl(net, images, fold, r, 5)
    print(f"{net.name}: {len(images)} images, {sum(f.pe * f.simd for f in fold.values())} lanes, "
          f"{fo.pipeline_cycles(net, fold, 5)} cycles/frame; C-sim {t1 - t0:.0f} s, RTL {t2 - t1:.0f} s")


def strided_graph(seed=0):
    """A small shortcut network with a strided fixed-point stem (integer output), a threshold, an
    overlapping max-pool, a strided 3x3 / 1x1 pair added together, and the scores."""
    from bnnfpga.ir import Add, Conv2D, Dense, InputSpec, MaxPool2D, Network, Threshold, graph_shapes, value_ranges
    from bnnfpga.random_net import _int_thresholds, _thresholds

    rng = np.random.default_rng(seed)
    bits = lambda o, n: rng.integers(0, 2, (o, n), dtype=np.uint8)
    layers = [Conv2D("stem", 3, 4, 3, "same", bits(4, 27), input_kind="fixed", stride=2),  # 13 -> 7
              Threshold("stem_in", 4, None, inputs=["stem"]),
              MaxPool2D("pool", 3, 2, inputs=["stem_in"]),  # 7 -> 3
              Conv2D("c1", 4, 6, 3, "same", bits(6, 36), stride=2, inputs=["pool"]),  # 3 -> 2
              Conv2D("short", 4, 6, 1, "valid", bits(6, 4), stride=2, inputs=["pool"]),  # 3 -> 2
              Add("add", ["short", "c1"], [1, 0]),
              Threshold("head", 6, None, inputs=["add"]),
              Dense("fc", 24, 5, bits(5, 24), inputs=["head"])]
    net = Network("strided_graph", InputSpec(13, 13, 3), layers, classes=[str(i) for i in range(5)])
    ranges = value_ranges(net, graph_shapes(net))
    layers[1].thresholds = _int_thresholds(rng, 4, *ranges["stem"], 74.0 * np.sqrt(27))
    layers[6].thresholds = _int_thresholds(rng, 6, *ranges["add"], 8.0)
    return net.validate()

