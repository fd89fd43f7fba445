"""Shortcut networks in the RTL backend (bnnfpga.rtl.graph): RTL co-simulation (cocotb on Verilator)
== golden model on random graph networks (random blocks, growth rates, widths, foldings) and on a
tiny trained binary ResNet and DenseNet; measured cycles per frame == the analytical figure of the
FIFO-sized design; a clearly smaller shortcut FIFO stalls; random back-pressure."""
import json

import numpy as np
import pytest

from bnnfpga import export
from bnnfpga import folding as fo
from bnnfpga import random_net as rn
from bnnfpga.folding import LayerFold
from bnnfpga.golden import GoldenModel, label_select
from bnnfpga.rtl import backend, cosim, graph

pytestmark = pytest.mark.cosim


def _tiny_folding(net):
    return {l.name: LayerFold(min(l.out_channels, 4) if l.out_channels % min(l.out_channels, 4) == 0 else 1,
                              max(d for d in fo.divisors(fo.simd_base(l)) if d <= 16)) for l in net.compute_layers()}


def random_case(i: int):
    """Random graph network i (even: DenseNet, odd: ResNet), a random folding, a top-k and 6 images."""
    rng = np.random.default_rng(1000 + i)
    net = rn.random_graph_network(rng, "resnet" if i % 2 else "densenet", name=f"rtl_graph{i}")
    fold = rn.random_folding(rng, net)
    if i == 2:
        fold = fo.minimal(net)
    if i == 3:
        fold = {l.name: LayerFold(l.out_channels, fo.simd_base(l)) for l in net.compute_layers()}
    return net, fold, int(rng.integers(1, net.num_classes + 1)), rn.random_images(rng, net, 6)


def check_case(net, fold, k, imgs, **opts):
    r = cosim.cosimulate(net, imgs, fold, top_k=k, **opts)  # the bench compares every word with the golden model
    gold = GoldenModel(net).run(imgs)
    np.testing.assert_array_equal(r.scores, gold)
    np.testing.assert_array_equal(r.labels, label_select(gold, k))
    assert r.analytical_cycles == graph.plan_graph(net, fold, k).cycles
    return r


def _assert_rate(r, net):
    print(f"{net.name}: measured {r.cycles_per_frame} cycles/frame, analytical {r.analytical_cycles}, "
          f"latency {r.latency_cycles}")
    assert r.cycles_per_frame is not None
    assert abs(r.cycles_per_frame / r.analytical_cycles - 1) <= 0.02, (r.cycles_per_frame, r.analytical_cycles)


def mixed_graph():
    """Stages random graphs do not make: a 3-input concat (a 3-reader fork), a flat concat of two dense
    layers, a flat add of two integer-output dense layers and its threshold."""
    from bnnfpga.ir import Add, Concat, Conv2D, Dense, InputSpec, MaxPool2D, Network, Threshold
    from bnnfpga.random_net import _int_thresholds, _thresholds

    rng = np.random.default_rng(17)
    bits = lambda o, n: rng.integers(0, 2, (o, n), dtype=np.uint8)  # noqa: E731
    layers = [Conv2D("stem", 2, 4, 3, "same", bits(4, 18), input_kind="fixed"),
              Conv2D("a", 4, 2, 1, "same", bits(2, 4), inputs=["stem"]),
              Conv2D("b", 4, 3, 3, "same", bits(3, 36), inputs=["stem"]),
              Concat("cat", ["b", "stem", "a"]),
              MaxPool2D("pool", 2, 2),
              Dense("d1", 36, 6, bits(6, 36), inputs=["pool"]),
              Dense("d2", 36, 4, bits(4, 36), inputs=["pool"]),
              Concat("cat2", ["d1", "d2"]),
              Dense("e1", 10, 5, bits(5, 10), inputs=["cat2"]),
              Dense("e2", 10, 5, bits(5, 10), inputs=["cat2"]),
              Add("sum", ["e1", "e2"], [1, 0]),
              Threshold("thr", 5, None),
              Dense("fc", 5, 3, bits(3, 5))]
    net = Network("mixed", InputSpec(4, 4, 2), layers, classes=["x", "y", "z"])
    for l in layers:
        if l.name in ("stem", "a", "b", "d1", "d2"):
            l.thresholds = _thresholds(rng, net, l)
    layers[11].thresholds = _int_thresholds(rng, 5, -30, 30, 5.0)
    return net.validate()


def test_mixed_graph_bit_exact_and_cycles():
    net = mixed_graph()
    rng = np.random.default_rng(2)
    fold = rn.random_folding(rng, net)
    imgs = rn.random_images(rng, net, 8)
    r = check_case(net, fold, 2, imgs)
    _assert_rate(r, net)
    # a reset in the middle of a frame leaves every FIFO and stage idle: the next run is exact
    r = check_case(net, fold, 2, imgs, reset_test=True)
    assert r.info["words_before_reset"] >= 1
    kinds = [s.kind for s in graph.plan_graph(net, fold, 2).stages]
    assert kinds.count("concat") == 3 and kinds.count("dup") >= 4 and "add" in kinds and "threshold" in kinds


