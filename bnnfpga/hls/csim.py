"""C simulation of a generated HLS project with g++, checked against the golden model.

The generated sources are compiled with ``g++ -std=c++14 -O2`` against the
ap_types headers (``$XILINX_HLS/include``, ``$XILINX_VIVADO/include``, or the
hls4ml wheel's copy) and bnnfpga's own ``hls_stream.h`` stand-in; the test
bench streams packed input beats through ``bnn_top`` and checks every output
word against the golden model's.

Builds are cached by the hash of their sources and flags
(``$BNNFPGA_CACHE`` or ``~/.cache/bnnfpga``), so simulating the same project
twice compiles it once.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..folding import LayerFold
from ..golden import GoldenModel, label_select
from ..ir import Network
from .vectors import expected_words, pack_input_beats, split_output_words

CXXFLAGS = ["-std=c++14", "-O2", "-w"]


def _popcnt_flag():
    """-mpopcnt on x86-64 machines whose CPU has the instruction (else libgcc's software popcount)."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        return []
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    return ["-mpopcnt"] if " popcnt" in flags else []


CXXFLAGS += _popcnt_flag()


class CsimError(RuntimeError):
    """The C simulation could not be built or run."""


def ap_types_include() -> Path:
    """The folder holding ap_int.h."""
    for var in ("XILINX_HLS", "XILINX_VIVADO"):
        root = os.environ.get(var)
        if root and (Path(root) / "include" / "ap_int.h").exists():
            return Path(root) / "include"
    spec = importlib.util.find_spec("hls4ml")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            p = Path(loc) / "templates" / "vivado" / "ap_types"
            if (p / "ap_int.h").exists():
                return p
    raise CsimError("ap_int.h not found: install hls4ml (pip install --no-deps hls4ml) or set XILINX_HLS / XILINX_VIVADO")


def compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise CsimError(f"C++ compiler '{cxx}' not found (set CXX)")
    return cxx


def _cache_dir() -> Path:
    return Path(os.environ.get("BNNFPGA_CACHE", Path.home() / ".cache" / "bnnfpga")) / "csim"


def _source_hash(sources: Dict[str, bytes], flags: Sequence[str]) -> str:
    h = hashlib.sha256()
    for k in sorted(sources):
        h.update(k.encode() + b"\0" + sources[k] + b"\0")
    h.update("\0".join(flags).encode())
    return h.hexdigest()[:24]


def _compile(cpp_files: List[Path], includes: List[Path], exe: Path, key_sources: Dict[str, bytes],
             cache: bool = True) -> float:
    """Compile (or fetch from the cache); returns the seconds g++ took (0 when cached)."""
    cxx = compiler()
    inc = [f"-I{p}" for p in includes]
    flags = [cxx, *CXXFLAGS, str(ap_types_include())]
    key = _source_hash(key_sources, flags)
    cached = _cache_dir() / key / "tb"
    if cache and cached.exists():
        shutil.copy2(cached, exe)
        return 0.0
    cmd = [cxx, *CXXFLAGS, *inc, f"-I{ap_types_include()}", *map(str, cpp_files), "-o", str(exe)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        err = "\n".join(r.stderr.splitlines()[:30])
        raise CsimError(f"g++ failed on {cpp_files[0].parent}:\n{err}")
    if cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".tmp{os.getpid()}")
            shutil.copy2(exe, tmp)
            os.replace(tmp, cached)
        except OSError:
            pass
    return dt


def _project_sources(project: Path) -> Dict[str, bytes]:
    out = {}
    for p in sorted(project.rglob("*")):
        if p.is_file() and p.suffix in (".h", ".cpp"):
            out[str(p.relative_to(project))] = p.read_bytes()
    return out


def build(project, exe=None, cache: bool = True) -> (Path, float):
    """Compile a generated project's C simulation: returns (executable, g++ seconds)."""
    project = Path(project)
    exe = Path(exe) if exe else project / "csim_tb"
    dt = _compile([project / "bnn_top.cpp", project / "tb_bnn_top.cpp"], [project / "csim_include", project], exe,
                  _project_sources(project), cache)
    return exe, dt


def _inline(project: Path, name: str, seen: set) -> str:
    """A project source with its own headers pasted in (the shared library and #pragma once left out)."""
    out = []
    for line in (project / name).read_text().splitlines():
        m = re.match(r'\s*#include "([^"]+)"', line)
        if line.strip() == "#pragma once":
            continue
        if m and (project / m.group(1)).is_file():
            inc = m.group(1)
            if inc != "bnn_library.h" and inc not in seen:
                seen.add(inc)
                out.append(_inline(project, inc, seen))
            continue
        out.append(line)
    return "\n".join(out)


def build_many(projects: Sequence, exe, cache: bool = True) -> (Path, float):
    """One program for several projects (one g++ run): ``exe INDEX args...`` runs project INDEX's bench.

    Each project is compiled inside its own C++ namespace.
    """
    projects = [Path(p).resolve() for p in projects]
    exe = Path(exe)
    lines = ["// several bnnfpga HLS projects in one C-simulation program", "#define AP_INT_MAX_W 32768",
             "#include <stdint.h>", "#include <cstdio>", "#include <cstdlib>", "#include <string>",
             "#include <type_traits>", "#include <vector>",
             '#include "ap_int.h"', "#include <hls_stream.h>", f'#include "{projects[0] / "bnn_tb.h"}"']
    lines.append(f'#include "{projects[0] / "bnn_library.h"}"')
    for i, p in enumerate(projects):
        lines += [f"namespace bnn_net{i} {{", _inline(p, "bnn_top.cpp", set()), f"}}  // namespace bnn_net{i}"]
    lines += ["#include <cstdlib>", "int main(int argc, char** argv) {", "  if (argc < 2) return 2;",
              "  switch (std::atoi(argv[1])) {"]
    for i in range(len(projects)):
        ns = f"bnn_net{i}"
        lines.append(f"    case {i}: return bnn_tb_main<{ns}::axis_in_t, {ns}::axis_out_t>({ns}::bnn_top, argc - 1, "
                     f"argv + 1, {ns}::BNN_IN_BEATS, {ns}::BNN_OUT_WORDS);")
    lines += ["    default: return 2;", "  }", "}", ""]
    src = exe.with_suffix(".cpp")
    src.write_text("\n".join(lines))
    key = {"many.cpp": src.read_bytes()}
    for i, p in enumerate(projects):
        for k, v in _project_sources(p).items():
            key[f"{i}/{k}"] = v
    dt = _compile([src], [projects[0] / "csim_include"], exe, key, cache)
    return exe, dt


@dataclass
class CsimResult:
    scores: np.ndarray  # int32 (N, classes), from the design
    labels: np.ndarray  # int32 (N, top_k), from the design
    golden_scores: np.ndarray
    golden_labels: np.ndarray
    seconds: float  # running the test bench
    log: str

    @property
    def matches(self) -> bool:
        return bool(np.array_equal(self.scores, self.golden_scores) and np.array_equal(self.labels, self.golden_labels))


def run_bench(exe, net: Network, images: np.ndarray, top_k: int = 1, init_rows: Optional[np.ndarray] = None,
              golden_net: Optional[Network] = None, select: Optional[int] = None, workdir=None) -> CsimResult:
    """Stream ``images`` through a built bench; expected words come from the golden model of
    ``golden_net`` (default ``net``).  ``select``: the project index of a build_many program."""
    gnet = golden_net or net
    images = np.asarray(images)
    gs = GoldenModel(gnet).run(images)
    gl = label_select(gs, top_k)
    own = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="bnn_csim_")) if own else Path(workdir)
    try:
        wd.mkdir(parents=True, exist_ok=True)
        (wd / "input_beats.bin").write_bytes(pack_input_beats(net, images).tobytes())
        (wd / "expected_words.bin").write_bytes(expected_words(gs, gl).tobytes())
        args = [str(Path(exe).resolve())]
        if select is not None:
            args.append(str(select))
        args += ["input_beats.bin", str(len(images)), "expected_words.bin", "got_words.bin"]
        if init_rows is not None:
            (wd / "init.bin").write_bytes(np.asarray(init_rows, dtype="<u4").tobytes())
            args.append("init.bin")
        t0 = time.perf_counter()
        r = subprocess.run(args, cwd=wd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        log = (r.stdout + r.stderr).strip()
        got_path = wd / "got_words.bin"
        if r.returncode not in (0, 1) or not got_path.exists():
            raise CsimError(f"C simulation failed (exit {r.returncode}): {log.splitlines()[-1] if log else ''}")
        words = np.fromfile(got_path, dtype="<u4")
        if words.size != len(images) * (net.num_classes + top_k):
            raise CsimError(f"C simulation produced {words.size} words, expected {len(images) * (net.num_classes + top_k)}")
        scores, labels = split_output_words(words, net.num_classes, top_k)
        return CsimResult(scores, labels, gs, gl, dt, log)
    finally:
        if own:
            shutil.rmtree(wd, ignore_errors=True)


def simulate(net: Network, images: np.ndarray, folding: Dict[str, LayerFold], top_k: int = 1, workdir=None,
             runtime_params: bool = False, verbose: bool = False, cache: bool = True) -> np.ndarray:
    """Generate, build and C-simulate; returns the design's int32 scores (N, classes).

    Raises CsimError when the design's labels disagree with the label rule on its own scores.
    """
    from .backend import compile_project

    own = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="bnn_hls_")) if own else Path(workdir)
    try:
        proj = wd / "project"
        compile_project(net, folding, proj, top_k=top_k, runtime_params=runtime_params)
        exe, _ = build(proj, wd / "csim_tb", cache=cache)
        from ..uram import load_rows, uram_layers

        rows = load_rows(net, folding) if uram_layers(net, folding) else None  # URAM weights: do_init writes
        res = run_bench(exe, net, images, top_k=top_k, workdir=wd / "run", init_rows=rows)
        if verbose:
            print(res.log)
        if not np.array_equal(res.labels, label_select(res.scores, top_k)):
            raise CsimError("the design's top-k labels disagree with its own scores")
        return res.scores
    finally:
        if own:
            shutil.rmtree(wd, ignore_errors=True)
