"""Fixed-point weights on the first / last layer: RTL co-simulation (cocotb + Verilator) bit-exact
against the golden model, at the analytical cycles per frame; the generated text."""
import numpy as np
import pytest

from bnnfpga import fixed_weights as fw
from bnnfpga import folding as fold_mod
from bnnfpga import random_net
from bnnfpga.folding import LayerFold
from bnnfpga.rtl import backend


def _net(seed, kind, first=True, last=True, bits=None):
    rng = np.random.default_rng(seed)
    while True:  # small enough for a quick Verilator build
        net = random_net.random_network(rng, kind, name=f"fw-{kind}-{seed}")
        if sum(l.fan_in * l.out_channels for l in net.compute_layers()) <= 3000:
            break
    return fw.random_fixed(rng, net, first=first, last=last, bits=bits)


def test_generated_text_and_binary_designs_unchanged():
    net = _net(1, "mlp", bits=6)
    files = backend.generate(net, fold_mod.minimal(net))
    assert "rtl/bnn_mvtu_fw.sv" in files and "rtl/bnn_mvtu_fw.sv" in files["files.f"]
    first = backend.plan(net, fold_mod.minimal(net))[1][0]
    text = files[f"rtl/{first.module}.sv"]
    assert "bnn_mvtu_fw #(" in text and ".WB(6)" in text
    assert "6-bit two's complement" in files[first.mem_file]
    # a binary network does not get the module, and its text is what it was
    plain = random_net.random_network(np.random.default_rng(1), "mlp")
    pf = backend.generate(plain, fold_mod.minimal(plain))
    assert "rtl/bnn_mvtu_fw.sv" not in pf and "bnn_mvtu_fw" not in "".join(pf.values())


@pytest.mark.cosim
@pytest.mark.parametrize("seed,kind,first,last", [(3, "mlp", True, True), (4, "cnn", True, True),
                                                  pytest.param(5, "cnn", False, True, marks=pytest.mark.slow),
                                                  pytest.param(6, "mlp", True, False, marks=pytest.mark.slow)])
def test_cosim_fixed_weights(seed, kind, first, last):
    from bnnfpga.rtl import cosim
    from test_rtl_cosim import check_result

    net = _net(seed, kind, first, last)
    rng = np.random.default_rng(seed)
    fold = random_net.random_folding(rng, net)
    images = random_net.random_images(rng, net, 4)
    r = cosim.cosimulate(net, images, fold, top_k=min(2, net.num_classes))
    check_result(net, images, fold, r, top_k=min(2, net.num_classes))


@pytest.mark.cosim
@pytest.mark.slow
def test_cosim_runtime_load_fixed_weights():
    from bnnfpga.rtl import cosim
    from test_rtl_cosim import check_result

    a = _net(7, "mlp", bits=5)
    b = _net(7, "mlp", bits=5)
    fw.random_fixed(np.random.default_rng(99), b, bits=5)
    fold = {l.name: LayerFold(1, 1) for l in a.compute_layers()}
    images = random_net.random_images(np.random.default_rng(0), a, 3)
    r = cosim.cosimulate(a, images, fold, runtime_params=True, load=b)
    check_result(b, images, fold, r)
