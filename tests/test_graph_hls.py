"""Shortcut networks in the HLS backend: C simulation == golden model on random graph networks and
on a tiny trained binary ResNet and DenseNet (all in one g++ program); plan, FIFO report, refusals."""
import numpy as np
import pytest

from bnnfpga import export, golden
from bnnfpga import folding as fo
from bnnfpga import random_net as rn
from bnnfpga.folding import LayerFold
from bnnfpga.hls import backend, csim

from graph_models import trained

pytestmark = pytest.mark.csim


def _tiny_folding(net):
    return {l.name: LayerFold(min(l.out_channels, 4) if l.out_channels % min(l.out_channels, 4) == 0 else 1,
                              max(d for d in fo.divisors(fo.simd_base(l)) if d <= 16)) for l in net.compute_layers()}


def test_graphs_bit_exact_in_c_simulation(tmp_path):
    """22 random graph networks (random blocks, growth rates, widths, foldings) + the trained tiny ResNet and
    DenseNet (24 Fashion-MNIST test images each): C simulation == golden model on every score."""
    rng = np.random.default_rng(99)
    cases = []
    for i in range(22):
        net = rn.random_graph_network(rng, "resnet" if i % 2 else "densenet", name=f"graph{i}")
        fold = rn.random_folding(rng, net)
        if i == 0:
            fold = fo.minimal(net)
        if i == 1:
            fold = {l.name: LayerFold(l.out_channels, fo.simd_base(l)) for l in net.compute_layers()}
        cases.append((net, fold, int(rng.integers(1, net.num_classes + 1)), rn.random_images(rng, net, 5)))
    for kind in ("resnet", "densenet"):
        model, ds = trained(kind)
        h, w, c = ds.image_shape
        net = export.to_ir(model, (c, h, w), name=f"tiny_{kind}")
        cases.append((net, _tiny_folding(net), 3, ds.x_test[:24]))
    dirs = []
    for i, (net, fold, k, _) in enumerate(cases):
        backend.compile_project(net, fold, tmp_path / f"p{i}", top_k=k)
        dirs.append(tmp_path / f"p{i}")
    exe, _ = csim.build_many(dirs, tmp_path / "many")
    kinds = set()
    for i, (net, fold, k, imgs) in enumerate(cases):
        res = csim.run_bench(exe, net, imgs, top_k=k, select=i, workdir=tmp_path / f"run{i}")
        bad = np.argwhere(res.scores != res.golden_scores)
        assert bad.size == 0, f"{net.name}: {len(bad)} scores differ\n{res.log}"
        assert np.array_equal(res.labels, res.golden_labels)
        assert "0 mismatches, 0 TLAST errors" in res.log, res.log
        kinds.update(s.kind for s in backend.plan(net, fold, k).stages)
    assert {"dup", "add", "threshold", "concat", "mvu_int", "convert", "maxpool"} <= kinds


def test_plan_reports_fifo_depths_and_pragmas():
    rng = np.random.default_rng(5)
    net = rn.random_graph_network(rng, "resnet")
    fold = fo.minimal(net)
    pl = backend.plan(net, fold)
    joins = [f for f in pl.fifos if f["shortcut"]]
    assert joins and pl.shortcut_fifo_bits > 0
    assert "join input of" in pl.fifo_table()
    files = backend.generate(net, fold)
    top = files["bnn_top.cpp"]
    for f in pl.fifos:
        assert f"#pragma HLS STREAM variable={f['stream']} depth={f['depth']}" in top
    assert "bnn_dup<" in top and "bnn_add<" in top and "bnn_threshold<" in top
    assert backend.generate(net, fold) == files  # deterministic
    assert pl.schedule.measured_period == pl.pipeline_cycles


def test_graph_refusals():
    net = rn.random_graph_network(np.random.default_rng(2), "densenet")
    with pytest.raises(backend.BackendError, match="runtime_params"):
        backend.plan(net, fo.minimal(net), runtime_params=True)
