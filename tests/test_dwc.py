"""bnn_dwc (rtl_templates/bnn_dwc.sv), the width converter rewritten as per-unit multiplexers:
proven equal, cycle by cycle, to the previous barrel-shifter design (tests/rtl_ref) by bounded
model checking in yosys (every input/ready sequence from reset up to a depth), and the
resource model's view of its structure."""
import subprocess
import sys
from pathlib import Path

import pytest

from bnnfpga import resources as R
from bnnfpga.rtl import backend

REF = Path(__file__).resolve().parent / "rtl_ref" / "bnn_dwc_ref.sv"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

MITER = """
module dwc_miter #(parameter int EW = 1, parameter int I = 8, parameter int O = 8, parameter int NIN = 1,
                   parameter int LASTN = I) (
    input logic clk, input logic rst_n, input logic [I*EW-1:0] in_data, input logic in_valid,
    input logic out_ready);
    logic r_ir, r_ov, n_ir, n_ov;
    logic [O*EW-1:0] r_od, n_od;
    bnn_dwc_ref #(.EW(EW), .I(I), .O(O), .NIN(NIN), .LASTN(LASTN)) ref_dwc (
        .clk, .rst_n, .in_data, .in_valid, .in_ready(r_ir), .out_data(r_od), .out_valid(r_ov), .out_ready);
    bnn_dwc #(.EW(EW), .I(I), .O(O), .NIN(NIN), .LASTN(LASTN)) new_dwc (
        .clk, .rst_n, .in_data, .in_valid, .in_ready(n_ir), .out_data(n_od), .out_valid(n_ov), .out_ready);
    logic started = 1'b0;  // checked from the cycle after the first reset
    always_ff @(posedge clk) if (!rst_n) started <= 1'b1;
    always_comb if (started) begin
        assert (r_ir == n_ir);
        assert (r_ov == n_ov);
        assert (!r_ov || r_od == n_od);
    end
endmodule
"""


def bmc(tmp_path, dut_text: str, params: dict, depth: int) -> subprocess.CompletedProcess:
    (tmp_path / "ref.sv").write_text(REF.read_text())
    (tmp_path / "dut.sv").write_text(dut_text)
    (tmp_path / "miter.sv").write_text(MITER)
    chp = " ".join(f"-chparam {k} {v}" for k, v in params.items())
    script = (f"read_verilog -sv -formal ref.sv dut.sv miter.sv; hierarchy -top dwc_miter {chp}; proc; flatten; "
              f"opt -fast; async2sync; dffunmap; "
              f"sat -seq {depth} -set-at 1 rst_n 0 -prove-asserts -set-init-zero -verify")
    return subprocess.run([R.YOSYS, "-q", "-p", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)


yosys = pytest.mark.skipif(not R.yosys_available(), reason="yosys not installed")
DWC = (backend.TEMPLATE_DIR / "bnn_dwc.sv").read_text()


@yosys
@pytest.mark.parametrize("params,depth", [
    ({"EW": 2, "I": 2, "O": 6, "NIN": 6}, 14),                 # packing: O a multiple of I
    ({"EW": 2, "I": 6, "O": 2, "NIN": 2}, 14),                 # unpacking: I a multiple of O
    ({"EW": 2, "I": 3, "O": 5, "NIN": 5, "LASTN": 3}, 14),     # neither, a short last word
    ({"EW": 1, "I": 8, "O": 3, "NIN": 3, "LASTN": 8}, 12),     # neither (the input beat -> 3 lanes)
])
def test_dwc_equals_reference_cycle_by_cycle(tmp_path, params, depth):
    res = bmc(tmp_path, DWC, params, depth)
    assert res.returncode == 0, (res.stdout + res.stderr)[-1500:]


@yosys
def test_dwc_check_finds_a_broken_converter(tmp_path):
    """The equivalence check can fail: a converter that corrupts the moved-down units."""
    bad = DWC.replace("buffer[(j + OU)*UW +: UW];", "~buffer[(j + OU)*UW +: UW];")
    assert bad != DWC
    res = bmc(tmp_path, bad, {"EW": 2, "I": 2, "O": 6, "NIN": 6}, 10)
    assert res.returncode != 0 and "proof did fail" in (res.stdout + res.stderr)


def test_dwc_structure_per_case():
    # packing 16 -> 64 (units of 16): nothing rotates; unit 0 also takes the unit moved down
    st = R.dwc_structure({"EW": 1, "I": 16, "O": 64})
    assert (st["U"], st["IU"], st["OU"], st["NR"]) == (16, 1, 4, 1)
    f = R.dwc_features({"EW": 1, "I": 16, "O": 64})
    assert f["move_bits"] == 16 and f["rot2_bits"] == 0 and f["rotn_bits"] == 0 and f["buf_bits"] == 80
    # unpacking 64 -> 32 (units of 32): the input lands at unit 0 or 1 (a 2:1 rotation)
    st = R.dwc_structure({"EW": 1, "I": 64, "O": 32})
    assert (st["U"], st["IU"], st["OU"], st["NR"]) == (32, 2, 1, 2)
    assert R.dwc_features({"EW": 1, "I": 64, "O": 32})["rot2_bits"] == 64
    # 8 -> 3 (units of 1): rotations 0..3 of the 8-unit input word, two stages in a LUT6
    st = R.dwc_structure({"EW": 8, "I": 8, "O": 3})
    assert (st["U"], st["IU"], st["OU"], st["NR"], st["RW"]) == (1, 8, 3, 4, 2)
    assert R.dwc_features({"EW": 8, "I": 8, "O": 3})["rotn_bits"] == 64


def test_holdout_dwc_within_15_percent():
    """Every held-out width converter (not used for fitting): LUT and FF within 15% of yosys."""
    import calibrate_resources as cal

    rows = [r for r in cal.error_table(cal.load_data(), R.ResourceModel.load())
            if r["split"] == "holdout" and r["point"].startswith("dwc:")]
    assert len(rows) >= 12
    for r in rows:
        assert r["lut_err"] <= 0.15, r
        assert r["ff_err"] <= 0.15, r


@yosys
def test_live_yosys_dwc_unseen_configuration():
    """A converter that is neither a calibration nor a hold-out point (unpacking 24 -> 8)."""
    import calibrate_resources as cal

    p = {"EW": 1, "I": 24, "O": 8}
    assert all(cal.point_key(k, s) != cal.point_key("dwc", p) for k, s, _ in cal.all_points())
    ref = R.cells_to_resources(R.synthesize({"bnn_dwc.sv": DWC}, "bnn_dwc", p))
    est, _ = R.ResourceModel.load().dwc(p)
    print(f"yosys LUT {ref.lut}, model {est.lut:.0f}")
    assert R.relative_error(est.lut, ref.lut, 8) <= 0.15
    assert R.relative_error(est.ff, ref.ff, 8) <= 0.15
