"""Full-size RTL co-simulation (slow): the LFC-shaped MLP and the CNV-shaped
ConvNet at BNN-PYNQ's folding, bit-exact and at the analytical cycles per frame."""
import numpy as np
import pytest

from bnnfpga import folding as fold_mod
from bnnfpga import random_net
from bnnfpga.golden import GoldenModel
from bnnfpga.rtl import cosim, reference_nets

pytestmark = [pytest.mark.slow, pytest.mark.cosim]


@pytest.mark.parametrize("which,frames", [("lfc", 12), ("cnv", 4)])
def test_reference_network_bit_exact(which, frames):
    net, f = getattr(reference_nets, which)(), getattr(reference_nets, f"{which}_folding")()
    images = random_net.random_images(np.random.default_rng(11), net, frames)
    r = cosim.cosimulate(net, images, f)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))
    analytical = fold_mod.pipeline_cycles(net, f)
    print(f"{net.name}: measured {r.cycles_per_frame} cycles/frame, analytical {analytical}, "
          f"latency {r.latency_cycles}, build {r.build_seconds:.1f} s, sim {r.sim_seconds:.1f} s")
    assert abs(r.cycles_per_frame / analytical - 1) <= 0.02


@pytest.mark.parametrize("which", ["lfc", "cnv"])
def test_reference_network_lint_clean(which, tmp_path):
    from test_rtl_backend import _lint

    from bnnfpga.rtl import backend

    net, f = getattr(reference_nets, which)(), getattr(reference_nets, f"{which}_folding")()
    rc, out = _lint(tmp_path, backend.generate(net, f))
    assert rc == 0 and "%Warning" not in out, out[:2000]
