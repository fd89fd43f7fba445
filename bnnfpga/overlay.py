"""The notebook API: classify images with a bnnfpga accelerator (in the spirit of BNN-PYNQ).

    from bnnfpga.overlay import Classifier
    clf = Classifier("overlays/lfc_z2/", runtime="hw")      # a PYNQ board
    clf = Classifier("overlays/lfc_z2/", runtime="sim")     # the Verilator model, same driver code
    clf = Classifier("model.bnn", runtime="sw")             # the golden model (numpy)
    r = clf.classify(pil_or_numpy_image)       # r.index, r.name, r.scores, r.top_k, r.us_per_image
    rs = clf.classify_batch(images)            # rs.indices, rs.names, rs.scores, rs.images_per_second

Runtimes:

* ``hw``: pynq (imported lazily, or the module/object given as ``pynq=``): Overlay,
  allocate, AXI DMA send/receive channels, MMIO on bnn_top's control registers
  (num_frames, ap_start, ap_done polled with a timeout) and the AXI GPIO that
  tells ``bnn_tlast_run`` how many frames make one S2MM packet.
* ``sim``: the very same driver against :mod:`bnnfpga.emulated_board`, whose
  accelerator is the Verilator model of the RTL design (built once, reused).
* ``sw``: :class:`bnnfpga.golden.GoldenModel`.

Input preprocessing (:func:`preprocess`): PIL images or numpy arrays are
converted to the model's channels (L/RGB), resized to its H x W, quantized to
uint8 (floats in [0, 1] are scaled by 255), and packed into 64-bit little-endian
beats (:func:`pack_frames`, docs/interface.md).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np

from . import metadata as md

RUNTIMES = ("hw", "sim", "sw")


class OverlayError(ValueError):
    """A missing/inconsistent overlay or an image the model cannot take (one line)."""


class AcceleratorTimeout(TimeoutError):
    """The accelerator did not finish a run in time."""


# --------------------------------------------------------------------- results


@dataclass
class BatchResult:
    indices: np.ndarray  # (N,) int: top-1 class
    names: List[str]
    scores: np.ndarray  # (N, classes) int32
    top_k: np.ndarray  # (N, k) int32 (score descending, ties to the lowest index)
    seconds: float  # wall time of the run(s), without preprocessing
    runtime: str
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def images_per_second(self) -> float:
        return len(self) / self.seconds if self.seconds > 0 else float("inf")

    @property
    def us_per_image(self) -> float:
        return 1e6 * self.seconds / max(1, len(self))

    def __repr__(self) -> str:
        return (f"BatchResult({len(self)} images on {self.runtime}: {self.images_per_second:.1f} images/s, "
                f"{self.us_per_image:.1f} us/image; first labels {self.names[:8]})")


@dataclass
class Result:
    index: int
    name: str
    scores: np.ndarray  # (classes,)
    top_k: np.ndarray  # (k,)
    seconds: float
    runtime: str

    @property
    def us_per_image(self) -> float:
        return 1e6 * self.seconds

    def __repr__(self) -> str:
        return f"Result(class {self.index} '{self.name}', {self.us_per_image:.1f} us on {self.runtime})"


# --------------------------------------------------------------------- preprocessing


def _to_uint8(a: np.ndarray, where: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise OverlayError(f"{where}: dtype {a.dtype} is not an image type (use uint8 pixels or floats in [0, 1])")
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or a.min(initial=0) < 0 or a.max(initial=0) > 1:
            raise OverlayError(f"{where}: float pixels must be finite and in [0, 1] (got range "
                               f"[{np.nanmin(a):.3g}, {np.nanmax(a):.3g}]); pass uint8 for 0..255")
        return np.rint(a * 255.0).astype(np.uint8)
    if a.min(initial=0) < 0 or a.max(initial=0) > 255:
        raise OverlayError(f"{where}: integer pixels must be in 0..255, got range [{a.min()}, {a.max()}]")
    return a.astype(np.uint8)


def _one(img, h: int, w: int, c: int, where: str, resize: bool) -> np.ndarray:
    """One image (PIL or numpy (H,W) / (H,W,C)) -> uint8 (h, w, c)."""
    pil = None
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(img, Image.Image):
        pil = img.convert("L" if c == 1 else "RGB")
    else:
        a = np.asarray(img)
        if a.dtype.kind not in "uif":
            raise OverlayError(f"{where}: dtype {a.dtype} is not an image type (use uint8 pixels or floats in [0, 1])")
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
            raise OverlayError(f"{where}: image shape {a.shape} is not (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
                               f"the model takes {h}x{w}x{c}")
        a = _to_uint8(a, where)
        if a.ndim == 3 and a.shape[2] == 4:
            a = a[:, :, :3]
        if a.shape[:2] == (h, w) and (a.ndim == 2) == (c == 1):
            return a.reshape(h, w, c)
        if a.ndim == 2 and a.shape[:2] == (h, w) and c == 3:
            return np.repeat(a[:, :, None], 3, axis=2)
        if Image is None:
            raise OverlayError(f"{where}: image {a.shape} needs conversion to {h}x{w}x{c}, which needs pillow")
        pil = Image.fromarray(a).convert("L" if c == 1 else "RGB")
    if pil.size != (w, h):
        if not resize:
            raise OverlayError(f"{where}: image is {pil.size[1]}x{pil.size[0]}, the model takes {h}x{w} (resize=False)")
        pil = pil.resize((w, h), Image.BILINEAR)
    return np.asarray(pil, dtype=np.uint8).reshape(h, w, c)


def preprocess(images, shape, resize: bool = True) -> np.ndarray:
    """PIL images / arrays -> uint8 (N, H, W, C) for a model with input ``shape`` = (H, W, C).

    ``images``: a list/tuple of images, or an array (N, H, W) / (N, H, W, C) batch."""
    h, w, c = shape
    if isinstance(images, np.ndarray):
        if images.ndim == 3 and c == 1 and images.shape[1:] == (h, w):
            images = images[..., None]
        if images.ndim == 4 and images.shape[1:] == (h, w, c):
            return _to_uint8(images, "images").copy()
        if images.ndim not in (3, 4):
            raise OverlayError(f"images: a batch must be (N, H, W) or (N, H, W, C), got shape {images.shape}; "
                               "use classify() for one image")
    if len(images) == 0:
        raise OverlayError("images: empty batch")
    return np.stack([_one(im, h, w, c, f"image {i}", resize) for i, im in enumerate(images)])


def pack_frames(images: np.ndarray, beats_per_frame: int) -> np.ndarray:
    """uint8 (N, H, W, C) -> uint64 (N, beats): byte i of a frame at bits [8*(i%8)+7 : 8*(i%8)] of beat i/8."""
    n = images.shape[0]
    flat = images.reshape(n, -1)
    out = np.zeros((n, beats_per_frame * 8), np.uint8)
    out[:, : flat.shape[1]] = flat
    return out.view("<u8").reshape(n, beats_per_frame)


def unpack_words(words: np.ndarray, classes: int, top_k: int):
    w = np.asarray(words).reshape(-1, classes + top_k).astype("<u4", copy=False).view("<i4")
    return w[:, :classes].astype(np.int32), w[:, classes:].astype(np.int32)


# --------------------------------------------------------------------- the hw driver


class HwDriver:
    """Drives one overlay through a pynq-like module (real pynq or bnnfpga.emulated_board)."""

    def __init__(self, pynq, bitfile: str, meta: dict, timeout_s: float = 5.0, max_frames_per_run: int = 4096,
                 net=None):
        self.pynq, self.meta, self.timeout_s = pynq, meta, float(timeout_s)
        self.ol = pynq.Overlay(str(bitfile))
        names = meta["ips"]
        have = set(getattr(self.ol, "ip_dict", {}) or {})
        for role, ip in names.items():
            if ip not in have:
                raise OverlayError(f"{bitfile}: the overlay has no IP '{ip}' ({role}); it has: {', '.join(sorted(have))}")
        self.acc = getattr(self.ol, names["accelerator"])
        self.dma = getattr(self.ol, names["dma"])
        self.gpio = getattr(self.ol, names["frames_gpio"])
        self.reg = meta["registers"]
        self.in_beats = meta["input"]["beats_per_frame"]
        self.out_words = meta["output"]["words_per_frame"]
        lim = meta["dma"]["max_transfer_bytes"]
        self.max_frames = max(1, min(max_frames_per_run, lim // (8 * self.in_beats), lim // (4 * self.out_words)))
        self._bufs = None
        from .overlay_dram import DramWeights  # weights in DRAM (docs/offchip-weights.md); empty when none

        for e in (meta.get("dram_weights") or {}).values():
            if e["ip"] not in have:
                raise OverlayError(f"{bitfile}: the overlay has no IP '{e['ip']}' (weight DMA); it has: {', '.join(sorted(have))}")
        self.dram = DramWeights(pynq, self.ol, meta, net)
        from .overlay_uram import UramWeights  # weights in URAM (bnnfpga.uram): written once, here

        self.uram = UramWeights(self.acc, self.reg, meta, net, self.timeout_s)

    def _buffers(self, n: int):
        if self._bufs is None or self._bufs[0].shape[0] < n:
            self._free_io()
            cap = min(self.max_frames, max(n, 16))
            self._bufs = (self.pynq.allocate(shape=(cap, self.in_beats), dtype=np.uint64),
                          self.pynq.allocate(shape=(cap, self.out_words), dtype=np.uint32))
        return self._bufs

    def _free_io(self):
        if self._bufs is not None:
            for b in self._bufs:
                if hasattr(b, "freebuffer"):
                    b.freebuffer()
            self._bufs = None

    def close(self):
        self._free_io()
        if getattr(self, "dram", None):
            self.dram.close()

    def run(self, beats: np.ndarray) -> np.ndarray:
        """uint64 (N, beats) -> uint32 (N, words), in runs of at most max_frames frames."""
        out = np.empty((len(beats), self.out_words), np.uint32)
        for s in range(0, len(beats), self.max_frames):
            out[s:s + self.max_frames] = self._run(beats[s:s + self.max_frames])
        return out

    def _run(self, beats: np.ndarray) -> np.ndarray:
        n = len(beats)
        ibuf, obuf = self._buffers(n)
        ctrl = self.acc.read(self.reg["ap_ctrl"])
        if not ctrl & md.AP_IDLE:
            raise AcceleratorTimeout(f"accelerator is busy (AP_CTRL={ctrl:#x}) from an earlier run that never "
                                     "finished; reload the overlay")
        ibuf[:n] = beats
        if hasattr(ibuf, "flush"):
            ibuf.flush()
        self.acc.write(self.reg["do_init"], 0)
        self.acc.write(self.reg["num_frames"], n)
        self.gpio.write(self.meta["dma"]["gpio_data"], n)  # bnn_tlast_run: one S2MM packet for the run
        _transfer(self.dma.recvchannel, obuf, n, self.out_words * 4)
        _transfer(self.dma.sendchannel, ibuf, n, self.in_beats * 8)
        if self.dram:
            self.dram.start(n)  # first weight pass of every off-chip layer
        self.acc.write(self.reg["ap_ctrl"], md.AP_START)
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self.dram:
                self.dram.service()  # next weight passes as the channels free up
            ctrl = self.acc.read(self.reg["ap_ctrl"])
            if ctrl & md.AP_DONE:
                break
            if time.monotonic() > deadline:
                raise AcceleratorTimeout(f"accelerator stalled: no ap_done {self.timeout_s:g} s after starting "
                                         f"{n} frames (AP_CTRL={ctrl:#x}, DMA send idle={_idle(self.dma.sendchannel)}, "
                                         f"receive idle={_idle(self.dma.recvchannel)}"
                                         + (f", weight passes not sent: {self.dram.pending()}" if self.dram and
                                            self.dram.pending() else "") + ")")
        for ch in (self.dma.sendchannel, self.dma.recvchannel):
            while _idle(ch) is False:
                if time.monotonic() > deadline:
                    raise AcceleratorTimeout(f"DMA channel did not go idle within {self.timeout_s:g} s after ap_done")
            ch.wait()
        if self.dram:
            self.dram.finish()
        if hasattr(obuf, "invalidate"):
            obuf.invalidate()
        return np.array(obuf[:n], dtype=np.uint32)


def _transfer(ch, buf, n: int, row_bytes: int) -> None:
    """The first n rows of buf; pynq >= 2.7 takes nbytes, older releases a sliced buffer."""
    import inspect

    try:
        takes = "nbytes" in inspect.signature(ch.transfer).parameters
    except (TypeError, ValueError):
        takes = False
    if takes:
        ch.transfer(buf, nbytes=n * row_bytes)
    else:
        ch.transfer(buf[:n])


def _idle(ch):
    return getattr(ch, "idle", None)


# --------------------------------------------------------------------- the classifier


def _find_overlay(path: Path):
    """An overlay folder, .bit or .json -> (folder, metadata path)."""
    if path.is_dir():
        metas = sorted(p for p in path.glob("*.json") if p.is_file())
        if not metas:
            raise OverlayError(f"{path}: no overlay metadata (*.json) in this folder; build it with `bnnfpga build`")
        if len(metas) > 1:
            named = path / f"{path.name}.json"
            if not named.is_file():
                raise OverlayError(f"{path}: several *.json files; pass the overlay's .bit or .json path")
            metas = [named]
        return path, metas[0]
    if path.suffix in (".bit", ".json", ".hwh"):
        meta = path.with_suffix(".json")
        if not meta.is_file():
            raise OverlayError(f"{meta}: overlay metadata not found")
        return path.parent, meta
    raise OverlayError(f"{path}: not an overlay folder, .bit or .json file")


class Classifier:
    """Classify images on the board (``hw``), the RTL simulation (``sim``) or the golden model (``sw``).

    ``source``: an overlay folder (or its .bit/.json), a model file (.bnn), or an ir.Network.
    ``pynq``: the pynq module to use for ``hw`` (default: ``import pynq``).
    ``folding``/``top_k``: for ``sim`` from a model without overlay (default: bnnfpga's default folding, 1).
    ``timeout_s``: how long ``hw``/``sim`` wait for ap_done (``sim`` allows for the simulation time)."""

    def __init__(self, source, runtime: str = "hw", *, pynq=None, timeout_s: Optional[float] = None,
                 folding=None, top_k: Optional[int] = None, build_root=None, resize: bool = True):
        from .ir import Network

        if runtime not in RUNTIMES:
            raise OverlayError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        self.runtime, self.resize = runtime, resize
        self.net = None
        self.meta: Optional[dict] = None
        self.folder: Optional[Path] = None
        if isinstance(source, Network):
            self.net = source.validate()
        else:
            p = Path(source)
            if not p.exists():
                raise OverlayError(f"{p}: overlay or model file not found")
            if p.is_file() and p.suffix not in (".bit", ".json", ".hwh"):
                from .modelfile import load

                self.net = load(p)
            else:
                self.folder, meta_path = _find_overlay(p)
                try:
                    self.meta = md.load(meta_path)
                except md.MetadataError as e:
                    raise OverlayError(str(e)) from None
        if self.meta is None:
            self.meta = self._meta_for(self.net, folding, top_k)
        if self.net is None and (runtime != "hw" or self.meta.get("dram_weights") or self.meta.get("uram_weights")):
            self.net = self._load_model()  # (hw: the driver fills the DRAM weight buffers from it)
        m = self.meta
        self.shape = (m["input"]["height"], m["input"]["width"], m["input"]["channels"])
        self.classes = m["class_names"] or [str(i) for i in range(m["output"]["classes"])]
        self.top_k_n = m["output"]["top_k"]
        self._driver = None
        self._golden = None
        if runtime == "hw":
            if self.folder is None:
                raise OverlayError("runtime 'hw' needs an overlay folder (with .bit/.hwh/.json), not a model")
            bit = self.folder / m["files"]["bit"]
            for key in ("bit", "hwh"):
                f = self.folder / m["files"][key]
                if not f.is_file():
                    raise OverlayError(f"{f}: missing; the overlay has no {'bitstream' if key == 'bit' else 'hardware handoff'}"
                                       " (finish it with project/build.sh on a machine with Vivado)")
            if pynq is None:
                try:
                    import pynq  # noqa: F811
                except ImportError:
                    raise OverlayError("runtime 'hw' needs the pynq package (run on a PYNQ board), "
                                       "or pass pynq=bnnfpga.emulated_board") from None
            self._driver = HwDriver(pynq, str(bit), m, timeout_s if timeout_s is not None else 5.0, net=self.net)
        elif runtime == "sim":
            from .emulated_board import EmulatedPynq

            emu = pynq if pynq is not None else EmulatedPynq(net=self.net, folding=md.folding_of(m), meta=m,
                                                              build_root=build_root)
            t = timeout_s if timeout_s is not None else 600.0
            self._driver = HwDriver(emu, str((self.folder or Path(".")) / m["files"]["bit"]), m, t, net=self.net)
        else:
            from .golden import GoldenModel

            self._golden = GoldenModel(self.net)

    # ---- construction helpers
    @staticmethod
    def _meta_for(net, folding, top_k) -> dict:
        from . import boards
        from . import folding as fo
        from .modelfile import dumps
        from .sim_cli import DEFAULT_TARGET_CYCLES

        fold = folding if folding is not None else fo.for_target(net, DEFAULT_TARGET_CYCLES)
        fo.check(net, fold)
        return md.make(net, dumps(net), fold, name="in_memory", board=boards.get("pynq-z2"), clock_mhz=100.0,
                       top_k=top_k or 1)

    def _load_model(self):
        from .modelfile import ModelFileError, load

        f = self.folder / self.meta["model"]["file"]
        if not f.is_file():
            raise OverlayError(f"{f}: the overlay's model file is missing (runtime '{self.runtime}' needs it)")
        if md.sha256_bytes(f.read_bytes()) != self.meta["model"]["sha256"]:
            raise OverlayError(f"{f}: sha256 differs from the overlay metadata; the model is not the one built")
        try:
            return load(f)
        except ModelFileError as e:
            raise OverlayError(str(e)) from None

    # ---- API
    def class_name(self, i: int) -> str:
        return self.classes[int(i)]

    @property
    def input_shape(self):
        return self.shape

    def preprocess(self, images) -> np.ndarray:
        return preprocess(images, self.shape, self.resize)

    def classify_batch(self, images) -> BatchResult:
        x = self.preprocess(images)
        k = self.top_k_n
        info = {}
        t0 = time.perf_counter()
        if self.runtime == "sw":
            from .golden import label_select

            scores = self._golden.run(x)
            top = label_select(scores, k)
            dt = time.perf_counter() - t0
        else:
            beats = pack_frames(x, self.meta["input"]["beats_per_frame"])
            t0 = time.perf_counter()
            words = self._driver.run(beats)
            dt = time.perf_counter() - t0
            scores, top = unpack_words(words, self.meta["output"]["classes"], k)
            emu = getattr(self._driver.ol, "emulation", None)
            if emu is not None and emu.runs:
                info = dict(emu.runs[-1])
                if info.get("cycles_per_frame"):
                    info["estimated_us_per_image"] = info["cycles_per_frame"] / self.meta["clock_mhz"]
        idx = top[:, 0].astype(np.int64)
        return BatchResult(idx, [self.classes[i] for i in idx], scores, top, dt, self.runtime, info)

    def classify(self, image) -> Result:
        if isinstance(image, (list, tuple)):
            raise OverlayError("classify() takes one image; use classify_batch() for several")
        r = self.classify_batch([image])
        return Result(int(r.indices[0]), r.names[0], r.scores[0], r.top_k[0], r.seconds, self.runtime)

    def close(self):
        if self._driver is not None:
            self._driver.close()

    def __repr__(self) -> str:
        return (f"Classifier({self.meta['model']['name']!r}, runtime={self.runtime!r}, input {self.shape}, "
                f"{len(self.classes)} classes)")
