"""The MVTU flip-flop features (resources.mvtu_ff_features): one per register group of
bnn_mvtu / layer.sv.j2, checked against yosys synth_xilinx."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import calibrate_resources as cal  # noqa: E402
from bnnfpga import resources as R  # noqa: E402


def test_holdout_mvtu_flip_flops_within_5_percent():
    rows = [r for r in cal.error_table(cal.load_data(), R.ResourceModel.load())
            if r["split"] == "holdout" and r["point"].startswith("mvtu:")]
    assert len(rows) >= 10
    for r in rows:
        assert r["ff_err"] <= 0.05, r


def test_rom_register_bits():
    assert R.rom_register_bits(100, 1) == 0.0  # a one-word ROM is a constant
    assert R.rom_register_bits(384, 2) == pytest.approx(2.0)  # 2 words: only columns 01 and 10
    assert R.rom_register_bits(128, 4) < 14.0  # at most 2^4 - 2 distinct columns
    assert R.rom_register_bits(64, 64) == 64.0
    assert R.rom_register_bits(216, 8) == pytest.approx(254 * (1 - (1 - 1 / 254) ** 216))


def _ff(**kw):
    p = {"PE": 4, "SIMD": 8, "SF": 8, "NF": 4, "EW": 1, "FIXED": 0, "SCORES": 0, "AW": 10, "FANIN": 64}
    p.update(kw)
    return R.mvtu_features(p, R.mvtu_memories(p))


def test_register_groups_follow_the_rtl():
    f = _ff()
    assert f["counters"] == 3 + 2 + 5 and f["ff_ctl"] == 4
    assert f["ff_in"] == 8 + 3  # x1 and the LUT RAM buffer's read address
    assert f["ff_out"] == 4
    assert f["ff_wreg"] == pytest.approx(32.0)  # 32 words: every column distinct
    # SF = 1 < NF: the input buffer is a register of its own; no accumulator, no first/last flags
    g = _ff(SIMD=64, SF=1)
    assert g["ff_in"] == 128 and g["ff_ctl"] == 2
    # NF = 1: constant thresholds (no register), input never replayed
    h = _ff(NF=1)
    assert h["ff_treg"] == 0.0 and h["ff_in"] == 8
    # scores: PE x (AW + 1) output bits
    assert _ff(SCORES=1)["ff_out"] == 4 * 11


@pytest.mark.skipif(not R.yosys_available(), reason="yosys not installed")
def test_live_yosys_flip_flops_on_unseen_configuration():
    srcs, top, _, params = cal.point_design("mvtu", ("bin", 96, 24, 4, 8))
    ref = R.cells_to_resources(R.synthesize(srcs, top))
    est, _ = R.ResourceModel.load().mvtu(params)
    assert R.relative_error(est.ff, ref.ff) <= 0.05, (est.ff, ref.ff)
