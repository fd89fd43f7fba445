"""yosys `synth_xilinx -family xcup` (UltraScale+) of one MVTU layer module with its weights in
URAM (weights="uram": ram_style "ultra", written through the parameter port) against the same
layer with a block-RAM ROM: URAM288 / RAMB36E2 / LUT / FF counts next to the resource model.

    python benchmarks/bench_uram_yosys.py        (a few minutes per configuration)
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import tempfile

import numpy as np

from bnnfpga import random_net as rn
from bnnfpga.folding import LayerFold
from bnnfpga.ir import Dense, InputSpec, Network
from bnnfpga.resources import ResourceModel
from bnnfpga.rtl import backend

# (fan-in, outputs, PE, SIMD): word width PE*SIMD, depth fan_in/SIMD * out/PE
CONFIGS = [(576, 512, 4, 18), (576, 1024, 2, 36), (576, 512, 8, 18)]


def layer_net(fan_in: int, out: int) -> Network:
    rng = np.random.default_rng(0)
    layers = [Dense("fc0", fan_in, out, rng.integers(0, 2, (out, fan_in), dtype=np.uint8)),
              Dense("fc1", out, 10, rng.integers(0, 2, (10, out), dtype=np.uint8))]
    net = Network("y", InputSpec(fan_in, 1, 1, binarize_threshold=128), layers, classes=[str(i) for i in range(10)])
    net.layers[0].thresholds = rn._thresholds(rng, net, net.layers[0])
    return net.validate()


def synth(files) -> dict:
    with tempfile.TemporaryDirectory() as d:
        backend.write_design(files, pathlib.Path(d) / "x")
        srcs = [s for s in backend.sources(files) if s.endswith(("bnn_mvtu.sv", "layer_fc0.sv"))]
        script = (f"read_verilog -sv {' '.join(srcs)}; hierarchy -top layer_fc0; "
                  "synth_xilinx -family xcup -top layer_fc0; tee -q -o stat.json stat -json")
        subprocess.run(["yosys", "-q", "-p", script], cwd=pathlib.Path(d) / "x", check=True, capture_output=True,
                       timeout=3600)
        cells = json.loads((pathlib.Path(d) / "x" / "stat.json").read_text())["design"]["num_cells_by_type"]
    return {"URAM288": cells.get("URAM288", 0), "RAMB36": cells.get("RAMB36E2", 0) + 0.5 * cells.get("RAMB18E2", 0),
            "LUT": sum(v for k, v in cells.items() if k.startswith("LUT")),
            "FF": sum(v for k, v in cells.items() if k.startswith("FD"))}


def main():
    model = ResourceModel.load()
    print("| fan-in x out | PE x SIMD | words x bits | weights | yosys URAM / RAMB36 / LUT / FF | model URAM / BRAM36 |")
    print("|---|---|---|---|---|---|")
    for fan_in, out, pe, simd in CONFIGS:
        net = layer_net(fan_in, out)
        for w in ("uram", "onchip"):
            fold = {"fc0": LayerFold(pe, simd, weights=w), "fc1": LayerFold(1, 8)}
            y = synth(backend.generate(net, fold))
            m = model.per_layer(net, fold)["fc0"]
            print(f"| {fan_in} x {out} | {pe} x {simd} | {fan_in // simd * out // pe} x {pe * simd} | {w} | "
                  f"{y['URAM288']} / {y['RAMB36']:g} / {y['LUT']} / {y['FF']} | {m.uram:g} / {m.bram36:g} |", flush=True)


if __name__ == "__main__":
    main()
