"""Graph networks in the resource model (bnnfpga.graph_resources) and the folding optimizer
(bnnfpga.graph_optimizer): every stage and FIFO of the RTL plan counted, shortcut FIFO memory
included; foldings balanced over every branch (the RTL plan's cycles), inside the budget."""
import numpy as np
import pytest

from bnnfpga import folding as fo
from bnnfpga import optimizer
from bnnfpga import random_net as rn
from bnnfpga.graph_resources import fifo_resources, graph_network
from bnnfpga.optimizer import Budget
from bnnfpga.resources import ResourceModel
from bnnfpga.rtl import graph


@pytest.fixture(scope="module")
def model():
    return ResourceModel.load()


@pytest.mark.parametrize("seed", range(4))
def test_estimate_counts_every_stage_and_fifo(model, seed):
    rng = np.random.default_rng(70 + seed)
    net = rn.random_graph_network(rng, "resnet" if seed % 2 else "densenet")
    fold = rn.random_folding(rng, net)
    pl = graph.plan_graph(net, fold)
    est = graph_network(model, net, fold)
    fifos = [e for e in est if e.kind == "fifo"]
    assert len(fifos) == len(pl.streams)
    assert sum(e.params["W"] * e.params["DEPTH"] for e in fifos) == pl.fifo_bits
    assert len(est) == len(pl.stages) + len(pl.streams) + 1  # + control
    kinds = {e.kind for e in est}
    assert {"dup", "conv", "dense", "fifo", "input", "output"} <= kinds
    assert ({"add", "threshold"} if seed % 2 else {"concat"}) <= kinds
    tot = model.total(net, fold)
    assert tot.lut > 0 and tot.lut == pytest.approx(sum(e.res.lut for e in est))
    sc = fifo_resources(model, net, fold)
    assert 0 < sc.lut + 64 * sc.bram36 < tot.lut + 64 * tot.bram36
    per = model.per_layer(net, fold)
    assert sum(r.lut for r in per.values()) == pytest.approx(tot.lut)


def test_deeper_shortcut_costs_more(model):
    """FIFO memory is counted: the same design with its shortcut FIFOs 8x deeper costs more."""
    net = rn.random_graph_network(np.random.default_rng(3), "resnet")
    fold = fo.minimal(net)
    pl = graph.plan_graph(net, fold)
    joins = [s for s in pl.streams if s.role.startswith("join")]
    a = model.fifo(joins[0].width, joins[0].depth)[0]
    b = model.fifo(joins[0].width, joins[0].depth * 8)[0]
    assert b.lut + 64 * b.bram36 > a.lut + 64 * a.bram36


@pytest.mark.parametrize("seed", range(3))
def test_optimizer_balances_branches_within_budget(model, seed):
    net = rn.random_graph_network(np.random.default_rng(90 + seed))
    r = optimizer.optimize(net, "pynq-z2", model=model)
    fo.check(net, r.folding)
    pl = graph.plan_graph(net, r.folding)
    assert r.feasible and r.cycles == pl.cycles  # the RTL plan's cycles: every stage of every branch
    assert max(s.cycles for s in pl.stages) == r.cycles
    assert r.resources.lut == pytest.approx(model.total(net, r.folding).lut)
    # a lanes budget is respected, and is slower or equal
    small = optimizer.optimize(net, lanes=12, model=model)
    assert small.lanes <= 12 and small.cycles >= r.cycles
    # the cheapest folding meeting a rate meets it
    T = 2 * r.cycles
    t = optimizer.optimize(net, "pynq-z2", target_fps=100e6 / T, model=model)
    assert t.feasible and t.cycles <= T and t.lanes <= r.lanes


def test_optimizer_reports_an_impossible_budget(model):
    net = rn.random_graph_network(np.random.default_rng(5), "densenet")
    r = optimizer.optimize(net, budget=Budget(lut=50.0), model=model)
    assert not r.feasible and r.binding == "LUT"


@pytest.mark.parametrize("seed", range(4))
def test_rtl_fifo_depths_reach_the_rate_in_the_cycle_model(seed):
    """The RTL plan's depths (formula on join inputs, chain depths elsewhere) in bnnfpga.fifo_depth.simulate
    of the RTL's own cycle programs: no deadlock, the analytical cycles per frame."""
    from bnnfpga import fifo_depth as fd

    rng = np.random.default_rng(300 + seed)
    net = rn.random_graph_network(rng, "resnet" if seed % 2 else "densenet")
    pl = graph.plan_graph(net, rn.random_folding(rng, net))
    depths = {o: 1 << 30 for p in pl.procs for o in p.outs if "~" in o}  # module-internal registers
    depths.update({f"s{s.sid}": s.depth for s in pl.streams})
    r = fd.simulate(pl.procs, depths, frames=4)
    assert not r.deadlock and r.period == pl.cycles
    assert pl.schedule.measured_period == pl.cycles


@pytest.mark.slow
def test_graph_estimate_against_yosys(model, tmp_path):
    """yosys synth_xilinx of a small graph design: LUT and FF within 25% of the model's estimate;
    the FIFO instances are named in the per-stage report."""
    from bnnfpga.rtl import backend, yosys

    if yosys.yosys_path() is None:
        pytest.skip("yosys not installed")
    net = rn.random_graph_network(np.random.default_rng(11), "resnet")
    fold = fo.for_target(net, 2304)
    d = backend.write_design(backend.generate(net, fold), tmp_path / "d")
    rep = yosys.estimate(d)
    est = model.total(net, fold)
    print(f"yosys LUT {rep['total']['LUT']} FF {rep['total']['FF']}; model LUT {est.lut:.0f} FF {est.ff:.0f}")
    assert abs(est.lut / rep["total"]["LUT"] - 1) < 0.25
    assert abs(est.ff / rep["total"]["FF"] - 1) < 0.25
    assert any("join input" in s["what"] for s in rep["stages"])


def test_optimizer_finds_a_faster_folding_when_the_slowest_needs_more_fifo_memory(model):
    """A graph's slowest folding is not its smallest: its FIFOs hold more words the slower the
    branches run.  With 5 BRAM36 the slowest foldings do not fit, a faster one does, and the
    optimizer finds it instead of reporting that nothing fits; with 2 it says what binds."""
    from bnnfpga import export, zoo

    net = export.to_ir(zoo.binary_resnet(input_shape=(1, 16, 16), stages=(1, 1), base=32).eval(), (1, 16, 16),
                       name="r16")
    r = optimizer.optimize(net, budget=Budget(lut=60000, bram36=5), model=model)
    assert r.feasible and r.resources.bram36 <= 5 and r.cycles == graph.plan_graph(net, r.folding).cycles
    # the premise: slower foldings of this network need more block RAM than 5
    assert all(model.total(net, fo.for_target(net, T)).bram36 > 5 for T in (4 * r.cycles, 16 * r.cycles, 128 * r.cycles))
    assert "slower foldings need more FIFO memory" in r.message
    none = optimizer.optimize(net, budget=Budget(lut=60000, bram36=2), model=model)
    assert not none.feasible and none.binding == "BRAM36" and "no folding found that fits" in none.message
