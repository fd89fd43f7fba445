"""LayerFold.lut_pe in graph networks (ResNet / DenseNet): the last lut_pe PEs of a layer keep
their weights in a LUT ROM in both backends, bit-exact in C-sim and RTL co-simulation, and the
resource model moves those weights from block RAM to LUTs."""
import dataclasses

import numpy as np
import pytest

from bnnfpga import folding as fo
from bnnfpga import random_net as rn
from bnnfpga.golden import GoldenModel
from bnnfpga.ir import weight_bits
from bnnfpga.resources import ResourceModel


def _case(seed: int, kind: str):
    """A random graph network, a random folding with lut_pe on every binary-weight layer with
    PE > 1 (half of its PEs, or all for odd seeds), and 5 images."""
    rng = np.random.default_rng(seed)
    net = rn.random_graph_network(rng, kind, name=f"lutpe_{kind}{seed}")
    fold = rn.random_folding(rng, net)
    split = {}
    for l in net.compute_layers():
        f = fold[l.name]
        if weight_bits(l) == 1 and f.pe > 1:
            split[l.name] = dataclasses.replace(f, lut_pe=f.pe if seed % 2 else f.pe // 2)
    assert split, "the case needs at least one split layer"
    fold = {**fold, **split}
    fo.check(net, fold)
    return net, fold, rn.random_images(rng, net, 5)


CASES = [(4, "resnet"), (3, "densenet")]  # resnet: half the PEs split; densenet: whole layers in LUT ROM


@pytest.mark.parametrize("seed,kind", CASES)
def test_design_text_and_resource_model(seed, kind):
    from bnnfpga.hls import backend as hb
    from bnnfpga.rtl import backend as rb

    net, fold, _ = _case(seed, kind)
    hls = hb.generate(net, fold)
    rtl = rb.generate(net, fold)
    for name, f in fold.items():
        if not f.lut_pe:
            continue
        mod = f"layer_{name}"
        assert '(* rom_style = "logic" *)' in rtl[f"rtl/{mod}.sv"] and f"mem/{mod}_weights_lut.mem" in rtl
        assert (f"mem/{mod}_weights.mem" in rtl) == (f.lut_pe < f.pe)
        var = [p for p in hls if p.startswith("params_") and f"'{name}'" in hls[p]]
        assert var and ("impl=lutram" in hls["bnn_top.cpp"])
    # the model sees the split (tests/test_lut_rom.py checks what it does with it); these tiny
    # ROMs are LUT ROMs already, so the totals may not move, but never towards more block RAM
    from bnnfpga.resources import mvtu_params

    for l in net.compute_layers():
        assert mvtu_params(net, l, fold[l.name]).get("LUTPE", 0) == fold[l.name].lut_pe
    m = ResourceModel.load()
    plain = {k: dataclasses.replace(v, lut_pe=0) for k, v in fold.items()}
    a, b = m.total(net, plain), m.total(net, fold)
    assert b.bram36 <= a.bram36 and b.lut >= a.lut


@pytest.mark.csim
@pytest.mark.parametrize("seed,kind", CASES)
def test_csim_bit_exact(seed, kind, tmp_path):
    from bnnfpga.hls import csim

    net, fold, imgs = _case(seed, kind)
    np.testing.assert_array_equal(csim.simulate(net, imgs, fold, workdir=tmp_path), GoldenModel(net).run(imgs))


@pytest.mark.cosim
@pytest.mark.parametrize("seed,kind", [CASES[0], pytest.param(*CASES[1], marks=pytest.mark.slow)])
def test_rtl_bit_exact_and_cycles(seed, kind):
    from bnnfpga.rtl import cosim

    net, fold, imgs = _case(seed, kind)
    r = cosim.cosimulate(net, imgs, fold)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(imgs))
    assert r.cycles_per_frame is not None and abs(r.cycles_per_frame / r.analytical_cycles - 1) <= 0.02
