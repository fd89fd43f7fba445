"""`bnnfpga build`: a model file -> a PYNQ overlay folder.

Layout of the overlay folder ``OUT/`` (base name ``NAME``, from OUT's name)::

    NAME.json        driver metadata (bnnfpga.metadata, docs/overlay-metadata.md)
    NAME.bnn         the model file the overlay was built from (sha256 in NAME.json)
    NAME.bit         bitstream          } only after HLS + Vivado ran; PYNQ needs
    NAME.hwh         hardware handoff   } both with the same base name
    project/
      build.sh       the commands that make NAME.bit / NAME.hwh on a machine with Vivado
      hls/           HLS C++ project of the accelerator (bnnfpga.hls), run_hls.tcl
      vivado/        build_bd.tcl (block design, implementation), bnn_tlast_run.v
      logs/          tool logs

:func:`generate` is pure (same inputs, same bytes).  :func:`build` writes the
folder atomically (a temporary folder beside OUT, renamed at the end); when
``vitis_hls``/``vivado_hls`` and ``vivado`` are on PATH it runs both tools in
that temporary folder first, and the folder becomes OUT only with a bitstream
and a hardware handoff in it.  Without the tools it writes the project, prints
the commands to finish it and returns :data:`EXIT_NEEDS_VIVADO`.
:func:`dry_run` executes the Vivado script under tclsh with stubbed Vivado
commands and checks every cell, interface and pin it names.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

from . import __version__
from . import folding as fo
from . import metadata as md
from .boards import Board
from .ir import Network, sanitize_identifier
from .outdir import write_tree

TEMPLATES = Path(__file__).resolve().parent.parent / "overlays" / "templates"
MARKER = ".bnnfpga-overlay"
EXIT_NEEDS_VIVADO = 3  # project written, bitstream not built: Vivado is not on PATH
HLS_STEPS = "csynth export"
BD_TCL = "project/vivado/build_bd.tcl"
TLAST_V = "project/vivado/bnn_tlast_run.v"


class BuildError(ValueError):
    """A build that cannot be made (one-line message)."""


# --------------------------------------------------------------------- the processing system

_PS = {
    "zynq7000": dict(
        cell="processing_system7_0", master="M_AXI_GP0", slave="S_AXI_HP0", fclk="FCLK_CLK0",
        fclk_reset="FCLK_RESET0_N", clock_property="PCW_FPGA0_PERIPHERAL_FREQMHZ",
        automation='{make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"}',
        config=[("PCW_USE_M_AXI_GP0", "1"), ("PCW_USE_S_AXI_HP0", "1"), ("PCW_S_AXI_HP0_DATA_WIDTH", "64"),
                ("PCW_EN_CLK0_PORT", "1"), ("PCW_EN_RST0_PORT", "1")],
        clock_pins=["M_AXI_GP0_ACLK", "S_AXI_HP0_ACLK"]),
    "zynqmp": dict(
        cell="zynq_ultra_ps_e_0", master="M_AXI_HPM0_FPD", slave="S_AXI_HP0_FPD", fclk="pl_clk0",
        fclk_reset="pl_resetn0", clock_property="PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ",
        automation='{apply_board_preset "1"}',
        config=[("PSU__USE__M_AXI_GP0", "1"), ("PSU__USE__M_AXI_GP1", "0"), ("PSU__USE__M_AXI_GP2", "0"),
                ("PSU__USE__S_AXI_GP2", "1"), ("PSU__SAXIGP2__DATA_WIDTH", "128"), ("PSU__FPGA_PL0_ENABLE", "1")],
        clock_pins=["maxihpm0_fpd_aclk", "saxihp0_fpd_aclk"]),
}

CLOCK_PINS = ["bnn_top_0/ap_clk", "bnn_tlast_0/ap_clk", "axi_dma_0/s_axi_lite_aclk", "axi_dma_0/m_axi_mm2s_aclk",
              "axi_dma_0/m_axi_s2mm_aclk", "bnn_frames_0/s_axi_aclk", "ctrl_interconnect/aclk",
              "mem_interconnect/aclk", "rst_fclk0/slowest_sync_clk"]
RESET_PINS = ["bnn_top_0/ap_rst_n", "bnn_tlast_0/ap_rst_n", "axi_dma_0/axi_resetn", "bnn_frames_0/s_axi_aresetn",
              "ctrl_interconnect/aresetn", "mem_interconnect/aresetn"]

# Interface pins and pins of every IP the block design uses ("clk"/"rst": must be driven).
# bnn_top's come from docs/interface.md; smartconnect's depend on NUM_SI / NUM_MI.
IP_PORTS = {
    "xilinx.com:hls:bnn_top": dict(intf={"s_axis", "m_axis", "s_axi_control"},
                                   pins={"ap_clk": "clk", "ap_rst_n": "rst", "interrupt": ""}),
    "xilinx.com:ip:processing_system7": dict(
        intf={"M_AXI_GP0", "S_AXI_HP0", "DDR", "FIXED_IO"},
        pins={"FCLK_CLK0": "", "FCLK_RESET0_N": "", "M_AXI_GP0_ACLK": "clk", "S_AXI_HP0_ACLK": "clk"}),
    "xilinx.com:ip:zynq_ultra_ps_e": dict(
        intf={"M_AXI_HPM0_FPD", "S_AXI_HP0_FPD"},
        pins={"pl_clk0": "", "pl_resetn0": "", "maxihpm0_fpd_aclk": "clk", "saxihp0_fpd_aclk": "clk"}),
    "xilinx.com:ip:axi_dma": dict(
        intf={"S_AXI_LITE", "M_AXI_MM2S", "M_AXI_S2MM", "M_AXIS_MM2S", "S_AXIS_S2MM"},
        pins={"s_axi_lite_aclk": "clk", "m_axi_mm2s_aclk": "clk", "m_axi_s2mm_aclk": "clk", "axi_resetn": "rst",
              "mm2s_introut": "", "s2mm_introut": ""}),
    "xilinx.com:ip:axi_gpio": dict(intf={"S_AXI", "GPIO"},
                                   pins={"s_axi_aclk": "clk", "s_axi_aresetn": "rst", "gpio_io_o": ""}),
    "xilinx.com:ip:smartconnect": dict(intf=set(), pins={"aclk": "clk", "aresetn": "rst"}),
    "xilinx.com:ip:proc_sys_reset": dict(
        intf=set(), pins={"slowest_sync_clk": "clk", "ext_reset_in": "rst", "aux_reset_in": "", "mb_debug_sys_rst": "",
                          "dcm_locked": "", "peripheral_aresetn": "", "interconnect_aresetn": "",
                          "peripheral_reset": "", "mb_reset": "", "bus_struct_reset": ""}),
}


def ps_context(board: Board) -> dict:
    if board.family not in _PS:
        raise BuildError(f"board '{board.name}': processing-system family '{board.family}' is not supported")
    return dict(_PS[board.family])


# --------------------------------------------------------------------- weight DMAs (off-chip weights)

# AXI DMA stream widths (PG021: c_m_axis_mm2s_tdata_width) and the smartconnect's port limit
DMA_STREAM_BITS = (8, 16, 32, 64, 128, 256, 512, 1024)
SMARTCONNECT_MAX_PORTS = 16
CTRL_MI = 3  # bnn_top_0, axi_dma_0, bnn_frames_0
MEM_SI = 2  # axi_dma_0 MM2S and S2MM


def weight_dma_context(net: Network, folding: Dict, board: Board, meta: dict) -> List[dict]:
    """One entry per off-chip layer (docs/offchip-weights.md): the MM2S-only AXI DMA
    ``axi_dma_w<i>`` named by the metadata's "dram_weights", the bnn_top port it drives
    (the HLS top's ``w_<layer id>``), its stream and memory-map widths and its interconnect ports."""
    from .hls import backend as hls

    dram = meta.get("dram_weights", {})
    if not dram:
        return []
    try:
        streams = {s["layer"]: s for s in hls.plan(net, folding).dram_streams}
    except hls.BackendError as e:
        raise BuildError(str(e)) from None
    out = []
    for i, (layer, d) in enumerate(dram.items()):
        s = streams.get(layer)
        if s is None or d["ip"] != f"axi_dma_w{i}" or int(s["bits"]) != int(d["beat_bits"]):
            raise BuildError(f"layer '{layer}': the HLS top has no weight stream matching the metadata's {d}")
        bits = int(s["bits"])
        if bits not in DMA_STREAM_BITS:
            raise BuildError(f"layer '{layer}': its {bits}-bit weight beats (PE*SIMD*WB rounded to bytes) are not an "
                             f"AXI DMA stream width ({', '.join(map(str, DMA_STREAM_BITS))}); choose PE*SIMD to match")
        if int(d["bytes_per_pass"]) >= 1 << md.DMA_LENGTH_BITS:
            raise BuildError(f"layer '{layer}': one pass over its weights is {d['bytes_per_pass']} bytes, more than the "
                             f"DMA's {md.DMA_LENGTH_BITS}-bit length register moves in one transfer")
        out.append({"layer": _safe(layer), "ip": d["ip"], "port": s["name"], "bits": bits,
                    "mm_bits": max(32, int(board.hp_port_bits), bits), "ctrl_mi": f"M{CTRL_MI + i:02d}_AXI",
                    "mem_si": f"S{MEM_SI + i:02d}_AXI", "batch": int(d["batch"]), "bytes_per_pass": int(d["bytes_per_pass"]),
                    # a convolution batches output pixels (docs/offchip-weights.md)
                    "per": (f"output pixel(s), {d['vectors_per_frame']} per frame" if d.get("vectors_per_frame", 1) > 1
                            else "frame(s)"),
                    "batch_unit": " pixels" if d.get("vectors_per_frame", 1) > 1 else ""})
    if CTRL_MI + len(out) > SMARTCONNECT_MAX_PORTS:
        raise BuildError(f"{len(out)} layers with weights='dram': the block design's interconnects take at most "
                         f"{SMARTCONNECT_MAX_PORTS - CTRL_MI} weight DMAs")
    return out


# --------------------------------------------------------------------- generation


def overlay_name(out_dir) -> str:
    base = Path(out_dir).resolve().name
    name = re.sub("_+", "_", sanitize_identifier(base)).strip("_")
    return name if name and name[0].isalpha() else "bnn_" + name


def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, autoescape=False)


