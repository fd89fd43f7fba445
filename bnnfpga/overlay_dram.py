"""Driver side of off-chip weights (docs/offchip-weights.md), used by bnnfpga.overlay.HwDriver.

Per layer whose weights live in DRAM, the overlay has an AXI DMA (MM2S) feeding the
layer's weight-stream port (metadata "dram_weights": the DMA's IP name, the port, the
batch size B and the bytes of one pass).  The driver

* allocates one buffer per layer (``pynq.allocate``) and fills it once with the layer's
  weight image (:func:`bnnfpga.offchip.dram_image`, from the model file);
* for a run of N frames, streams the weight image ceil(N / B) times (the layer consumes one
  pass per batch; the last batch holds the frames left).  A convolution batches output
  pixels (metadata "vectors_per_frame" = OH*OW): ceil(N * OH*OW / B) passes.
  The buffer holds R copies of the image back to back, so one transfer carries up to R
  passes and a run needs ceil(passes / R) transfers: the first before ap_start, each next
  one as soon as the channel is idle again.  R grows to the passes a run needs, up to what
  one DMA transfer and ``MAX_BUFFER_BYTES`` allow (:func:`copies_per_buffer`).

The same calls drive the emulated board (``runtime="sim"``), whose DMA channels hand the
buffers to an emulated DRAM in the RTL simulation.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from . import offchip


class DramWeightError(ValueError):
    pass


MAX_BUFFER_BYTES = 4 << 20  # host memory per layer for repeated weight images (R copies)


def copies_per_buffer(pass_bytes: int, max_transfer_bytes: int, max_buffer_bytes: Optional[int] = None) -> int:
    """The most copies of a layer's weight image its DMA buffer may hold, so that one transfer
    carries that many passes (at least 1; ``max_buffer_bytes`` defaults to MAX_BUFFER_BYTES)."""
    cap = MAX_BUFFER_BYTES if max_buffer_bytes is None else int(max_buffer_bytes)
    return max(1, min(int(max_transfer_bytes), cap) // max(1, int(pass_bytes)))


class DramWeights:
    def __init__(self, pynq, ol, meta: dict, net):
        from .metadata import folding_of

        self.entries: Dict[str, dict] = dict(meta.get("dram_weights") or {})
        self.channels, self.buffers, self.left, self.copies, self.images, self.max_copies = {}, {}, {}, {}, {}, {}
        self._pynq = pynq
        self.transfers = 0  # DMA transfers queued so far (each carries up to copies[layer] passes)
        if not self.entries:
            return
        from .metadata import DMA_LENGTH_BITS

        max_transfer = int((meta.get("dma") or {}).get("max_transfer_bytes", (1 << DMA_LENGTH_BITS) - 1))
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
            self.images[name] = np.frombuffer(image, np.uint8)
            self.max_copies[name] = copies_per_buffer(len(image), max_transfer)
            self._fill(name, 1)

    def _fill(self, name: str, copies: int) -> None:
        """(Re)allocate the layer's buffer with ``copies`` weight images back to back."""
        old = self.buffers.get(name)
        if old is not None and hasattr(old, "freebuffer"):
            old.freebuffer()
        image = self.images[name]
        buf = self._pynq.allocate(shape=(copies * image.size,), dtype=np.uint8)
        buf[:] = np.tile(image, copies)
        if hasattr(buf, "flush"):
            buf.flush()
        self.buffers[name], self.copies[name] = buf, copies

    def __bool__(self) -> bool:
        return bool(self.entries)

    def start(self, num_frames: int) -> None:
        """Queue the first pass of every off-chip layer for a run of num_frames frames."""
        for name, e in self.entries.items():
            self.left[name] = offchip.passes(num_frames, e["batch"], e.get("vectors_per_frame", 1))
            want = min(self.left[name], self.max_copies[name])
            if want > self.copies[name]:  # more passes per transfer: a longer buffer, kept for later runs
                self._fill(name, want)
            self._send(name)

    def _send(self, name: str) -> None:
        if self.left.get(name, 0) <= 0:
            return
        buf = self.buffers[name]
        ch = self.channels[name]
        k = min(self.left[name], self.copies[name])  # passes in this transfer
        nbytes = k * self.entries[name]["bytes_per_pass"]
        try:
            ch.transfer(buf, nbytes=nbytes)
        except TypeError:  # pynq < 2.7: whole buffers only
            if k != self.copies[name]:
                raise DramWeightError(f"layer '{name}': this pynq cannot send part of a weight buffer; "
                                      "use pynq >= 2.7") from None
            ch.transfer(buf)
        self.left[name] -= k
        self.transfers += 1

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
