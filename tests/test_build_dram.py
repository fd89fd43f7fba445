"""`bnnfpga build` with off-chip weights (docs/offchip-weights.md): the block design gets one
MM2S-only AXI DMA `axi_dma_w<i>` per DRAM layer, on the control and memory interconnects,
driving the HLS top's weight stream; checked by the Tcl dry run (stubbed Vivado commands)."""
import re
import shutil
from pathlib import Path

import pytest

from bnnfpga import boards, build
from bnnfpga import metadata as md
from bnnfpga.folding import LayerFold
from bnnfpga.modelfile import dumps, save
from bnnfpga.offchip import dram_meta

from test_offchip import HIDDEN_B2, dram_mlp

needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
STUBS = Path(build.TEMPLATES) / "vivado_stubs.tcl"
# two layers off chip (32- and 16-bit beats), the hidden one on chip
TWO_DRAM = {"fc0": LayerFold(2, 16, weights="dram", batch=3), "fc1": LayerFold(4, 4),
            "fc_out": LayerFold(2, 8, weights="dram", batch=3)}


@pytest.fixture(scope="module")
def net():
    return dram_mlp()


def _build(net, folding, out, board="pynq-z2"):
    files = build.generate(net, dumps(net), boards.get(board), folding, name=out.name, clock_mhz=100.0)
    build.write_atomic(files, out)
    return files


@needs_tclsh
@pytest.mark.parametrize("board", ["pynq-z2", "zcu104"])
@pytest.mark.parametrize("folding, layers", [(HIDDEN_B2, ["fc1"]), (TWO_DRAM, ["fc0", "fc_out"])],
                         ids=["one_dram", "two_dram"])
def test_dram_layers_get_weight_dmas_in_a_checked_block_design(net, tmp_path, board, folding, layers):
    out = tmp_path / "ov"
    files = _build(net, folding, out, board)
    meta = md.load(out / "ov.json")
    assert list(meta["dram_weights"]) == layers
    dr = build.dry_run(out)
    assert dr.problems == []
    hls_top = files["project/hls/bnn_top.cpp"]
    pairs = {(a.strip("/"), b.strip("/")) for a, b in dr.intf_nets}
    conn = dr.connected()
    n = len(layers)
    assert dr.props["ctrl_interconnect"]["CONFIG.NUM_MI"] == str(3 + n)
    assert dr.props["mem_interconnect"]["CONFIG.NUM_SI"] == str(2 + n)
    for i, layer in enumerate(layers):
        ip = f"axi_dma_w{i}"
        d = meta["dram_weights"][layer]
        assert d["ip"] == ip and dr.cells[ip] == "xilinx.com:ip:axi_dma"  # metadata's DMA = block design's cell
        port = f"w_{layer}"
        assert re.search(rf"^#pragma HLS INTERFACE axis port={port}\b", hls_top, re.M)  # the port HLS exports
        assert (f"{ip}/M_AXIS_MM2S", f"bnn_top_0/{port}") in pairs
        assert (f"ctrl_interconnect/M{3 + i:02d}_AXI", f"{ip}/S_AXI_LITE") in pairs
        assert (f"{ip}/M_AXI_MM2S", f"mem_interconnect/S{2 + i:02d}_AXI") in pairs
        p = dr.props[ip]
        assert p["CONFIG.c_include_sg"] == "0" and p["CONFIG.c_include_s2mm"] == "0"
        assert p["CONFIG.c_m_axis_mm2s_tdata_width"] == str(d["beat_bits"])
        assert int(p["CONFIG.c_m_axi_mm2s_data_width"]) >= max(d["beat_bits"], boards.get(board).hp_port_bits)
        assert p["CONFIG.c_sg_length_width"] == str(md.DMA_LENGTH_BITS)
        assert d["bytes_per_pass"] < 1 << md.DMA_LENGTH_BITS
        for pin in ("s_axi_lite_aclk", "m_axi_mm2s_aclk", "axi_resetn"):
            assert f"{ip}/{pin}" in conn, pin
        assert not any(ip in a + b and "S2MM" in a + b for a, b in pairs)
        assert f"`{ip}` | `{port}` | {d['beat_bits']} | {d['batch']} | {d['bytes_per_pass']} |" in files["project/README.md"]
    assert f"axi_dma_w{n}" not in dr.cells
    recs = [r[0] for r in dr.records]
    last_dma = max(i for i, r in enumerate(dr.records) if r[0] == "intf_net" and "axi_dma_w" in "".join(r))
    assert last_dma < recs.index("assign_bd_address") < recs.index("validate_bd_design")  # addresses for every DMA


