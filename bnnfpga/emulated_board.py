"""A pynq-like board whose accelerator is the Verilator model of the RTL design.

It offers the part of pynq's interface the driver (:mod:`bnnfpga.overlay`) uses::

    ol = Overlay("overlays/x/x.bit")        # reads x.json (+ x.bnn) beside the bitfile
    ol.ip_dict                               # {"bnn_top_0": {...}, "axi_dma_0": {...}, "bnn_frames_0": {...}}
    acc, dma, gpio = ol.bnn_top_0, ol.axi_dma_0, ol.bnn_frames_0
    buf = allocate(shape, dtype)             # numpy array with .physical_address, .flush(), .invalidate()
    acc.write(0x10, n); acc.read(0x00)       # MMIO on the control registers (docs/interface.md)
    dma.sendchannel.transfer(buf); dma.recvchannel.transfer(out); ...wait(); .idle

Behaviour: when ap_start is written and the DMA has both a send and a receive
transfer queued, the frames in the send buffer (num_frames of them) run through
the RTL simulation (:func:`bnnfpga.rtl.cosim.cosimulate`, which replays the same
register writes and AXI-Stream traffic on the Verilator model; its build is
cached and reused) and the output words go to the receive buffer in S2MM
packets, as the block design groups them: ``bnn_tlast_run`` ends a packet every
``frames_per_packet`` frames (the AXI GPIO register, 0 = every frame).  A packet
longer than the receive buffer is a DMA error, as on the board.  ap_done (AP_CTRL
bit 1, clear on read) rises when every packet has been received.

``EmulatedPynq(stall=True)`` emulates a hung accelerator: it accepts ap_start
and the transfers but never finishes (AP_CTRL never shows ap_done, the channels
never go idle); waiting on such a channel raises instead of hanging.

Use the module itself as the ``pynq`` argument of the driver
(``Classifier(..., pynq=bnnfpga.emulated_board)``), or an :class:`EmulatedPynq`
instance for options (stall, a network given in memory, a build folder).
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from . import metadata as md


class EmulationError(RuntimeError):
    """Something the real board would do differently (or hang on)."""


_phys = itertools.count(0x1000_0000, 0x10_0000)


class EmulatedBuffer(np.ndarray):
    """A pynq.allocate buffer: a numpy array with a (fake) physical address."""

    def __new__(cls, shape, dtype=np.uint32):
        obj = np.zeros(shape, dtype=dtype).view(cls)
        obj.physical_address = next(_phys)
        obj.flushed = 0
        obj.freed = False
        return obj

    def __array_finalize__(self, obj):
        if obj is None:
            return
        self.physical_address = getattr(obj, "physical_address", 0)
        self.flushed = getattr(obj, "flushed", 0)
        self.freed = getattr(obj, "freed", False)

    @property
    def device_address(self):
        return self.physical_address

    def flush(self):
        self.flushed += 1

    def invalidate(self):
        pass

    def sync_to_device(self):
        self.flush()

    def sync_from_device(self):
        pass

    def freebuffer(self):
        self.freed = True

    close = freebuffer

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.freebuffer()


class _Channel:
    def __init__(self, board: "_Device", direction: str):
        self._board = board
        self.direction = direction
        self.buffer: Optional[EmulatedBuffer] = None
        self.nbytes = 0
        self.transferred = 0
        self._busy = False
        self.error: Optional[str] = None

    @property
    def running(self) -> bool:
        return True

    @property
    def idle(self) -> bool:
        return not self._busy

    def transfer(self, array, start: int = 0, nbytes: int = 0):
        if self._busy:
            raise RuntimeError(f"DMA channel {self.direction} is not idle")
        if not isinstance(array, EmulatedBuffer):
            raise TypeError("the DMA transfers only buffers from allocate()")
        if getattr(array, "freed", False):
            raise RuntimeError("transfer of a freed buffer")
        self.buffer = array
        self.nbytes = int(nbytes or array.nbytes - start)
        self.transferred = 0
        self.error = None
        self._busy = True
        self._board._poke()

    def wait(self):
        if self.error:
            msg, self.error = self.error, None
            raise RuntimeError(msg)
        if self._busy:
            raise EmulationError(f"DMA {self.direction} wait() on a transfer that never completes: on the board "
                                 "this call would block forever (check ap_done with a timeout first)")

    def _complete(self, nbytes: int):
        self.transferred = nbytes
        self._busy = False


class _DMA:
    def __init__(self, board):
        self.sendchannel = _Channel(board, "MM2S")
        self.recvchannel = _Channel(board, "S2MM")


class _MMIO:
    def __init__(self, board, regs: Dict[int, int], name: str, size: int = 0x10000):
        self._board, self._regs, self._name, self._size = board, regs, name, size

    def read(self, offset: int = 0, length: int = 4):
        self._check(offset)
        return self._board._read(self._name, offset)

    def write(self, offset: int, value):
        self._check(offset)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{self._name}: MMIO write of {type(value).__name__}, expected an integer")
        self._board._write(self._name, offset, int(value) & 0xFFFFFFFF)

    def _check(self, offset):
        if not isinstance(offset, (int, np.integer)) or offset < 0 or offset >= self._size or offset % 4:
            raise ValueError(f"{self._name}: MMIO offset {offset!r} out of range or unaligned")


class _IP(_MMIO):
    """DefaultIP-like: read/write and .mmio."""

    @property
    def mmio(self):
        return self


class _Device:
    """One emulated bitstream: the accelerator, the DMA and the frames GPIO."""

    def __init__(self, net, folding, meta: dict, stall: bool, build_root=None):
        self.net, self.folding, self.meta, self.stall, self.build_root = net, folding, meta, stall, build_root
        self.top_k = meta["output"]["top_k"]
        self.regs = {off: 0 for off in md.REGISTERS.values()}
        self.gpio = 0
        self.state = "idle"  # idle | started | running | stalled
        self.done_pending = False
        self.packets: List[np.ndarray] = []
        self.dma = _DMA(self)
        self.runs: List[dict] = []
        self._files = None
        # off-chip weights (docs/offchip-weights.md): one MM2S DMA per layer, passes still due
        self.wdma = {name: _DMA(self) for name in (meta.get("dram_weights") or {})}
        self.wleft: Dict[str, int] = {}
        self.wimage: Dict[str, bytes] = {}
        # weights in URAM (bnnfpga.uram): the do_init writes the driver made, in order
        self.uram_ids = {e["target_layer"] for e in (meta.get("uram_weights") or {}).values()}
        self.param_rows: List[tuple] = []

    # ---- registers
    def _read(self, ip, offset):
        if ip == "gpio":
            return self.gpio if offset == md.GPIO_DATA else 0
        if offset == md.REGISTERS["ap_ctrl"]:
            self._poke()
            if self.state in ("started", "running", "stalled"):
                return md.AP_START if self.state == "started" else 0
            v = md.AP_IDLE
            if self.done_pending:
                self.done_pending = False
                v |= md.AP_DONE | md.AP_READY
            return v
        return self.regs.get(offset, 0)

    def _write(self, ip, offset, value):
        if ip == "gpio":
            if offset == md.GPIO_DATA:
                self.gpio = value
            return
        if offset == md.REGISTERS["ap_ctrl"]:
            if value & md.AP_START and self.state == "idle":
                self.done_pending = False
                if self.regs[md.REGISTERS["do_init"]] & 1:
                    self.done_pending = True  # ROM parameters: a do_init run finishes at once
                    self._param_write()  # URAM weights (bnnfpga.uram): replayed into each simulation
                    return
                self.state = "stalled" if self.stall else "started"
                self._poke()
            return
        if offset in self.regs:
            self.regs[offset] = value

    # ---- the run
    def _poke(self):
        """Advance the emulation: start the simulation once everything is queued; deliver packets."""
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        weights_queued = (all(d.sendchannel._busy for d in self.wdma.values())
                          or self.regs[md.REGISTERS["num_frames"]] == 0)
        if self.state == "started" and send._busy and recv._busy and weights_queued:
            self._simulate()
        self._weight_passes()
        if self.state == "running":
            while self.packets and recv._busy:
                pkt = self.packets[0]
                room = recv.nbytes // 4
                if pkt.size > room:
                    recv.error = (f"DMA S2MM internal error: a {pkt.size * 4}-byte packet does not fit the "
                                  f"{recv.nbytes}-byte receive buffer")
                    recv._busy = False
                    self.state = "stalled"
                    return
                flat = recv.buffer.reshape(-1).view(np.uint32)
                flat[: pkt.size] = pkt.astype("<i4").view("<u4")
                recv._complete(pkt.size * 4)
                self.packets.pop(0)
            if not self.packets and not any(self.wleft.values()):
                self.state = "idle"
                self.done_pending = True

    def _simulate(self):
        from .rtl import backend, cosim

        send = self.dma.sendchannel
        n = self.regs[md.REGISTERS["num_frames"]]
        sp = self.net.input
        beats = self.meta["input"]["beats_per_frame"]
        raw = np.asarray(send.buffer).reshape(-1).view(np.uint8)[: send.nbytes]
        if n == 0:
            send._complete(0)
            self.state, self.packets = "running", []
            return
        if raw.size != n * beats * 8:
            # the accelerator would wait for more input, or the MM2S channel for a reader
            self.state = "stalled"
            return
        frames = raw.reshape(n, beats * 8)[:, : sp.height * sp.width * sp.channels]
        images = frames.reshape(n, sp.height, sp.width, sp.channels).copy()
        if self._files is None:
            self._files = backend.generate(self.net, self.folding, top_k=self.top_k)
        dram = self._weight_images(n)
        if dram is None:
            self.state = "stalled"
            return
        res = cosim.cosimulate(self.net, images, self.folding, self.top_k, check=False, files=self._files,
                               build_root=self.build_root, dram_images=dram,
                               uram_rows=np.array(self.param_rows, np.uint32).reshape(-1, 5) if self.uram_ids else None)
        if not res.info.get("ap_ctrl_done", 0) & md.AP_DONE:
            self.state = "stalled"
            return
        send._complete(send.nbytes)
        for name, d in self.wdma.items():  # the first pass of each layer went in with the run
            d.sendchannel._complete(d.sendchannel.nbytes)
        self.runs.append(dict(frames=n, cycles_per_frame=res.cycles_per_frame, latency_cycles=res.latency_cycles,
                              sim_cycles=res.sim_cycles, sim_seconds=res.sim_seconds, build_seconds=res.build_seconds))
        per = max(1, self.gpio)  # bnn_tlast_run: 0 or 1 = a packet per frame
        words = res.words.astype(np.int64)
        self.packets = [words[i:i + per].reshape(-1) for i in range(0, n, per)]
        self.state = "running"


    def _param_write(self):
        """A do_init run: a write to a URAM layer's weights is kept (the other parameters are ROMs here)."""
        r = {k: self.regs[md.REGISTERS[k]] for k in ("target_layer", "target_mem", "target_index", "value_lo", "value_hi")}
        if r["target_layer"] in self.uram_ids and r["target_mem"] == 0:
            self.param_rows.append((r["target_layer"], 0, r["target_index"], r["value_lo"], r["value_hi"]))

    def _weight_images(self, n: int):
        """The weight buffers queued on the weight DMAs (the emulated DRAM streams each one
        ceil(n / batch) times, ceil(n * OH*OW / batch) for a convolution); None when a transfer has the wrong size (the board would hang)."""
        from .offchip import passes

        out = {}
        for name, e in (self.meta.get("dram_weights") or {}).items():
            ch = self.wdma[name].sendchannel
            got = self._passes_in(name, ch, e["bytes_per_pass"])  # a transfer may carry several passes
            if got is None:
                return None
            k, out[name] = got
            self.wimage[name] = out[name]
            self.wleft[name] = passes(n, e["batch"], e.get("vectors_per_frame", 1)) - k
        return out

    def _passes_in(self, name: str, ch, pass_bytes: int):
        """(passes, the first pass's bytes) of the queued transfer: whole, identical weight
        passes (None: not a whole number of passes; copies that differ: the board would stream
        other weights)."""
        if ch.nbytes == 0 or ch.nbytes % pass_bytes:
            return None
        raw = np.asarray(ch.buffer).reshape(-1).view(np.uint8)[: ch.nbytes].reshape(-1, pass_bytes)
        if not (raw == raw[0]).all():
            raise EmulationError(f"weight DMA of layer '{name}': the copies of the weight image in one transfer differ")
        return raw.shape[0], raw[0].tobytes()

    def _weight_passes(self):
        """Passes after the first: the emulated DRAM already streamed them, so each transfer the
        driver queues completes at once, provided it is the same buffer content."""
        if self.state != "running":
            return
        for name, d in self.wdma.items():
            ch = d.sendchannel
            if ch._busy and self.wleft.get(name, 0) > 0:
                got = self._passes_in(name, ch, len(self.wimage[name]))
                if got is None or got[1] != self.wimage[name]:
                    raise EmulationError(f"weight DMA of layer '{name}': a later pass differs from the first "
                                         "(the driver changed the weight buffer during a run)")
                k = got[0]
                if k > self.wleft[name]:
                    raise EmulationError(f"weight DMA of layer '{name}': a transfer of {k} passes when "
                                         f"{self.wleft[name]} are due (the board would hang)")
                ch._complete(ch.nbytes)
                self.wleft[name] -= k


