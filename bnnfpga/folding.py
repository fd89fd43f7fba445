"""Folding: how many output channels (PE) and input bits (SIMD) each compute
layer processes per clock cycle, and the analytical cycles per frame it implies.

A matrix-vector-threshold unit (MVTU) for a layer with fan-in n and C output
channels computes, per output pixel, ``(n / SIMD) * (C / PE)`` cycles:
the input fold (n / SIMD words of SIMD bits) times the output fold (C / PE
groups of PE channels).  A convolution repeats that for every output pixel; its
sliding-window generator emits one SIMD-wide word per cycle in the same order.

Legal foldings:
  * PE divides the layer's output channels;
  * SIMD divides the layer's input channels (convolution: C_in, so a window is
    K*K*C_in/SIMD words) or its in_features (dense).

The pipeline's cycles per frame is the slowest stage's (the stages run
concurrently in a dataflow pipeline); the other stages are listed too.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from .ir import Conv2D, Dense, IRError, MaxPool2D, Network, infer_shapes

# Width of the AXI4-Stream input: raw uint8 pixels, 8 per beat, (H, W, C) order.
INPUT_BEAT_BITS = 64
# Width of the AXI4-Stream output: one int32 score per beat, then the top-k labels.
OUTPUT_BEAT_BITS = 32


class FoldingError(ValueError):
    """An illegal or malformed folding (the message names the layer)."""


@dataclass(frozen=True)
class LayerFold:
    pe: int
    simd: int
    # Off-chip weights (docs/offchip-weights.md): "onchip" (weight ROM) or "dram" (weights
    # streamed from DRAM, each weight word read once per ``batch`` frames).
    weights: str = "onchip"
    batch: int = 1


@dataclass
class StageCycles:
    name: str
    kind: str
    cycles: int
    detail: str


def simd_base(layer) -> int:
    """The number SIMD must divide."""
    return layer.in_channels if isinstance(layer, Conv2D) else layer.in_features


def divisors(n: int) -> List[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def check(net: Network, folding: Dict[str, LayerFold]) -> Dict[str, LayerFold]:
    """Validate a folding against the network; returns it (complete) or raises FoldingError."""
    names = {l.name for l in net.compute_layers()}
    for k in folding:
        if k not in names:
            raise FoldingError(f"folding names layer '{k}', which the network does not have (layers: {', '.join(sorted(names))})")
    for layer in net.compute_layers():
        f = folding.get(layer.name)
        if f is None:
            raise FoldingError(f"layer '{layer.name}': no PE/SIMD given in the folding")
        for field in ("pe", "simd"):
            v = getattr(f, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise FoldingError(f"layer '{layer.name}': {field.upper()} must be a positive integer, got {v!r}")
        check_offchip(layer, f)
        if layer.out_channels % f.pe:
            raise FoldingError(f"layer '{layer.name}': PE={f.pe} does not divide its {layer.out_channels} output channels")
        base = simd_base(layer)
        what = "input channels" if isinstance(layer, Conv2D) else "input features"
        if base % f.simd:
            raise FoldingError(f"layer '{layer.name}': SIMD={f.simd} does not divide its {base} {what}")
    return folding


def layer_cycles(net: Network, layer, fold: LayerFold) -> int:
    shapes = dict((l.name, s) for l, s in zip(net.layers, infer_shapes(net)))
    _, out_shape = shapes[layer.name]
    pixels = out_shape[0] * out_shape[1] if isinstance(layer, Conv2D) else 1
    return pixels * (layer.fan_in // fold.simd) * (layer.out_channels // fold.pe)


def stage_cycles(net: Network, folding: Dict[str, LayerFold], top_k: int = 1) -> List[StageCycles]:
    """Analytical cycles per frame of every pipeline stage, in order.

    Graph networks (shortcut networks): the stages of the HLS plan (``bnnfpga.hls.graph``),
    duplicators, adds, thresholds, concats and width converters included."""
    check(net, folding)
    if net.is_graph:
        from .hls.graph import plan_graph

        return [StageCycles(s.layer or s.kind, s.kind, s.cycles, f"{s.shapes} PE={s.pe} SIMD={s.simd}".strip())
                for s in plan_graph(net, folding, top_k).stages]
    stages: List[StageCycles] = []
    sp = net.input
    in_bytes = sp.height * sp.width * sp.channels
    stages.append(StageCycles("input", "input", -(-in_bytes * 8 // INPUT_BEAT_BITS), f"{in_bytes} bytes in {INPUT_BEAT_BITS}-bit beats"))
    for layer, (ishape, oshape) in zip(net.layers, infer_shapes(net)):
        if isinstance(layer, MaxPool2D):
            stages.append(StageCycles(layer.name, "maxpool", ishape[0] * ishape[1], f"{ishape}->{oshape}, one pixel per cycle"))
            continue
        f = folding[layer.name]
        cyc = layer_cycles(net, layer, f)
        kind = "conv" if isinstance(layer, Conv2D) else "dense"
        stages.append(StageCycles(layer.name, kind, cyc, f"{ishape}->{oshape} PE={f.pe} SIMD={f.simd}"
                                  + (f" weights from DRAM, batch {f.batch}" if f.weights == "dram" else "")))
    stages.append(StageCycles("output", "output", net.num_classes + top_k, f"{net.num_classes} scores + {top_k} labels"))
    return stages


def pipeline_cycles(net: Network, folding: Dict[str, LayerFold], top_k: int = 1) -> int:
    return max(s.cycles for s in stage_cycles(net, folding, top_k))


def minimal(net: Network) -> Dict[str, LayerFold]:
    """PE=1, SIMD=1 everywhere (smallest, slowest)."""
    return {l.name: LayerFold(1, 1) for l in net.compute_layers()}


def for_target(net: Network, target_cycles: int) -> Dict[str, LayerFold]:
    """Per layer, the legal folding with the fewest PE*SIMD lanes meeting ``target_cycles``
    (the fastest one when none meets it)."""
    if target_cycles < 1:
        raise FoldingError(f"target cycles per frame must be positive, got {target_cycles}")
    out = {}
    for layer in net.compute_layers():
        best = None
        for pe in divisors(layer.out_channels):
            for simd in divisors(simd_base(layer)):
                f = LayerFold(pe, simd)
                cyc = layer_cycles(net, layer, f)
                key = (cyc > target_cycles, pe * simd if cyc <= target_cycles else cyc, pe * simd, simd)
                if best is None or key < best[0]:
                    best = (key, f)
        out[layer.name] = best[1]
    return out


WEIGHT_PLACES = ("onchip", "dram")


def check_offchip(layer, f: LayerFold) -> None:
    """The off-chip fields of one layer's folding (weights place, batch size)."""
    if f.weights not in WEIGHT_PLACES:
        raise FoldingError(f"layer '{layer.name}': weights must be 'onchip' or 'dram', got {f.weights!r}")
    if not isinstance(f.batch, int) or isinstance(f.batch, bool) or f.batch < 1:
        raise FoldingError(f"layer '{layer.name}': batch must be a positive integer, got {f.batch!r}")
    if f.batch != 1 and f.weights != "dram":
        raise FoldingError(f"layer '{layer.name}': batch={f.batch} needs weights='dram' (on-chip weights need no batch)")


