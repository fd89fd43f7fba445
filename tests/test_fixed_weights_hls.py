"""Fixed-point weights on the first / last layer: HLS C simulation bit-exact against the golden model."""
import numpy as np
import pytest

from bnnfpga import fixed_weights as fw
from bnnfpga import folding as fo
from bnnfpga import random_net as rn
from bnnfpga.folding import LayerFold
from bnnfpga.hls import backend, csim
from bnnfpga.hls.vectors import param_init_words

pytestmark = pytest.mark.csim


def _check(res, what):
    bad = np.argwhere(res.scores != res.golden_scores)
    assert bad.size == 0, f"{what}: {len(bad)} scores differ, first at {bad[0].tolist()}\n{res.log}"
    assert np.array_equal(res.labels, res.golden_labels), what
    assert "0 mismatches, 0 TLAST errors" in res.log, res.log


def _cases():
    """Chains and graphs, fixed first and/or last layer, random weight widths and foldings."""
    rng = np.random.default_rng(310)
    cases = []
    for i in range(7):
        kind = ["mlp", "cnn"][i % 2]
        net = rn.random_network(rng, kind, name=f"fw{i}")
        first, last = [(True, True), (True, False), (False, True)][i % 3]
        fw.random_fixed(rng, net, first=first, last=last)
        fold = rn.random_folding(rng, net)
        if i == 0:
            fold = fo.minimal(net)
        if i == 1:
            fold = {l.name: LayerFold(l.out_channels, fo.simd_base(l)) for l in net.compute_layers()}
        cases.append((net, fold, int(rng.integers(1, net.num_classes + 1))))
    for i, kind in enumerate(["resnet", "densenet"]):
        net = rn.random_graph_network(rng, kind, name=f"fwg{i}")
        fw.random_fixed(rng, net, first=True, last=i == 0)
        cases.append((net, fo.minimal(net) if i else rn.random_folding(rng, net), 1))
    return cases, rng


def test_fixed_weight_networks_bit_exact(tmp_path):
    cases, rng = _cases()
    assert any(l.weight_bits > 1 and l.input_kind == "binary" for n, _, _ in cases for l in n.compute_layers())
    assert any(l.weight_bits > 1 and l.thresholds is not None for n, _, _ in cases for l in n.compute_layers())
    dirs = []
    for i, (net, fold, k) in enumerate(cases):
        d = tmp_path / f"p{i}"
        backend.compile_project(net, fold, d, top_k=k)
        dirs.append(d)
        if i == 0:
            text = "".join((d / n).read_text() for n in sorted(p.name for p in d.glob("params_*.h")))
            assert "-bit two's complement integers" in text
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    for i, (net, fold, k) in enumerate(cases):
        imgs = rn.random_images(rng, net, 5)
        res = csim.run_bench(exe, net, imgs, top_k=k, select=i, workdir=tmp_path / f"run{i}")
        _check(res, f"{net.name} {fold}")


@pytest.mark.slow
def test_runtime_params_load_fixed_weights(tmp_path):
    """A runtime_params build of a fixed-weight network computes another network of the same shape
    after do_init loads that one's signed weight words."""
    rng = np.random.default_rng(11)
    a = rn.random_network(rng, "mlp", name="a")
    b = rn.random_network(np.random.default_rng(11), "mlp", name="b")
    fw.random_fixed(np.random.default_rng(1), a, bits=6)
    fw.random_fixed(np.random.default_rng(2), b, bits=6)
    fold = {l.name: LayerFold(1, min(4, fo.simd_base(l)) if fo.simd_base(l) % 4 == 0 else 1) for l in a.compute_layers()}
    backend.compile_project(a, fold, tmp_path / "rt", runtime_params=True)
    exe, _ = csim.build(tmp_path / "rt", tmp_path / "rt_exe")
    imgs = rn.random_images(rng, a, 4)
    _check(csim.run_bench(exe, a, imgs, workdir=tmp_path / "r0"), "runtime build, A")
    res = csim.run_bench(exe, a, imgs, init_rows=param_init_words(b, fold), golden_net=b, workdir=tmp_path / "r1")
    _check(res, "runtime build loaded with B")
