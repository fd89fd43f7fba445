"""HLS backend: C simulation with g++, bit-exact against the golden model."""
import copy

import numpy as np
import pytest

from bnnfpga import folding as fo
from bnnfpga import random_net as rn
from bnnfpga.folding import LayerFold
from bnnfpga.golden import label_select
from bnnfpga.hls import backend, csim, shapes
from bnnfpga.hls.vectors import param_init_words
from bnnfpga.random_net import _thresholds

pytestmark = pytest.mark.csim


def _check(res, what):
    assert res.scores.shape == res.golden_scores.shape, what
    bad = np.argwhere(res.scores != res.golden_scores)
    assert bad.size == 0, f"{what}: {len(bad)} scores differ, first at {bad[0].tolist()}\n{res.log}"
    assert np.array_equal(res.labels, res.golden_labels), what
    assert "0 mismatches, 0 TLAST errors" in res.log, res.log


def test_random_networks_bit_exact(tmp_path):
    """24 random networks with random legal foldings, plus one with hostile layer names, in one program."""
    rng = np.random.default_rng(2024)
    cases, seen = [], {"pe1simd1": 0, "full": 0}
    for i in range(24):
        net = rn.random_network(rng, "mlp" if i % 3 == 0 else "cnn", name=f"rand{i}")
        fold = rn.random_folding(rng, net)
        if i == 0:
            fold = fo.minimal(net)
        if i == 1:
            fold = {l.name: LayerFold(l.out_channels, fo.simd_base(l)) for l in net.compute_layers()}
        for l in net.compute_layers():
            f = fold[l.name]
            seen["pe1simd1"] += f.pe == 1 and f.simd == 1
            seen["full"] += f.pe == l.out_channels and f.simd == fo.simd_base(l)
        cases.append((net, fold, int(rng.integers(1, net.num_classes + 1))))
    odd = shapes.odd_names(np.random.default_rng(5))
    cases.append((odd, rn.random_folding(np.random.default_rng(6), odd), 2))
    assert seen["pe1simd1"] > 0 and seen["full"] > 0
    dirs = []
    for i, (net, fold, k) in enumerate(cases):
        d = tmp_path / f"p{i}"
        backend.compile_project(net, fold, d, top_k=k)
        dirs.append(d)
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    for i, (net, fold, k) in enumerate(cases):
        imgs = rn.random_images(rng, net, 6)
        res = csim.run_bench(exe, net, imgs, top_k=k, select=i, workdir=tmp_path / f"run{i}")
        _check(res, f"{net.name} {fold}")


def test_mlps_bit_exact(tmp_path):
    """The MLP shapes (widths 64 / 256 / 1024), 28x28 input, in one program."""
    rng = np.random.default_rng(7)
    cases = []
    for width, f_hidden in ((64, LayerFold(16, 16)), (256, LayerFold(32, 64)), (1024, LayerFold(64, 32))):
        net = shapes.mlp(rng, width)
        fold = {l.name: f_hidden for l in net.compute_layers()}
        fold["fc0"] = LayerFold(f_hidden.pe, 49)
        fold["fc_out"] = LayerFold(2, 8)
        cases.append((net, fold))
    dirs = []
    for i, (net, fold) in enumerate(cases):
        backend.compile_project(net, fold, tmp_path / f"p{i}")
        dirs.append(tmp_path / f"p{i}")
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    for i, (net, fold) in enumerate(cases):
        res = csim.run_bench(exe, net, rn.random_images(rng, net, 10), select=i, workdir=tmp_path / f"run{i}")
        _check(res, net.name)


def test_cnv_bit_exact(tmp_path):
    """The CNV shape with BNN-PYNQ's folding, 20 images, through the generated project's own bench."""
    rng = np.random.default_rng(11)
    net = shapes.cnv(rng)
    backend.compile_project(net, shapes.CNV_FOLDING, tmp_path / "cnv", top_k=3)
    exe, _ = csim.build(tmp_path / "cnv")
    res = csim.run_bench(exe, net, rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), top_k=3,
                         workdir=tmp_path / "run")
    _check(res, "cnv")


def _same_shape_network(rng, net):
    other = copy.deepcopy(net)
    other.name = net.name + "_b"
    for layer in other.compute_layers():
        layer.weights = rng.integers(0, 2, layer.weights.shape, dtype=np.uint8)
    for layer in other.compute_layers()[:-1]:
        layer.thresholds = _thresholds(rng, other, layer)
    return other.validate()


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_runtime_params_load_second_network(tmp_path, kind):
    """One build, two networks: B's parameters go in through the do_init register protocol."""
    rng = np.random.default_rng(31 if kind == "cnn" else 32)
    a = rn.random_network(rng, kind, name="net_a")
    fold = {}
    for l in a.compute_layers():  # loadable: SIMD <= 64
        simds = [d for d in fo.divisors(fo.simd_base(l)) if d <= 64]
        fold[l.name] = LayerFold(int(rng.choice(fo.divisors(l.out_channels))), int(rng.choice(simds)))
    b = _same_shape_network(rng, a)
    imgs = rn.random_images(rng, a, 8)
    backend.compile_project(a, fold, tmp_path / "rt", runtime_params=True)
    backend.compile_project(a, fold, tmp_path / "rom")
    exe, _ = csim.build_many([tmp_path / "rt", tmp_path / "rom"], tmp_path / "many")
    init_b = param_init_words(b, fold)
    # the runtime build starts with A's parameters, then computes B after loading B
    _check(csim.run_bench(exe, a, imgs, select=0, workdir=tmp_path / "r0"), "runtime build, A")
    res_b = csim.run_bench(exe, a, imgs, select=0, init_rows=init_b, golden_net=b, workdir=tmp_path / "r1")
    _check(res_b, "runtime build loaded with B")
    assert not np.array_equal(res_b.golden_scores, csim.run_bench(exe, a, imgs, select=1, workdir=tmp_path / "r2").scores)
    # the ROM build ignores do_init: still A
    _check(csim.run_bench(exe, a, imgs, select=1, init_rows=init_b, workdir=tmp_path / "r3"), "ROM build ignores init")