class EmulatedOverlay:
    """pynq.Overlay-like: .ip_dict, attribute access to the IP blocks, .is_loaded()."""

    def __init__(self, device: _Device, bitfile: str):
        self._device = device
        self.bitfile_name = str(bitfile)
        ips = device.meta["ips"]
        self._ips = {
            ips["accelerator"]: _IP(device, device.regs, "accelerator"),
            ips["dma"]: device.dma,
            ips["frames_gpio"]: _IP(device, {}, "gpio"),
        }
        vlnv = {ips["accelerator"]: "xilinx.com:hls:bnn_top:1.0", ips["dma"]: "xilinx.com:ip:axi_dma:7.1",
                ips["frames_gpio"]: "xilinx.com:ip:axi_gpio:2.0"}
        for name, e in (device.meta.get("dram_weights") or {}).items():  # weight DMAs (off-chip weights)
            self._ips[e["ip"]] = device.wdma[name]
            vlnv[e["ip"]] = "xilinx.com:ip:axi_dma:7.1"
        self.ip_dict = {k: {"fullpath": k, "type": vlnv[k], "phys_addr": 0x4000_0000 + 0x1_0000 * i,
                            "addr_range": 0x1_0000, "state": None} for i, k in enumerate(self._ips)}

    def __getattr__(self, name):
        ips = self.__dict__.get("_ips", {})
        if name in ips:
            return ips[name]
        raise AttributeError(f"overlay {self.__dict__.get('bitfile_name')} has no IP or attribute '{name}'")

    def is_loaded(self) -> bool:
        return True

    def download(self):
        pass

    @property
    def emulation(self) -> _Device:
        return self._device


