"""Stages that handle chains only refuse graph networks with one line (no traceback)."""
import numpy as np
import pytest

from bnnfpga import modelfile
from bnnfpga.cli import main
from bnnfpga.random_net import random_graph_network


@pytest.fixture()
def graph_model(tmp_path):
    net = random_graph_network(np.random.default_rng(3), "resnet")
    p = tmp_path / "g.bnn"
    modelfile.save(net, p)
    return p


@pytest.mark.parametrize("cmd", [["rtl", "-o", "OUT"], ["fold", "--board", "pynq-z2"], ["report", "-o", "OUT"]])
def test_rtl_fold_report_handle_graphs(graph_model, tmp_path, capsys, cmd):
    """The RTL backend (bnnfpga.rtl.graph), the folding optimizer (bnnfpga.graph_optimizer) and the
    report (bnnfpga.graph_resources) take graph networks."""
    cmd = [c.replace("OUT", str(tmp_path / "out")) for c in cmd]
    assert main([cmd[0], str(graph_model)] + cmd[1:]) == 0
    out = capsys.readouterr().out
    if cmd[0] == "rtl":
        assert (tmp_path / "out" / "rtl" / "bnn_top.sv").exists() and "cycles per frame" in out
    else:
        assert "cycles" in out


def test_compile_graph_without_folding_uses_cycle_target(graph_model, tmp_path, capsys):
    assert main(["compile", str(graph_model), "-o", str(tmp_path / "hls")]) == 0
    assert "graph network" in capsys.readouterr().out
    assert (tmp_path / "hls" / "bnn_top.cpp").exists()
