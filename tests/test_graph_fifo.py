"""The shortcut FIFO depth formula (bnnfpga.fifo_depth) against a cycle-accurate simulation of the
HLS pipeline with bounded FIFOs and back-pressure: the computed depths never deadlock and reach the
analytical cycles per frame; clearly smaller shortcut depths deadlock or lose throughput."""
import numpy as np
import pytest

from bnnfpga import fifo_depth as fd
from bnnfpga import folding as fo
from bnnfpga import random_net as rn
from bnnfpga.folding import LayerFold
from bnnfpga.hls import backend
from bnnfpga.ir import Add, Conv2D, Dense, InputSpec, Network, Threshold, Thresholds


def _plan(net, fold):
    pl = backend.plan(net, fold)
    return pl, [s.proc for s in pl.stages]


@pytest.mark.parametrize("seed", range(8))
def test_formula_depths_run_at_the_analytical_rate(seed):
    rng = np.random.default_rng(40 + seed)
    net = rn.random_graph_network(rng, "resnet" if seed % 2 else "densenet")
    pl, procs = _plan(net, rn.random_folding(rng, net))
    P = pl.pipeline_cycles
    assert P == max(p.cycles for p in procs)  # the programs have the plan's analytical cycles
    r = fd.simulate(procs, pl.schedule.depths, frames=4)
    assert not r.deadlock
    assert r.period == P, (r.period, P)  # measured cycles per frame == analytical
    assert pl.schedule.measured_period == P


def _resnet_block(h=8, c=8):
    """stem (integer) -> [BN+sign -> 3x3 conv -> 3x3 conv] + identity -> BN+sign -> dense."""
    rng = np.random.default_rng(0)
    spec = InputSpec(h, h, 1)
    th = lambda n: Thresholds(np.zeros(n, np.int64), np.ones(n, np.int8))
    layers = [Conv2D("stem", 1, c, 3, "same", rng.integers(0, 2, (c, 9), dtype=np.uint8), input_kind="fixed"),
              Threshold("b_in", c, th(c)),
              Conv2D("conv1", c, c, 3, "same", rng.integers(0, 2, (c, 9 * c), dtype=np.uint8), thresholds=th(c)),
              Conv2D("conv2", c, c, 3, "same", rng.integers(0, 2, (c, 9 * c), dtype=np.uint8)),
              Add("add", ["stem", "conv2"], [0, 7]),
              Threshold("head", c, th(c)),
              Dense("fc", h * h * c, 10, rng.integers(0, 2, (10, h * h * c), dtype=np.uint8))]
    return Network("block", spec, layers).validate()


@pytest.mark.parametrize("fold", [LayerFold(1, 8), LayerFold(8, 8), LayerFold(2, 4)])
def test_resnet_block_smaller_shortcut_deadlocks_or_slows(fold):
    net = _resnet_block()
    f = {l.name: fold for l in net.compute_layers()}
    f["stem"] = LayerFold(fold.pe, 1)
    f["fc"] = LayerFold(2, 8)
    pl, procs = _plan(net, f)
    P = pl.pipeline_cycles
    short = next(x for x in pl.fifos if x["shortcut"] and x["formula"] > 8)
    s, d = short["stream"], short["formula"]
    depths = pl.schedule.depths
    ok = fd.simulate(procs, depths, frames=4)
    assert not ok.deadlock and ok.period == P
    # the smallest depths that complete / that keep the analytical rate, by bisection on the simulation
    live = fd.min_depth(procs, depths, s, frames=4)
    rate = fd.min_depth(procs, depths, s, frames=4, want_period=P)
    assert live <= rate <= d
    assert fd.simulate(procs, {**depths, s: live - 1}, frames=4).deadlock if live > 1 else True
    # a clearly smaller depth (a quarter of the formula's, or 2, the HLS default) fails
    for small in (max(1, d // 4), 2):
        r = fd.simulate(procs, {**depths, s: small}, frames=4)
        assert r.deadlock or r.period > P, (small, r)
    # the formula's depth is at least the row look-ahead of two 3x3 convolutions: ~2 rows of words
    lanes = 8 if fold.pe == 8 else fold.pe
    assert d >= 2 * 8 * 8 // lanes


def test_densenet_concat_needs_its_shortcut():
    rng = np.random.default_rng(8)
    while True:
        net = rn.random_graph_network(rng, "densenet")
        pl, procs = _plan(net, fo.minimal(net))
        big = [x for x in pl.fifos if x["shortcut"] and x["formula"] > 8]
        if big:
            break
    P = pl.pipeline_cycles
    for x in big:
        r = fd.simulate(procs, {**pl.schedule.depths, x["stream"]: 2}, frames=3)
        assert r.deadlock or r.period > P


def test_programs_match_the_plan_cycles():
    """Every stage's cycle program has exactly the plan's analytical cycles per frame."""
    rng = np.random.default_rng(3)
    for _ in range(6):
        net = rn.random_graph_network(rng)
        fold = rn.random_folding(rng, net)
        pl = backend.plan(net, fold)
        for s in pl.stages:
            assert s.proc.cycles == s.cycles, (s.kind, s.layer)
        assert fo.pipeline_cycles(net, fold) == pl.pipeline_cycles  # folding's report treats the graph