class EmulatedPynq:
    """A pynq-module stand-in: ``.Overlay(bitfile)`` and ``.allocate(shape, dtype)``.

    With ``net``/``folding``/``meta`` the overlay is this network (the bitfile need not exist,
    as for the driver's ``sim`` runtime); without them ``Overlay(path)`` reads the metadata
    (``<stem>.json``) and model file beside ``path``, which must exist, as on the board."""

    def __init__(self, stall: bool = False, net=None, folding=None, meta: Optional[dict] = None, build_root=None):
        self.stall, self.net, self.folding, self.meta, self.build_root = stall, net, folding, meta, build_root
        self.devices: List[_Device] = []

    def Overlay(self, bitfile, download: bool = True, **kw) -> EmulatedOverlay:
        if self.net is not None:
            dev = _Device(self.net, self.folding, self.meta, self.stall, self.build_root)
        else:
            dev = self._device_from_files(Path(bitfile))
        self.devices.append(dev)
        return EmulatedOverlay(dev, bitfile)

    def _device_from_files(self, bit: Path) -> _Device:
        from .modelfile import load

        if not bit.is_file():
            raise OSError(f"bitstream file {bit} does not exist")
        for ext in (".hwh",):
            if not bit.with_suffix(ext).is_file():
                raise OSError(f"hardware handoff {bit.with_suffix(ext)} does not exist (PYNQ needs it beside the .bit)")
        meta = md.load(bit.with_suffix(".json"))
        net = load(bit.parent / meta["model"]["file"])
        if md.sha256_bytes((bit.parent / meta["model"]["file"]).read_bytes()) != meta["model"]["sha256"]:
            raise EmulationError(f"{bit.parent / meta['model']['file']}: sha256 differs from the overlay metadata")
        return _Device(net, md.folding_of(meta), meta, self.stall, self.build_root)

    @staticmethod
    def allocate(shape, dtype=np.uint32, **kw) -> EmulatedBuffer:
        return EmulatedBuffer(shape, dtype)


_default = EmulatedPynq()
Overlay = _default.Overlay
allocate = _default.allocate


def write_emulation_files(overlay_dir) -> List[Path]:
    """Stand-ins for the .bit and .hwh of an overlay folder built without Vivado, so that the
    emulated board (and only it) can open the folder.  They say what they are in plain text;
    a real PYNQ refuses them."""
    folder = Path(overlay_dir)
    meta = md.load(next(folder.glob("*.json")))
    out = []
    for key in ("bit", "hwh"):
        p = folder / meta["files"][key]
        p.write_text(f"EMULATION STAND-IN, NOT A {key.upper()} FILE: for bnnfpga.emulated_board only\n")
        out.append(p)
    return out
