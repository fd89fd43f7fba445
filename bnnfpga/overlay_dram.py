"""Driver side of off-chip weights (docs/offchip-weights.md), used by bnnfpga.overlay.HwDriver.

Per layer whose weights live in DRAM, the overlay has an AXI DMA (MM2S) feeding the
layer's weight-stream port (metadata "dram_weights": the DMA's IP name, the port, the
batch size B and the bytes of one pass).  The driver

* allocates one buffer per layer (``pynq.allocate``) and fills it once with the layer's
  weight image (:func:`bnnfpga.offchip.dram_image`, from the model file);
* for a run of N frames, streams the buffer ceil(N / B) times: the first transfer before
  ap_start, each next one as soon as the channel is idle again (the layer consumes one
  pass per batch; the last batch holds the frames left).  A convolution batches output
  pixels (metadata "vectors_per_frame" = OH*OW): ceil(N * OH*OW / B) passes.

The same calls drive the emulated board (``runtime="sim"``), whose DMA channels hand the
buffers to an emulated DRAM in the RTL simulation.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from . import offchip


class DramWeightError(ValueError):
    pass


class DramWeights:
    def __init__(self, pynq, ol, meta: dict, net):
        from .metadata import folding_of

        self.entries: Dict[str, dict] = dict(meta.get("dram_weights") or {})
        self.channels, self.buffers, self.left = {}, {}, {}
        if not self.entries:
            return
        if net is None:
            raise DramWeightError("the overlay streams weights from DRAM: the driver needs the model file to fill them")
        folding = folding_of(meta)
        layers = {l.name: l for l in net.compute_layers()}
        for name, e in self.entries.items():
            if name not in layers:
                raise DramWeightError(f"metadata dram_weights names layer '{name}', which the model does not have")
            image = offchip.dram_image(layers[name], folding[name])
            if len(image) != e["bytes_per_pass"]:
                raise DramWeightError(f"layer '{name}': weight image of {len(image)} bytes, the metadata says "
                                      f"{e['bytes_per_pass']}")
            self.channels[name] = getattr(ol, e["ip"]).sendchannel
            buf = pynq.allocate(shape=(len(image),), dtype=np.uint8)
            buf[:] = np.frombuffer(image, np.uint8)
            if hasattr(buf, "flush"):
                buf.flush()
            self.buffers[name] = buf

    def __bool__(self) -> bool:
        return bool(self.entries)

    def start(self, num_frames: int) -> None:
        """Queue the first pass of every off-chip layer for a run of num_frames frames."""
        for name, e in self.entries.items():
            self.left[name] = offchip.passes(num_frames, e["batch"], e.get("vectors_per_frame", 1))
            self._send(name)

    def _send(self, name: str) -> None:
        if self.left.get(name, 0) <= 0:
            return
        buf = self.buffers[name]
        ch = self.channels[name]
        try:
            ch.transfer(buf, nbytes=buf.nbytes)
        except TypeError:  # pynq < 2.7
            ch.transfer(buf)
        self.left[name] -= 1

    def service(self) -> None:
        """Re-queue a pass on every channel that finished one and has passes left."""
        for name, ch in self.channels.items():
            if self.left.get(name, 0) > 0 and getattr(ch, "idle", True):
                ch.wait()
                self._send(name)

    def pending(self) -> Optional[str]:
        """A description of passes not yet queued (None when every pass went out)."""
        left = {n: k for n, k in self.left.items() if k > 0}
        return ", ".join(f"{n}: {k} pass(es)" for n, k in left.items()) or None

    def finish(self) -> None:
        for ch in self.channels.values():
            if getattr(ch, "idle", True):
                ch.wait()

    def close(self) -> None:
        for b in self.buffers.values():
            if hasattr(b, "freebuffer"):
                b.freebuffer()
        self.buffers = {}
