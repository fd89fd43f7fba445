"""Off-chip weights in the folding optimizer and reports (docs/offchip-weights.md): per
layer on/off chip and batch size, DRAM bandwidth budgeted beside LUT and BRAM, the
binding resource named, and the fold/report commands."""
import json

import numpy as np
import pytest

from bnnfpga import boards, cli, modelfile, offchip
from bnnfpga import folding as fo
from bnnfpga import optimizer as O
from bnnfpga.folding import LayerFold
from bnnfpga.report import text_table
from bnnfpga.resources import ResourceModel


@pytest.fixture(scope="module")
def mid():
    """CNV-like convs (32x32x3) + dense 4096-1024-1024-10: 5.2 Mbit of dense weights, more
    than a PYNQ-Z2's 126 usable BRAM36 (4.6 Mbit) hold."""
    return offchip.cnv_dense_network(flat_hw=4, dense=(1024, 1024), classes=10)


def _dram_use(net, r):
    return (offchip.network_dram_bytes_per_frame(net, r.folding) + offchip.io_bytes_per_frame(net)) / r.cycles


def test_weights_that_do_not_fit_go_to_dram(mid):
    on = O.optimize(mid, "pynq-z2", lut_rom=False)  # the default: every weight on chip (block RAM)
    assert not on.feasible and on.binding == "BRAM36"
    lut = O.optimize(mid, "pynq-z2")  # weights of some PEs in LUT ROM: then the LUTs run out
    assert not lut.feasible and lut.binding == "LUT"
    assert all(f.weights == "onchip" for f in on.folding.values())
    r = O.optimize(mid, "pynq-z2", offchip="auto")
    assert r.feasible, r.summary()
    fo.check(mid, r.folding)
    off = [n for n, f in r.folding.items() if f.weights == "dram"]
    assert "fc0" in off and all(n.startswith("fc") for n in off)  # dense layers only
    b = boards.get("pynq-z2")
    allowed = offchip.board_dram_bytes_per_cycle(b, 100.0)
    assert r.budget.dram == pytest.approx(allowed) and allowed == pytest.approx(2.1e9 * 0.7 / 100e6)
    assert r.dram_bytes_per_frame == sum(offchip.dram_bytes_per_frame(l, r.folding[l.name])
                                         for l in mid.compute_layers() if l.name in off)
    assert r.dram_bytes_per_cycle == pytest.approx(_dram_use(mid, r)) and r.dram_bytes_per_cycle <= allowed
    assert r.resources.lut <= r.budget.lut and r.resources.bram36 <= r.budget.bram36
    assert r.binding in ("LUT", "BRAM36", "DRAM", "cycles") and r.binding in r.message or r.binding == "cycles"


def test_dram_bandwidth_binds_without_batching(mid):
    """Batch 1 reads every weight once per frame: DRAM bandwidth limits the pace, and the
    optimizer says so; batching the same layers lifts it."""
    r1 = O.optimize(mid, "pynq-z2", offchip="always", max_batch=1)
    assert r1.feasible and all(f.batch == 1 for f in r1.folding.values())
    assert r1.binding == "DRAM" and "DRAM needs" in r1.message and "bytes/cycle" in r1.message
    assert r1.dram_bytes_per_cycle <= r1.budget.dram + 1e-9
    assert r1.dram_bytes_per_cycle > 0.8 * r1.budget.dram  # close to the limit: it binds
    rb = O.optimize(mid, "pynq-z2", offchip="always")
    assert rb.cycles < r1.cycles and max(f.batch for n, f in rb.folding.items() if n.startswith("fc")) > 1
    assert all(f.weights == "dram" for n, f in rb.folding.items() if n.startswith("fc"))


def test_small_network_keeps_weights_on_chip_unless_faster():
    from bnnfpga import random_net

    net = random_net.random_network(np.random.default_rng(11), "cnn")
    on = O.optimize(net, "pynq-z2")
    auto = O.optimize(net, "pynq-z2", offchip="auto")
    assert auto.cycles <= on.cycles
    if auto.cycles == on.cycles:
        assert auto.folding == on.folding
    with pytest.raises(fo.FoldingError, match="offchip"):
        O.optimize(net, "pynq-z2", offchip="sometimes")


def test_evaluate_and_report_show_dram_traffic(mid, tmp_path):
    f = {l.name: LayerFold(1, 1) for l in mid.compute_layers()}
    f["fc0"] = LayerFold(4, 64, weights="dram", batch=8)
    r = O.evaluate(mid, f, "pynq-z2")
    assert r.dram_bytes_per_frame == 4096 * 1024 / 8 / 8
    assert r.budget.dram is not None and "DRAM" in r.budget.usage(r.resources, r.lanes, r.dram_use)
    text = text_table(mid, r, ResourceModel.load())
    assert "dram B=8" in text and "DRAM B/frame" in text and "65,536" in text
    assert "DRAM: 65,536 weight bytes/frame" in text
    # an impossible bandwidth: every weight read per frame at a fast pace
    g = {l.name: LayerFold(l.out_channels, fo.simd_base(l)) for l in mid.compute_layers()}
    g["fc0"] = LayerFold(1024, 4096, weights="dram", batch=1)
    bad = O.evaluate(mid, g, "pynq-z2")
    assert not bad.feasible and "DRAM needs" in bad.message


def test_fold_and_report_commands_with_offchip(mid, tmp_path, capsys):
    m = tmp_path / "mid.bnn"
    modelfile.save(mid, m)
    out = tmp_path / "f.json"
    assert cli.main(["fold", str(m), "--board", "pynq-z2", "--max-batch", "16", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "weights in DRAM, batch" in text and "bytes/cycle" in text and "OK:" in text
    f = fo.load(out, mid)
    assert any(v.weights == "dram" for v in f.values()) and max(v.batch for v in f.values()) <= 16
    assert json.loads(out.read_text())["conv0"] == {"pe": f["conv0"].pe, "simd": f["conv0"].simd}
    assert cli.main(["fold", str(m), "--board", "pynq-z2", "--offchip", "never"]) == 1  # BRAM does not fit
    assert "BRAM36" in capsys.readouterr().out
    assert cli.main(["report", str(m), "--board", "pynq-z2", "--folding", str(out), "-o", str(tmp_path / "rep")]) == 0
    rep = (tmp_path / "rep" / "report.txt").read_text()
    assert "DRAM:" in rep and "dram B=" in rep
    assert fo.load(tmp_path / "rep" / "folding.json", mid) == f


@pytest.mark.slow
def test_full_size_cnv_dense_zcu104_fold():
    """The large network (dense 16384-4096-4096-1000, 11 MB of weights) on a ZCU104."""
    net = offchip.cnv_dense_network()
    r = O.optimize(net, "zcu104", offchip="auto")
    print(r.summary())
    assert r.feasible and all(r.folding[n].weights == "dram" for n in ("fc0", "fc1"))
    assert r.dram_bytes_per_cycle <= r.budget.dram
