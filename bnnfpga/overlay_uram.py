"""Driver side of URAM weights (bnnfpga.uram), used by bnnfpga.overlay.HwDriver.

A layer whose folding says ``weights="uram"`` has an UltraRAM weight memory that the
bitstream leaves empty (metadata "uram_weights").  At start-up the driver writes the
layer's weights from the model file through the run-time parameter registers
(docs/interface.md, "Run-time loadable parameters"): per weight word and PE lane one
do_init run (target_layer, target_mem 0, target_index, value), the lanes of a word in
index order (:func:`bnnfpga.uram.load_rows`).  The same calls drive the emulated board,
which replays the writes into the RTL simulation before the frames.
"""
from __future__ import annotations

import time
from typing import Dict

import numpy as np


class UramWeightError(ValueError):
    pass


class UramWeights:
    def __init__(self, acc, reg: Dict[str, int], meta: dict, net, timeout_s: float = 5.0):
        self.acc, self.reg, self.timeout_s = acc, reg, float(timeout_s)
        self.entries: Dict[str, dict] = dict(meta.get("uram_weights") or {})
        self.writes = 0
        if not self.entries:
            return
        if net is None:
            raise UramWeightError("the overlay keeps weights in URAM: the driver needs the model file to load them")
        from .metadata import folding_of

        self.folding = folding_of(meta)
        layers = {l.name: (i, l) for i, l in enumerate(net.compute_layers())}
        for name, e in self.entries.items():
            if name not in layers or layers[name][0] != e["target_layer"]:
                raise UramWeightError(f"metadata uram_weights names layer '{name}' (target_layer {e['target_layer']}), "
                                      "which the model does not have there")
        self.load(net)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def load(self, net) -> int:
        """Write the URAM layers' weights of ``net`` (same shapes as the overlay's model); returns the writes."""
        from . import metadata as md
        from .uram import load_rows

        rows = load_rows(net, self.folding)
        w = self.acc.write
        w(self.reg["do_init"], 1)
        last = None
        for layer, mem, index, lo, hi in rows.tolist():
            if (layer, mem) != last:
                w(self.reg["target_layer"], int(layer))
                w(self.reg["target_mem"], int(mem))
                last = (layer, mem)
            w(self.reg["target_index"], int(index))
            w(self.reg["value_lo"], int(lo))
            w(self.reg["value_hi"], int(hi))
            w(self.reg["ap_ctrl"], md.AP_START)
            deadline = time.monotonic() + self.timeout_s
            while not self.acc.read(self.reg["ap_ctrl"]) & md.AP_DONE:
                if time.monotonic() > deadline:
                    raise UramWeightError(f"URAM weight write (layer {layer}, index {index}) did not finish within "
                                          f"{self.timeout_s:g} s")
        w(self.reg["do_init"], 0)
        self.writes += len(rows)
        return len(rows)