@pytest.mark.slow
@pytest.mark.parametrize("i", range(22))
def test_random_graph_bit_exact_and_cycles_slow(i):
    net, fold, k, imgs = random_case(i)
    r = check_case(net, fold, k, imgs)
    _assert_rate(r, net)


def test_plan_and_design_files():
    net, fold, k, _ = random_case(1)
    files = backend.generate(net, fold, top_k=k)
    assert backend.generate(net, fold, top_k=k) == files  # deterministic
    pl = graph.plan_graph(net, fold, k)
    kinds = {s.kind for s in pl.stages}
    assert {"dup", "add", "threshold"} <= kinds
    top = files["rtl/bnn_top.sv"]
    assert "bnn_dup #(" in top and "bnn_add #(" in top and "module bnn_top" in top
    meta = json.loads(files["design.json"])
    assert meta["graph"] and meta["analytical_cycles_per_frame"] == pl.cycles
    joins = [s for s in pl.streams if s.role.startswith("join")]
    assert joins and pl.shortcut_fifo_bits == sum(s.width * s.depth for s in joins) > 0
    for s in pl.streams:
        assert f"bnn_fifo #(.W({s.width}), .DEPTH({s.depth})) u_fifo_s{s.sid} " in top
    assert "join input of" in pl.fifo_table()
    with pytest.raises(backend.RTLError, match="runtime_params"):
        backend.generate(net, fold, runtime_params=True)
    with pytest.raises(backend.RTLError, match="fifo_depth"):
        backend.generate(net, fold, fifo_depth=4)


def _deepest_shortcut(pl):
    return max((s for s in pl.streams if s.role.startswith("join")), key=lambda s: s.depth)


def _block_case():
    """An 8x8x8 binary ResNet block (tests/test_graph_fifo.py) at PE = SIMD = 8: the branch sets the rate."""
    from test_graph_fifo import _resnet_block

    net = _resnet_block()
    fold = {l.name: LayerFold(8, 8) for l in net.compute_layers()}
    fold["stem"], fold["fc"] = LayerFold(8, 1), LayerFold(2, 8)
    return net, fold, rn.random_images(np.random.default_rng(4), net, 8)


def test_smaller_shortcut_fifo_stalls():
    """The formula's shortcut depth runs at the analytical rate; a clearly smaller one (a quarter of it)
    deadlocks or loses throughput in the RTL simulation."""
    net, fold, imgs = _block_case()
    pl = graph.plan_graph(net, fold)
    s = _deepest_shortcut(pl)
    assert s.depth >= 16, pl.fifo_table()
    r = check_case(net, fold, 1, imgs)
    _assert_rate(r, net)
    small = s.depth // 4
    files = graph.generate_graph(net, fold, fifo_depths={s.sid: small})
    try:
        r = cosim.cosimulate(net, imgs, fold, files=files)
    except cosim.CosimError as e:
        print(f"shortcut stream {s.sid}: depth {small} instead of {s.depth}: no output (deadlock): {str(e)[:300]}")
        assert "frame 0" in str(e) or "Timeout" in str(e) or "timed out" in str(e).lower(), str(e)[:1000]
        return
    print(f"shortcut stream {s.sid}: depth {small} instead of {s.depth}: {r.cycles_per_frame} cycles/frame "
          f"vs {r.analytical_cycles}")
    assert r.cycles_per_frame > 1.05 * r.analytical_cycles


def _trained_net(kind):
    from graph_models import trained

    model, ds = trained(kind)
    h, w, c = ds.image_shape
    return export.to_ir(model, (c, h, w), name=f"tiny_{kind}"), ds


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["resnet", "densenet"])
def test_trained_graph_bit_exact(kind):
    """The tiny trained ResNet / DenseNet (tests/graph_models.py): RTL == golden on 24 test images."""
    net, ds = _trained_net(kind)
    fold = _tiny_folding(net)
    r = check_case(net, fold, 3, ds.x_test[:24])
    _assert_rate(r, net)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["resnet", "densenet"])
def test_trained_graph_back_pressure_200_frames(kind):
    """200 frames with random source gaps and sink back-pressure: complete and correct."""
    net, ds = _trained_net(kind)
    fold = fo.for_target(net, 7056)  # the 28x28 stem's window generator: 7056 words per frame at least
    imgs = ds.x_test[:200]
    r = check_case(net, fold, 3, imgs, source_pause=0.3, sink_pause=0.4, seed=7)
    steady = cosim.steady_cycles(r.t_end)
    print(f"{net.name}: 200 frames under back-pressure: {steady:.1f} cycles/frame (analytical without: "
          f"{r.analytical_cycles})")
    assert r.scores.shape == (200, net.num_classes)


def test_graph_design_lints_clean(tmp_path):
    """bnnfpga rtl on a graph model file: the design passes verilator --lint-only -Wall."""
    from bnnfpga import modelfile
    from bnnfpga.cli import main

    net, _, _, _ = random_case(0)
    modelfile.save(net, tmp_path / "g.bnn")
    assert main(["rtl", str(tmp_path / "g.bnn"), "-o", str(tmp_path / "out"), "--lint"]) == 0