def _clock_ns(clock_mhz: float) -> str:
    return f"{1000.0 / clock_mhz:.3f}".rstrip("0").rstrip(".")


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9 _\-.:,()+=]", "?", str(s))


def generate(net: Network, model_bytes: bytes, board: Board, folding: Dict, *, name: str, clock_mhz: float,
             top_k: int = 1) -> Dict[str, Union[str, bytes]]:
    """Every file of the overlay folder (without .bit/.hwh): {relative path: text or bytes}."""
    from .hls import backend as hls

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise BuildError(f"overlay name {name!r} must start with a letter and hold only letters, digits and '_'")
    if not (0 < clock_mhz <= 1000):
        raise BuildError(f"--clock-mhz must be in (0, 1000], got {clock_mhz}")
    fo.check(net, folding)
    ur = [k for k, f in folding.items() if f.weights == "uram"]
    if ur and not board.uram:  # bnnfpga.uram: the URAM weights load through the control registers every overlay has
        raise BuildError(f"layer '{ur[0]}': weights='uram' needs UltraRAM, which board '{board.name}' ({board.part}) "
                         "does not have (UltraScale+ boards: zcu104, kv260)")
    try:
        hls_files = hls.generate(net, folding, top_k=top_k, part=board.part, clock_ns=float(_clock_ns(clock_mhz)))
    except hls.BackendError as e:
        raise BuildError(str(e)) from None
    m = re.search(r"^open_project -reset (\S+)$", hls_files["run_hls.tcl"], re.M)
    if not m:
        raise BuildError("the HLS backend's run_hls.tcl names no project (open_project -reset NAME)")
    meta = md.make(net, model_bytes, folding, name=name, board=board, clock_mhz=clock_mhz, top_k=top_k)
    weight_dmas = weight_dma_context(net, folding, board, meta)
    env = _env()
    ctx = dict(name=name, board=board, clock_mhz=f"{clock_mhz:g}",
               clock_ns=_clock_ns(clock_mhz), version=__version__, hls_project=m.group(1), ps=ps_context(board),
               model_comment=f"'{_safe(net.name)}' (sha256 {meta['model']['sha256'][:16]}...)",
               dma_length_bits=md.DMA_LENGTH_BITS, hls_steps=HLS_STEPS, exit_no_tools=EXIT_NEEDS_VIVADO,
               weight_dmas=weight_dmas)
    ctx["clock_pins"] = [f"{ctx['ps']['cell']}/{p}" for p in ctx["ps"]["clock_pins"]] + CLOCK_PINS + \
        [f"{d['ip']}/{p}" for d in weight_dmas for p in ("s_axi_lite_aclk", "m_axi_mm2s_aclk")]
    ctx["reset_pins"] = RESET_PINS + [f"{d['ip']}/axi_resetn" for d in weight_dmas]
    files: Dict[str, Union[str, bytes]] = {}
    for rel, data in hls_files.items():
        files[f"project/hls/{rel}"] = data
    files[BD_TCL] = env.get_template("block_design.tcl.j2").render(**ctx)
    files[TLAST_V] = (TEMPLATES / "bnn_tlast_run.v").read_text()
    files["project/build.sh"] = env.get_template("build.sh.j2").render(**ctx)
    files["project/logs/.keep"] = ""
    files["project/README.md"] = env.get_template("README.md.j2").render(
        commands=finish_commands(Path("OUT"), name), meta=meta, **ctx)
    files[f"{name}.json"] = md.dumps(meta)
    files[f"{name}.bnn"] = bytes(model_bytes)
    files[MARKER] = f"bnnfpga {__version__} overlay '{name}' for {board.name}\n"
    return dict(sorted(files.items()))