def fold_dict(f: LayerFold) -> dict:
    """A layer's folding as JSON: {"pe", "simd"}, plus "weights"/"batch" only when off chip
    (so foldings without off-chip layers write exactly what they always wrote)."""
    d = {"pe": f.pe, "simd": f.simd}
    if f.weights != "onchip" or f.batch != 1:
        d.update(weights=f.weights, batch=f.batch)
    return d


def to_json(folding: Dict[str, LayerFold]) -> str:
    return json.dumps({k: fold_dict(v) for k, v in folding.items()}, indent=2, sort_keys=True) + "\n"


def load(path, net: Optional[Network] = None) -> Dict[str, LayerFold]:
    """Read a folding JSON file: {"layer name": {"pe": P, "simd": S}, ...}; a layer may add
    "weights": "onchip" | "dram" and "batch": B (docs/offchip-weights.md)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise FoldingError(f"{p}: folding file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FoldingError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise FoldingError(f"{p}: expected an object mapping layer names to {{'pe', 'simd'}}")
    out = {}
    for name, v in data.items():
        if not isinstance(v, dict) or not {"pe", "simd"} <= set(v) <= {"pe", "simd", "weights", "batch"}:
            raise FoldingError(f"{p}: layer '{name}': expected {{\"pe\": int, \"simd\": int}} (optionally "
                               f"\"weights\": \"onchip\"|\"dram\", \"batch\": int), got {v!r}")
        out[name] = LayerFold(v["pe"], v["simd"], v.get("weights", "onchip"), v.get("batch", 1))
    if net is not None:
        check(net, out)
    return out
