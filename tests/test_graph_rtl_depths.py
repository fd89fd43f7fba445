"""The graph RTL's FIFO depths (bnnfpga.rtl.graph.plan_graph): every FIFO, not only the shortcut FIFOs
feeding a join, gets the formula's depth.  Capping the FIFOs inside a branch at the chain backend's
depth (as the RTL backend once did) stalls forks and loses throughput: the cycle-accurate model shows it
on small ResNets and DenseNets, and the RTL co-simulation of one runs at the analytical rate."""
import numpy as np
import pytest
import torch

from bnnfpga import export, fifo_depth as fd, folding as fo, random_net as rn, zoo
from bnnfpga.golden import GoldenModel
from bnnfpga.rtl import cosim
from bnnfpga.rtl.graph import plan_graph

CASES = [("binary_resnet", dict(stages=[1, 1], base=4), (1, 12, 12), 2000),
         ("binary_densenet", dict(layers_per_unit=[2, 2], growth=3), (1, 12, 12), 2000)]


def _net(arch, kw, shape):
    torch.manual_seed(0)
    m = zoo.build(arch, input_shape=list(shape), classes=4, **kw).eval()
    return export.to_ir(m, shape, name=arch)


@pytest.mark.parametrize("arch,kw,shape,target", CASES)
def test_every_fifo_at_the_formula_depth_runs_at_the_rate(arch, kw, shape, target):
    net = _net(arch, kw, shape)
    pl = plan_graph(net, fo.for_target(net, target), 1)
    depths = {f"s{s.sid}": s.depth for s in pl.streams}
    assert all(s.depth == s.formula for s in pl.streams)
    full = fd.simulate(pl.procs, depths, frames=4)
    assert not full.deadlock and full.period == pl.cycles
    # the old rule: chain depth (4) on every FIFO that does not feed a join -> slower
    joins = {f"s{s.sid}" for s in pl.streams if s.role.startswith("join")}
    capped = {k: (v if k in joins else min(v, 4)) for k, v in depths.items()}
    slow = fd.simulate(pl.procs, capped, frames=4)
    assert slow.deadlock or slow.period > pl.cycles * 1.1, (slow.period, pl.cycles)


@pytest.mark.cosim
def test_rtl_small_resnet_runs_at_the_analytical_rate():
    arch, kw, shape, target = CASES[0]
    net = _net(arch, kw, shape)
    images = rn.random_images(np.random.default_rng(0), net, 6)
    r = cosim.cosimulate(net, images, fo.for_target(net, target))
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))
    assert r.cycles_per_frame == r.analytical_cycles, (r.cycles_per_frame, r.analytical_cycles)
