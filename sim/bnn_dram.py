"""Emulated DRAM behind the weight-stream ports of layers whose weights live off chip
(docs/offchip-weights.md), for the cocotb bench ``bnn_bench``.

Each such layer has an AXI4-Stream input ``s_axis_w_<module>`` fed, on the board, by a
DMA (MM2S) reading the layer's weight buffer from DRAM.  :class:`DramPort` plays that
DMA: it holds the buffer (the bytes of ``bnnfpga.offchip.dram_image``) and, for a run
of N frames, streams it ceil(N / batch) times, one AXI-Stream packet (TLAST on its last
beat) per pass; for a convolution, whose unit batches output pixels (``vectors`` = OH*OW
per frame), ceil(N * OH*OW / batch) times.  ``pause`` is the probability that a beat is held back in a cycle:
it emulates a DRAM/DMA delivering less than one beat per cycle (limited bandwidth).

Job data (in the bench's .npz): ``config["dram"]`` is a list of
``{"port": prefix, "batch": B, "key": npz key of the uint8 buffer, "vectors": OH*OW (optional, 1)}``.
"""
from __future__ import annotations

import random

import numpy as np
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSource


class DramPort:
    def __init__(self, dut, port: str, image: np.ndarray, batch: int, pause: float, rng: random.Random,
                 vectors: int = 1):
        self.port, self.batch, self.vectors = port, int(batch), int(vectors)
        self.image = bytes(np.asarray(image, dtype=np.uint8).tobytes())
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, port), dut.ap_clk, dut.ap_rst_n,
                                   reset_active_level=False)
        self.src.log.setLevel("WARNING")
        if pause > 0:
            self.src.set_pause_generator(_pauses(rng, pause))
        self.bytes_streamed = 0
        self.passes = 0

    def start_run(self, num_frames: int) -> None:
        """Queue the weight passes of a run of num_frames frames (the driver's DMA transfers)."""
        n = -(-int(num_frames) * self.vectors // self.batch)
        for _ in range(n):
            self.src.send_nowait(AxiStreamFrame(self.image))
        self.passes += n
        self.bytes_streamed += n * len(self.image)

    def clear(self) -> None:
        self.src.clear()

    @property
    def idle(self) -> bool:
        return self.src.idle()


def _pauses(rng: random.Random, p: float):
    while True:
        yield rng.random() < p


def ports(dut, job, cfg, rng: random.Random):
    """The DramPorts of a job (none for a design without off-chip weights)."""
    return [DramPort(dut, d["port"], job[d["key"]], d["batch"], float(cfg.get("dram_pause", 0.0)), rng,
                     int(d.get("vectors", 1))) for d in cfg.get("dram", [])]


def start_run(dram, num_frames: int) -> None:
    for d in dram:
        d.start_run(num_frames)


def info(dram) -> dict:
    return {"dram": [{"port": d.port, "batch": d.batch, "passes": d.passes, "bytes": d.bytes_streamed,
                      "image_bytes": len(d.image), "left_over": not d.idle} for d in dram]}