def finish_commands(out_dir: Path, name: str) -> List[str]:
    """The shell commands that finish the overlay on a machine with Vivado."""
    proj = shlex.quote(str(Path(out_dir) / "project"))
    return [
        f"(cd {proj}/hls && BNN_STEPS=\"{HLS_STEPS}\" vitis_hls -f run_hls.tcl)   # or vivado_hls (2019.2-2020.2)",
        f"(cd {proj} && vivado -mode batch -source vivado/build_bd.tcl -log logs/vivado.log -journal logs/vivado.jou)",
        f"# or both in one go: sh {proj}/build.sh   (writes {name}.bit and {name}.hwh beside {name}.json)",
    ]


def write_atomic(files: Dict[str, Union[str, bytes]], out_dir, work: Optional[Callable[[Path], None]] = None) -> Path:
    """Fill a temporary folder beside ``out_dir``, run ``work(tmp)`` in it, then rename it to ``out_dir``.

    An existing ``out_dir`` is replaced only when it is empty or an earlier bnnfpga overlay
    (it holds the marker).  If writing or ``work`` fails, ``out_dir`` is left as it was; the
    failed folder is kept as ``<out_dir>.failed`` (for its logs) when ``work`` raised."""
    return write_tree(files, out_dir, marker=MARKER, what="bnnfpga overlay", error=BuildError, work=work,
                      executables=("project/build.sh",))