def test_dram_build_is_deterministic_and_onchip_build_has_no_weight_dmas(net, tmp_path):
    b = boards.get("pynq-z2")
    a1 = build.generate(net, dumps(net), b, TWO_DRAM, name="t", clock_mhz=100.0)
    a2 = build.generate(net, dumps(net), b, TWO_DRAM, name="t", clock_mhz=100.0)
    assert a1 == a2
    onchip = {k: LayerFold(f.pe, f.simd) for k, f in TWO_DRAM.items()}
    plain = build.generate(net, dumps(net), b, onchip, name="t", clock_mhz=100.0)
    assert "axi_dma_w" not in plain[build.BD_TCL] and "axi_dma_w" not in plain["project/README.md"]
    assert "CONFIG.NUM_MI {3}" in plain[build.BD_TCL] and "CONFIG.NUM_SI {2}" in plain[build.BD_TCL]
    assert "axi_dma_w1" in a1[build.BD_TCL] and set(dram_meta(net, TWO_DRAM)) == {"fc0", "fc_out"}


@needs_tclsh
def test_dry_run_catches_a_wrong_weight_port_and_a_missing_interconnect_port(net, tmp_path):
    out = tmp_path / "ov"
    _build(net, HIDDEN_B2, out)
    tcl = out / build.BD_TCL
    good = tcl.read_text()
    assert build.dry_run(out).problems == []
    # the RTL backend's port name is not what the HLS top exports
    tcl.write_text(good.replace("[get_bd_intf_pins bnn_top_0/w_fc1]", "[get_bd_intf_pins bnn_top_0/s_axis_w_layer_fc1]"))
    probs = build.dry_run(out).problems
    assert any("bnn_top_0/s_axis_w_layer_fc1" in p for p in probs), probs
    tcl.write_text(good.replace("CONFIG.NUM_MI {4}", "CONFIG.NUM_MI {3}"))
    assert any("ctrl_interconnect/M03_AXI" in p for p in build.dry_run(out).problems)
    # an S2MM pin on an MM2S-only DMA
    tcl.write_text(good.replace("[get_bd_pins axi_dma_w0/axi_resetn]", "[get_bd_pins axi_dma_w0/m_axi_s2mm_aclk]"))
    probs = build.dry_run(out).problems
    assert any("axi_dma_w0/m_axi_s2mm_aclk" in p for p in probs) and any("axi_dma_w0/axi_resetn" in p for p in probs)


def test_unsupported_dram_foldings_are_one_line_errors(net, tmp_path):
    b = boards.get("pynq-z2")
    odd = dict(TWO_DRAM, fc_out=LayerFold(5, 8, weights="dram", batch=3))  # 40-bit beats: no DMA stream width
    with pytest.raises(build.BuildError, match=r"layer 'fc_out': its 40-bit weight beats") as e:
        build.generate(net, dumps(net), b, odd, name="t", clock_mhz=100.0)
    assert "\n" not in str(e.value)


@needs_tclsh
def test_cli_builds_a_dram_overlay_without_vivado(net, tmp_path, monkeypatch, capsys):
    import os

    from bnnfpga import folding as fo
    from bnnfpga.cli import main

    monkeypatch.setenv("PATH", os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                                               if not any((Path(d) / t).exists() for t in ("vivado", "vitis_hls", "vivado_hls"))))
    model, fold = tmp_path / "m.bnn", tmp_path / "f.json"
    save(net, model)
    fold.write_text(fo.to_json(TWO_DRAM))
    out = tmp_path / "dram_ov"
    rc = main(["build", str(model), "--board", "zcu104", "--folding", str(fold), "-o", str(out)])
    assert rc == build.EXIT_NEEDS_VIVADO, capsys.readouterr()
    assert md.load(out / "dram_ov.json")["dram_weights"]["fc_out"]["ip"] == "axi_dma_w1"
    assert build.dry_run(out).problems == []


def test_stubs_know_every_vivado_command_of_the_script(net, tmp_path):
    """Every command the DRAM block design calls is a Tcl builtin, a proc of the script, or a stub."""
    files = build.generate(net, dumps(net), boards.get("zcu104"), TWO_DRAM, name="t", clock_mhz=100.0)
    tcl = files[build.BD_TCL]
    stubs = set(re.findall(r"^proc (\w+)", STUBS.read_text(), re.M)) | {"file", "glob"}
    own = set(re.findall(r"^proc (\w+)", tcl, re.M))
    tcl_builtins = {"set", "if", "proc", "return", "global", "error", "puts", "lindex", "llength", "lsort", "expr",
                    "info", "foreach", "list", "elseif", "else"}
    used = set(re.findall(r"(?:^\s*|\[)([a-z_]+)\b", tcl, re.M))
    missing = used - stubs - own - tcl_builtins
    assert not missing, missing
