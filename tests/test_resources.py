"""Resource model: memory placement as yosys does it, the stage chain equals the RTL
backend's, and estimates within 15% of yosys on configurations not used to calibrate."""
import json

import numpy as np
import pytest

from bnnfpga import random_net
from bnnfpga import resources as R
from bnnfpga.rtl import backend

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import calibrate_resources as cal  # noqa: E402


@pytest.mark.parametrize("depth,width,kind,bram", [
    (64, 64, "lut", 0), (256, 64, "lut", 0), (512, 16, "lut", 0), (256, 256, "lut", 0),
    (384, 64, "bram", 1), (512, 64, "bram", 1), (1024, 32, "bram", 1), (2048, 8, "bram", 0.5), (1024, 1024, "bram", 28.5),
])
def test_rom_placement_matches_yosys_probes(depth, width, kind, bram):
    # measured with yosys 0.23 synth_xilinx on bare ROMs of random content
    m = R.place_rom("w", depth, width)
    assert m.kind == kind and m.bram36 == bram


def test_stage_chain_equals_rtl_backend():
    rng = np.random.default_rng(5)
    for _ in range(12):
        net = random_net.random_network(rng)
        f = random_net.random_folding(rng, net)
        stages, _, _ = backend.plan(net, f)
        mine = R.stage_specs(net, f)
        assert [s.kind for s in stages] == [s.kind for s in mine]
        for a, b in zip(stages, mine):
            assert a.in_w == b.in_w
            if a.kind in ("dwc", "swg", "maxpool"):
                assert {k: v for k, v in a.params if k in b.params} == b.params
            if a is not stages[0]:
                assert a.fifo_depth == b.fifo_depth, (a.inst, a.fifo_depth, b.fifo_depth)


def _errors():
    data = cal.load_data()
    model = R.ResourceModel.load()
    return [r for r in cal.error_table(data, model) if r["split"] == "holdout"]


def test_holdout_mvtu_within_15_percent():
    """Every held-out MVTU (the stages holding >90% of a network's LUTs and all its weight
    BRAMs): LUT and BRAM within 15% of yosys."""
    rows = [r for r in _errors() if r["point"].startswith("mvtu:")]
    assert len(rows) >= 6
    for r in rows:
        assert r["lut_err"] <= 0.15, r
        assert r["bram_err"] <= 0.15, r


def test_calibration_file_is_the_fit_of_the_data():
    data = cal.load_data()
    coef = cal.fit(data)
    stored = json.loads(R.CALIBRATION_FILE.read_text())["coefficients"]
    for kind in coef:
        for res in coef[kind]:
            for k, v in coef[kind][res].items():
                assert stored[kind][res].get(k) == pytest.approx(v, rel=1e-3, abs=1e-6), (kind, res, k)


def test_model_rejects_a_bad_calibration_file(tmp_path):
    p = tmp_path / "c.json"
    p.write_text("{}")
    with pytest.raises(R.CalibrationError, match="coefficients"):
        R.ResourceModel.load(p)


@pytest.mark.skipif(not R.yosys_available(), reason="yosys not installed")
def test_live_yosys_on_unseen_configuration():
    """Synthesise a configuration that is neither a calibration nor a hold-out point."""
    srcs, top, _, params = cal.point_design("mvtu", ("bin", 96, 24, 4, 8))
    ref = R.cells_to_resources(R.synthesize(srcs, top))
    est, _ = R.ResourceModel.load().mvtu(params)
    print(f"yosys LUT {ref.lut}, model {est.lut:.0f}")
    assert R.relative_error(est.lut, ref.lut) <= 0.15
    assert est.bram36 == ref.bram36


@pytest.mark.slow
@pytest.mark.skipif(not R.yosys_available(), reason="yosys not installed")
@pytest.mark.parametrize("spec", [("bin", 384, 96, 12, 24), ("fix", 108, 48, 16, 4), ("score", 256, 10, 2, 16)])
def test_live_yosys_more_unseen(spec):
    srcs, top, _, params = cal.point_design("mvtu", spec)
    ref = R.cells_to_resources(R.synthesize(srcs, top))
    est, _ = R.ResourceModel.load().mvtu(params)
    assert R.relative_error(est.lut, ref.lut) <= 0.15, (est.lut, ref.lut)
    assert abs(est.bram36 - ref.bram36) <= max(1.0, 0.15 * ref.bram36)