# --------------------------------------------------------------------- running the tools


@dataclass
class Step:
    title: str
    argv: List[str]
    cwd: str  # relative to the overlay folder
    log: str  # relative to the overlay folder
    env: Dict[str, str] = field(default_factory=dict)


def find_tools(path: Optional[str] = None) -> Optional[Dict[str, str]]:
    """{'hls': 'vitis_hls'|'vivado_hls', 'vivado': ...} when both are on PATH, else None."""
    hls = shutil.which("vitis_hls", path=path) or shutil.which("vivado_hls", path=path)
    viv = shutil.which("vivado", path=path)
    if not hls or not viv:
        return None
    return {"hls": hls, "vivado": viv}


def tool_steps(tools: Dict[str, str], board: Board, clock_mhz: float) -> List[Step]:
    flavour = "vitis" if Path(tools["hls"]).name.startswith("vitis") else "vivado"
    return [
        Step("HLS synthesis and IP export", [tools["hls"], "-f", "run_hls.tcl"], "project/hls", "project/logs/hls.log",
             {"BNN_STEPS": HLS_STEPS, "BNN_PART": board.part, "BNN_CLOCK_NS": _clock_ns(clock_mhz),
              "BNN_HLS_TOOL": flavour}),
        Step("Vivado block design, implementation and bitstream",
             [tools["vivado"], "-mode", "batch", "-notrace", "-source", "vivado/build_bd.tcl", "-log", "logs/vivado.log",
              "-journal", "logs/vivado.jou", "-tclargs", "{overlay}"], "project", "project/logs/vivado.stdout"),
    ]


