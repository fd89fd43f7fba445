"""yosys resource estimates of a tiny generated design (skipped without yosys)."""
import json

import numpy as np
import pytest

from bnnfpga import folding as fold_mod
from bnnfpga.ir import Dense, InputSpec, Network
from bnnfpga.rtl import backend, yosys


def tiny_net():
    rng = np.random.default_rng(0)
    fc = Dense("fc", 4, 2, rng.integers(0, 2, (2, 4), dtype=np.uint8), input_kind="fixed")
    return Network("tiny", InputSpec(2, 2, 1), [fc]).validate()


def test_stat_json_parser_drops_hierarchy_lines():
    text = '{\n "modules": {\n  "\\\\top": {"num_cells_by_type": {"LUT2": 3, "sub": 2}},\n' \
           '  "sub": {"num_cells_by_type": {"FDRE": 4, "RAMB18E1": 1}}\n },\n' \
           '     sub     2\n "design": {}\n}\n'
    stat = yosys.parse_stat_json(text)
    tot = yosys._totals(stat)
    assert yosys._counts(tot["top"]) == {"LUT": 3, "LUTRAM": 0, "FF": 8, "BRAM": 1.0, "DSP": 0}


@pytest.mark.cosim
@pytest.mark.skipif(yosys.yosys_path() is None, reason="yosys not installed")
def test_yosys_estimate_writes_reports(tmp_path):
    net = tiny_net()
    d = backend.write_design(backend.generate(net, fold_mod.minimal(net)), tmp_path / "d")
    rep = yosys.estimate(d)
    assert rep["total"]["LUT"] > 0 and rep["total"]["FF"] > 0
    stages = {s["instance"]: s for s in rep["stages"]}
    assert {"u_input", "u_layer_fc", "u_output", "u_control"} <= set(stages)
    # per-stage rows add up to the total
    for k in ("LUT", "FF"):
        assert sum(s[k] for s in rep["stages"]) == rep["total"][k]
    assert json.loads((d / "resources.json").read_text())["total"] == rep["total"]
    assert "total" in (d / "resources.txt").read_text()


def test_missing_yosys_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(yosys, "yosys_path", lambda: None)
    with pytest.raises(yosys.YosysMissing, match="yosys is not installed"):
        yosys.estimate(tmp_path)
