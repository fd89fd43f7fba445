"""The graph stages of the resource model are calibrated against yosys (bnnfpga/graph_calibration.json,
made by scripts/calibrate_graph_resources.py), and the per-stage yosys figure of a design
(bnnfpga.rtl.stage_yosys) reads every stage of the generated top level."""
import json

import numpy as np
import pytest

from bnnfpga import graph_resources as G
from bnnfpga import random_net as rn
from bnnfpga import resources as R
from bnnfpga.rtl import backend, graph, stage_yosys


@pytest.fixture(scope="module")
def chain_model():
    return R.ResourceModel.load()


def test_calibration_file_loads_with_holdout_error():
    data = json.loads(G.GRAPH_CALIBRATION_FILE.read_text())
    gm = G.GraphModel.load()
    assert set(gm.coef) == set(G.GRAPH_FEATURES)
    for kind, names in G.GRAPH_FEATURES.items():
        for res in G.GRAPH_RESOURCES:
            assert set(gm.coef[kind][res]) <= set(names), (kind, res)
            assert all(v >= 0 for v in gm.coef[kind][res].values())
    hold = data["holdout_error"]
    assert hold["points"] >= 20
    # every hold-out point is stored with its yosys figure, and the summary is theirs
    rows = [r for r in data["points"] if r["split"] == "holdout"]
    assert len(rows) == hold["points"]
    assert hold["lut"]["max"] == pytest.approx(max(r["lut_err"] for r in rows))
    assert hold["lut"]["mean"] <= 0.15  # the calibration's target: graph stages within 15% on hold-out points
    # hold-out points are never fitted: the data file marks them and the fit skips them
    cal = [r for r in data["points"] if r["split"] == "cal"]
    assert cal and not {r["point"] for r in cal} & {r["point"] for r in rows}


def _by_hand(gm, kind, p):
    feats, _ = G.graph_features(kind, p)
    return [max(0.0, sum(gm.coef[kind][res].get(f, 0.0) * v for f, v in feats.items())) for res in G.GRAPH_RESOURCES]


@pytest.mark.parametrize("kind", ["resnet", "densenet"])
def test_graph_estimates_are_the_fitted_formula(chain_model, kind):
    """Every graph stage (adds, thresholds, concats, dups, FIFOs, integer-output MVTUs) is estimated by
    the graph calibration's linear formula; the chain stages and the width converters (rebuilt after
    the graph calibration; the chain model is calibrated on the new RTL) by the chain model."""
    rng = np.random.default_rng(11 if kind == "resnet" else 12)
    net = rn.random_graph_network(rng, kind)
    fold = rn.random_folding(rng, net)
    gm = G.GraphModel.load()
    est = G.graph_network(chain_model, net, fold)
    seen = set()
    for e in est:
        if e.kind == "dwc":
            seen.add("dwc")
            assert e.res.lut == pytest.approx(chain_model.dwc(e.params)[0].lut), e.name
            continue
        if e.kind in ("add", "threshold", "concat", "dup", "fifo"):
            gk = e.kind
        elif e.kind in ("conv", "dense") and e.params["SCORES"]:
            gk = "mvtu_int"
        else:
            continue
        seen.add(gk)
        lut, ff = _by_hand(gm, gk, e.params)
        assert e.res.lut == pytest.approx(lut) and e.res.ff == pytest.approx(ff), e.name
    want = {"dup", "dwc", "fifo", "mvtu_int"} | ({"add", "threshold"} if kind == "resnet" else {"concat"})
    assert want <= seen
    tot = chain_model.total(net, fold)
    assert tot.lut == pytest.approx(sum(e.res.lut for e in est))


def test_top_instances_lists_every_stage_and_fifo(tmp_path):
    rng = np.random.default_rng(3)
    net = rn.random_graph_network(rng, "resnet")
    fold = rn.random_folding(rng, net)
    files = backend.generate(net, fold)
    d = backend.write_design(files, tmp_path / "d")
    insts = stage_yosys.top_instances((d / "rtl" / "bnn_top.sv").read_text())
    by = {i["instance"]: i for i in insts}
    pl = graph.plan_graph(net, fold)
    for st in pl.stages:
        assert by[st.inst]["module"] == st.module and by[st.inst]["params"] == dict(st.params)
    for s in pl.streams:
        assert by[f"u_fifo_s{s.sid}"]["params"] == {"W": s.width, "DEPTH": s.depth}
    assert len(insts) == len(pl.stages) + len(pl.streams) + 1  # + control
    # a stage's key changes with its parameters and with its sources (ROM files included)
    a = stage_yosys.stage_sources(d, "bnn_fifo")
    k1 = stage_yosys.stage_key("bnn_fifo", {"W": 8, "DEPTH": 2}, a)
    assert k1 != stage_yosys.stage_key("bnn_fifo", {"W": 8, "DEPTH": 4}, a)
    lay = next(i["module"] for i in insts if i["module"].startswith("layer_"))
    srcs = stage_yosys.stage_sources(d, lay)
    assert any(k.startswith("mem/") for k in srcs)
    changed = dict(srcs)
    mem = next(k for k in srcs if k.startswith("mem/"))
    changed[mem] = srcs[mem] + "0\n"
    assert stage_yosys.stage_key(lay, {}, srcs) != stage_yosys.stage_key(lay, {}, changed)


@pytest.mark.skipif(not R.yosys_available(), reason="yosys not installed")
def test_stage_synthesis_is_cached(tmp_path):
    srcs = {"bnn_dup.sv": (backend.TEMPLATE_DIR / "bnn_dup.sv").read_text()}
    a = stage_yosys.synth_stage("bnn_dup", {"W": 16}, srcs, tmp_path)
    assert not a["cached"] and a["cells"]
    b = stage_yosys.synth_stage("bnn_dup", {"W": 16}, srcs, tmp_path)
    assert b["cached"] and b["cells"] == a["cells"]
    assert len(list(tmp_path.glob("*.json"))) == 1