def run_step(step: Step, folder: Path, index: int, total: int, say: Callable[[str], None],
             heartbeat_s: float = 30.0) -> None:
    log = folder / step.log
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [a.replace("{overlay}", str(folder)) for a in step.argv]
    say(f"[{index}/{total}] {step.title} (log: {step.log})")
    t0 = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(argv, cwd=folder / step.cwd, stdout=fh, stderr=subprocess.STDOUT,
                                env=dict(os.environ, **step.env))
        next_beat = heartbeat_s
        while True:
            try:
                rc = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - t0 >= next_beat:
                    say(f"      ... {time.monotonic() - t0:.0f} s, {_last_line(log)}")
                    next_beat += heartbeat_s
            except KeyboardInterrupt:
                proc.terminate()
                raise
    if rc != 0:
        raise BuildError(f"{step.title} failed (exit status {rc}); see {log}: {_last_line(log)}")
    say(f"      done in {time.monotonic() - t0:.0f} s")


def _last_line(path: Path) -> str:
    try:
        lines = [l.strip() for l in path.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    return lines[-1][:160] if lines else "(empty log)"


# --------------------------------------------------------------------- dry run of the Vivado script


@dataclass
class DryRun:
    cells: Dict[str, str]  # cell -> vlnv prefix or module reference
    intf_nets: List[tuple]
    nets: List[tuple]
    props: Dict[str, Dict[str, str]]
    copies: List[tuple]
    records: List[List[str]]
    problems: List[str]

    def connected(self) -> set:
        out = set()
        for a, b in self.intf_nets:
            out |= {a.strip("/"), b.strip("/")}
        for n in self.nets:
            out |= {p.strip("/") for p in n}
        return out


def tclsh() -> Optional[str]:
    return shutil.which("tclsh")


def _module_ports(verilog: str) -> dict:
    """Interface pins (X_INTERFACE_INFO 'axis ... <name> T*') and plain pins of a module reference."""
    intf, pins = set(), {}
    for m in re.finditer(r"X_INTERFACE_INFO\s*=\s*\"[^\"]*:interface:axis:[^\"]*\s(\w+)\s+T\w+\"", verilog):
        intf.add(m.group(1))
    for m in re.finditer(r"\b(input|output)\s+wire\s*(?:\[[^\]]+\]\s*)?(\w+)", verilog):
        port = m.group(2)
        if not any(port.startswith(i + "_") for i in intf):
            pins[port] = "clk" if port.endswith("clk") else ("rst" if "rst" in port else "")
    return dict(intf=intf, pins=pins)


def _hls_axis_ports(folder: Path) -> set:
    """The AXI4-Stream ports of the HLS top (``#pragma HLS INTERFACE axis port=NAME`` in project/hls/bnn_top.cpp)."""
    src = folder / "project" / "hls" / "bnn_top.cpp"
    if not src.exists():
        return set()
    return set(re.findall(r"^#pragma HLS INTERFACE axis port=(\w+)", src.read_text(), re.M))


def dry_run(overlay_dir, tcl: str = BD_TCL) -> DryRun:
    """Run the block-design script under tclsh with stubbed Vivado commands and check it."""
    exe = tclsh()
    if exe is None:
        raise BuildError("tclsh is not installed; cannot dry-run the Vivado script")
    folder = Path(overlay_dir)
    r = subprocess.run([exe, str(TEMPLATES / "vivado_stubs.tcl"), str(folder / tcl), str(folder)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        err = (r.stderr.strip().splitlines() or ["(no message)"])[0]
        raise BuildError(f"{folder / tcl}: Tcl dry run failed: {err}")
    records = [l.split("\t")[1:] for l in r.stdout.splitlines() if l.startswith("BNN\t")]
    cells, types, intf_nets, nets, props, copies, problems = {}, {}, [], [], {}, [], []
    refs = []
    for rec in records:
        what, args = rec[0], rec[1:]
        if what == "cell":
            name, typ, vlnv = args
            if name in cells:
                problems.append(f"cell '{name}' created twice")
            if typ == "ip":
                parts = vlnv.split(":")
                if len(parts) != 4:
                    problems.append(f"cell '{name}': malformed VLNV '{vlnv}'")
                cells[name] = ":".join(parts[:3])
            else:
                cells[name] = "module:" + vlnv
            types[name] = typ
        elif what == "intf_net":
            intf_nets.append(tuple(args))
        elif what == "net":
            nets.append(tuple(args))
        elif what == "prop":
            props.setdefault(args[0].strip("/"), {})[args[1]] = args[2]
        elif what == "copy":
            copies.append(tuple(args))
        elif what in ("ref_pin", "ref_intf", "ref_cell"):
            refs.append((what, args[0]))
    if not records or records[-1][0] != "done":
        problems.append("the script did not run to the end")
    # the catalogue of each cell's ports
    catalog = {}
    for name, kind in cells.items():
        if kind.startswith("module:"):
            src = folder / TLAST_V
            if kind != "module:bnn_tlast_run" or not src.exists():
                problems.append(f"cell '{name}': unknown module reference '{kind[7:]}'")
                continue
            catalog[name] = _module_ports(src.read_text())
        elif kind in IP_PORTS:
            cat = {"intf": set(IP_PORTS[kind]["intf"]), "pins": dict(IP_PORTS[kind]["pins"])}
            if kind == "xilinx.com:hls:bnn_top":  # plus the weight streams the HLS top exports (off-chip weights)
                cat["intf"] |= _hls_axis_ports(folder)
            if kind == "xilinx.com:ip:axi_dma" and props.get(name, {}).get("CONFIG.c_include_s2mm") == "0":
                cat["intf"] -= {"M_AXI_S2MM", "S_AXIS_S2MM"}
                cat["pins"] = {p: r for p, r in cat["pins"].items() if "s2mm" not in p}
            if kind == "xilinx.com:ip:smartconnect":
                p = props.get(name, {})
                cat["intf"] |= {f"S{i:02d}_AXI" for i in range(int(p.get("CONFIG.NUM_SI", 1)))}
                cat["intf"] |= {f"M{i:02d}_AXI" for i in range(int(p.get("CONFIG.NUM_MI", 1)))}
            catalog[name] = cat
        else:
            problems.append(f"cell '{name}': IP '{kind}' is not in bnnfpga's catalogue")
    for what, path in refs:
        parts = path.strip("/").split("/")
        cell = parts[0]
        if cell not in cells:
            problems.append(f"{what[4:]} '{path}' names cell '{cell}', which the design does not create")
            continue
        if what == "ref_cell" or cell not in catalog:
            continue
        port = "/".join(parts[1:])
        kind = "intf" if what == "ref_intf" else "pins"
        if port not in catalog[cell][kind]:
            problems.append(f"{'interface pin' if kind == 'intf' else 'pin'} '{path}': {cells[cell]} has no such "
                            f"{'interface' if kind == 'intf' else 'pin'} (it has: {', '.join(sorted(catalog[cell][kind]))})")
    dr = DryRun(cells, intf_nets, nets, props, copies, records, problems)
    conn = dr.connected()
    for cell, cat in catalog.items():
        for pin, role in cat["pins"].items():
            if role and f"{cell}/{pin}" not in conn:
                problems.append(f"{'clock' if role == 'clk' else 'reset'} pin '{cell}/{pin}' is not connected")
    for net in nets:
        drivers = [p for p in net if p.strip("/").split("/")[-1] in ("FCLK_CLK0", "pl_clk0", "peripheral_aresetn",
                                                                          "FCLK_RESET0_N", "pl_resetn0", "gpio_io_o")]
        if len(drivers) != 1:
            problems.append(f"net {' '.join(net)}: expected one driver, found {len(drivers)}")
    return dr


# --------------------------------------------------------------------- the command's work


@dataclass
class BuildResult:
    out_dir: Path
    name: str
    status: str  # "bitstream" | "project"
    metadata: dict
    commands: List[str]
    dry_run: Optional[DryRun] = None

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "bitstream" else EXIT_NEEDS_VIVADO


def build(model: Union[str, Path, Network], board: Union[str, Board], out_dir, *, folding=None,
          clock_mhz: Optional[float] = None, top_k: int = 1, name: Optional[str] = None,
          run_tools: Optional[bool] = None, say: Callable[[str], None] = print, check_tcl: bool = True) -> BuildResult:
    """Generate (and, with Vivado on PATH, build) the overlay folder ``out_dir``.

    ``model``: a model file path, or a Network (saved as the overlay's model file).
    ``folding``: {layer: LayerFold}, a folding JSON path, or None (bnnfpga's default target).
    ``run_tools``: None = run HLS + Vivado when they are on PATH; False = never; True = require them."""
    from . import boards
    from .modelfile import dumps, loads
    board = boards.get(board) if isinstance(board, str) else board
    if isinstance(model, Network):
        model_bytes = dumps(model)
        net = model
    else:
        p = Path(model)
        if not p.is_file():
            raise BuildError(f"{p}: model file not found")
        model_bytes = p.read_bytes()
        net = loads(model_bytes, source=str(p))
    if folding is None:  # the optimizer's fastest folding that fits this board
        from .optimizer import default_folding

        folding = fo.check(net, default_folding(net, board=board.name))
    elif isinstance(folding, (str, Path)):
        folding = fo.load(folding, net)
    clock_mhz = float(clock_mhz if clock_mhz is not None else board.default_clock_mhz)
    name = name or overlay_name(out_dir)
    out = Path(out_dir)
    files = generate(net, model_bytes, board, folding, name=name, clock_mhz=clock_mhz, top_k=top_k)
    tools = find_tools() if run_tools is not False else None
    if run_tools and tools is None:
        raise BuildError("vitis_hls/vivado_hls and vivado must be on PATH to build the bitstream")
    meta = md.validate(json.loads(files[f"{name}.json"]))
    commands = finish_commands(out, name)
    checked: Dict[str, DryRun] = {}

    def work(folder: Path) -> None:
        if check_tcl and tclsh():
            dr = dry_run(folder)
            if dr.problems:
                raise BuildError(f"{folder / BD_TCL}: {dr.problems[0]}")
            checked["dr"] = dr
        if tools is None:
            return
        steps = tool_steps(tools, board, clock_mhz)
        for i, st in enumerate(steps, 1):
            run_step(st, folder, i, len(steps), say)
        for ext in ("bit", "hwh"):
            if not (folder / f"{name}.{ext}").is_file():
                raise BuildError(f"Vivado finished but wrote no {name}.{ext}; see {folder / 'project/logs/vivado.log'}")

    say(f"overlay '{name}' for {board.display_name} at {clock_mhz:g} MHz: "
        f"{meta['cycles_per_frame']} cycles per frame ({clock_mhz * 1e6 / meta['cycles_per_frame']:.0f} frames/s)")
    write_atomic(files, out, work)
    status = "bitstream" if tools is not None else "project"
    return BuildResult(out, name, status, meta, commands, checked.get("dr"))
