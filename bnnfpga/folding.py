"""Folding: how many output channels (PE) and input bits (SIMD) each compute
layer processes per clock cycle, and the analytical cycles per frame it implies.

A matrix-vector-threshold unit (MVTU) for a layer with fan-in n and C output
channels computes, per output pixel, ``(n / SIMD) * (C / PE)`` cycles:
the input fold (n / SIMD words of SIMD bits) times the output fold (C / PE
groups of PE channels).  A convolution repeats that for every output pixel; its
sliding-window generator emits one SIMD-wide word per cycle in the same order.

Legal foldings:
  * PE divides the layer's output channels;
  * SIMD divides the layer's in_features (dense) or, for a convolution of a
    chain network, its window length K*K*C_in (the weights are (ky, kx, c)
    flattened, so a SIMD word may run across kernel positions).  When SIMD
    divides C_in the window generator emits SIMD-lane words directly; otherwise
    it emits words of g = gcd(SIMD, C_in) lanes that a width converter packs
    into SIMD-lane words (``swg_lanes``), and the window generator, at one
    g-lane word per cycle, is a stage of its own: ``Ho*Wo*K*K*C_in/g`` cycles.
    When SIMD = P*C_in (P > 1) the generator reads P kernel positions per cycle
    instead (``swg_positions``, bnnfpga.swg_multi): no converter, and
    ``max(H*W, Ho*Wo*K*K/P)`` cycles (one input pixel written per cycle).
    Graph networks keep SIMD | C_in.
  * lut_pe (optional, 0 <= lut_pe <= PE): the RTL keeps the weights of the last
    lut_pe PEs in a LUT ROM instead of block RAM (cycles unchanged); the HLS
    backend puts them in an array of their own bound to LUT ROM (bnn_wget).

The pipeline's cycles per frame is the slowest stage's (the stages run
concurrently in a dataflow pipeline); the other stages are listed too.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from .ir import Conv2D, MaxPool2D, Network, infer_shapes

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
    # the last lut_pe PEs keep their weights in a LUT ROM (RTL rom_style "logic", HLS impl=lutram) instead of
    # block RAM, for weight bandwidth beyond the block RAMs' 72 bits per cycle each; 0 = none
    lut_pe: int = 0
    # opt-in shared datapath (filter repetitions, bnnfpga.filter_share): binary K x K convolutions only;
    # SIMD counts input channels per cycle and a window takes C_in/SIMD * max(K*K, C_out/PE) cycles
    share: bool = False
    # Off-chip weights (docs/offchip-weights.md): "onchip" (weight ROM) or "dram" (weights
    # streamed from DRAM, each weight word read once per ``batch`` frames); "uram": the weight
    # memory is UltraRAM (UltraScale+), loaded at run time (bnnfpga.uram, docs/offchip-weights.md).
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


def simd_options(net: Network, layer) -> List[int]:
    """Every legal SIMD of a compute layer (see the module docstring)."""
    if isinstance(layer, Conv2D) and not net.is_graph:
        return divisors(layer.fan_in)
    return divisors(simd_base(layer))


def swg_lanes(layer, simd: int) -> int:
    """Lanes per word of a convolution's window generator: SIMD when SIMD | C_in, else gcd(SIMD, C_in)."""
    return math.gcd(int(simd), int(layer.in_channels))


def swg_cycles(net: Network, layer, fold: LayerFold) -> int:
    """Cycles per frame of a convolution's window generator where it can be slower than its MVTU;
    0 where it never binds (stride 1 with SIMD | C_in: it emits what the MVTU reads, one word per cycle).

    Its words carry g = gcd(SIMD, C_in) lanes (:func:`swg_lanes`).  It reads H*W*C/g words and emits
    OH*OW*K*K*C/g, one of each per cycle and concurrently (the line buffer), so it needs the larger:
    that binds when SIMD does not divide C_in (narrower words than the MVTU's) or when the stride
    exceeds the kernel (more words read than emitted).  With SIMD = P*C_in (P > 1, bnnfpga.swg_multi)
    it reads one pixel (g = C_in lanes) per cycle and emits P kernel positions per cycle:
    max(H*W, OH*OW*K*K/P); the write side H*W binds once P > OH*OW*K*K/(H*W) (about K*K/S**2)."""
    if not isinstance(layer, Conv2D) or (layer.stride == 1 and layer.in_channels % fold.simd == 0):
        return 0
    ishape, oshape = dict((l.name, s) for l, s in zip(net.layers, infer_shapes(net)))[layer.name]
    cf = layer.in_channels // swg_lanes(layer, fold.simd)
    words_in = ishape[0] * ishape[1] * cf
    words_out = oshape[0] * oshape[1] * layer.kernel * layer.kernel * cf
    if not net.is_graph:  # SIMD = P * C_in: P kernel positions per word (bnnfpga.swg_multi), cf = 1
        words_out //= swg_positions(layer, fold)
    return max(words_in, words_out)


def swg_positions(layer, fold: LayerFold) -> int:
    """Kernel positions per window-generator word: SIMD / C_in when that is an integer > 1 (the
    multi-position generator, bnnfpga.swg_multi, emits SIMD-lane words itself), else 1."""
    from .swg_multi import positions

    return positions(layer, fold)


def fold_cycles(net: Network, layer, fold: LayerFold) -> int:
    """The slowest stage a layer's folding sets: its MVTU, or its window generator."""
    return max(layer_cycles(net, layer, fold), swg_cycles(net, layer, fold))


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
        lp = getattr(f, "lut_pe", 0)
        if not isinstance(lp, int) or isinstance(lp, bool) or not 0 <= lp <= f.pe:
            raise FoldingError(f"layer '{layer.name}': lut_pe must be an integer in [0, PE={f.pe}], got {lp!r}")
        check_offchip(layer, f)
        if net.is_graph and f.weights != "onchip":
            raise FoldingError(f"layer '{layer.name}': weights={f.weights} is supported for chain networks only "
                               "(not in graph networks yet)")
        if layer.out_channels % f.pe:
            raise FoldingError(f"layer '{layer.name}': PE={f.pe} does not divide its {layer.out_channels} output channels")
        base = simd_base(layer)
        what = "input channels" if isinstance(layer, Conv2D) else "input features"
        if isinstance(layer, Conv2D) and not net.is_graph:
            if layer.fan_in % f.simd:
                raise FoldingError(f"layer '{layer.name}': SIMD={f.simd} divides neither its {base} input channels "
                                   f"nor its window of {layer.kernel}x{layer.kernel}x{base} = {layer.fan_in} bits")
        elif base % f.simd:
            raise FoldingError(f"layer '{layer.name}': SIMD={f.simd} does not divide its {base} {what}")
        if getattr(f, "share", False):
            from .filter_share import check_share

            check_share(net, layer, f)
    return folding


def layer_cycles(net: Network, layer, fold: LayerFold) -> int:
    shapes = dict((l.name, s) for l, s in zip(net.layers, infer_shapes(net)))
    _, out_shape = shapes[layer.name]
    pixels = out_shape[0] * out_shape[1] if isinstance(layer, Conv2D) else 1
    if getattr(fold, "share", False):
        from .filter_share import shared_window_cycles

        return pixels * shared_window_cycles(layer, fold)
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
    stages.append(StageCycles("input", "input", -(-in_bytes * 8 // INPUT_BEAT_BITS), f"{in_bytes} bytes in {INPUT_BEAT_BITS}-bit beats"
                              + (f", binarized (p >= {sp.binarize_threshold})" if sp.binarize_threshold is not None else "")))
    for layer, (ishape, oshape) in zip(net.layers, infer_shapes(net)):
        if isinstance(layer, MaxPool2D):
            stages.append(StageCycles(layer.name, "maxpool", ishape[0] * ishape[1], f"{ishape}->{oshape}, one pixel per cycle"))
            continue
        f = folding[layer.name]
        cyc = layer_cycles(net, layer, f)
        kind = "conv" if isinstance(layer, Conv2D) else "dense"
        wcyc = swg_cycles(net, layer, f)
        if wcyc:  # the window generator can bind: SIMD does not divide C_in, or a stride
            g = swg_lanes(layer, f.simd)
            npos = swg_positions(layer, f)
            stages.append(StageCycles(f"{layer.name} window", "swg", wcyc,
                                      f"{ishape} windows (stride {layer.stride}) in {g}-lane words -> SIMD={f.simd}"
                                      if npos == 1 else f"{ishape} windows (stride {layer.stride}) in words of "
                                      f"{npos} positions x {g} channels = SIMD={f.simd}"))
        stages.append(StageCycles(layer.name, kind, cyc, f"{ishape}->{oshape} PE={f.pe} SIMD={f.simd}"
                                  + (" shared filters" if getattr(f, "share", False) else "")
                                  + (f" weights from DRAM, batch {f.batch}" if f.weights == "dram" else "")
                                  + (" weights in URAM" if f.weights == "uram" else "")))
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
            for simd in simd_options(net, layer):
                f = LayerFold(pe, simd)
                cyc = fold_cycles(net, layer, f)
                key = (cyc > target_cycles, pe * simd if cyc <= target_cycles else cyc, pe * simd, simd)
                if best is None or key < best[0]:
                    best = (key, f)
        out[layer.name] = best[1]
    return out


# the optional keys of a layer in a folding file, with their types (see LayerFold)
OPTIONAL_KEYS = {"lut_pe": int, "share": bool, "weights": str, "batch": int}
OPTIONAL_TYPES = {int: "an integer", bool: "true or false", str: "a string"}
WEIGHT_PLACES = ("onchip", "dram", "uram")


def check_offchip(layer, f: LayerFold) -> None:
    """The off-chip fields of one layer's folding (weights place, batch size)."""
    if f.weights not in WEIGHT_PLACES:
        raise FoldingError(f"layer '{layer.name}': weights must be 'onchip' or 'dram' or 'uram', got {f.weights!r}")
    if not isinstance(f.batch, int) or isinstance(f.batch, bool) or f.batch < 1:
        raise FoldingError(f"layer '{layer.name}': batch must be a positive integer, got {f.batch!r}")
    if f.batch != 1 and f.weights != "dram":
        raise FoldingError(f"layer '{layer.name}': batch={f.batch} needs weights='dram' (on-chip weights need no batch)")
    if f.weights == "dram" and (f.lut_pe or f.share):
        raise FoldingError(f"layer '{layer.name}': weights='dram' cannot be combined with "
                           f"{'lut_pe' if f.lut_pe else 'share'} (both are on-chip weight stores)")
    if f.weights == "uram" and (f.lut_pe or f.share):
        raise FoldingError(f"layer '{layer.name}': weights='uram' cannot be combined with "
                           f"{'lut_pe' if f.lut_pe else 'share'} (the whole weight memory is UltraRAM)")


def to_json(folding: Dict[str, LayerFold]) -> str:
    return json.dumps({k: fold_dict(v) for k, v in folding.items()}, indent=2, sort_keys=True) + "\n"


def fold_dict(f: LayerFold) -> dict:
    """A layer's folding as the JSON object of folding files: "pe" and "simd", plus each optional
    key only when it differs from its default (so older files keep their bytes)."""
    d = {"pe": f.pe, "simd": f.simd}
    if f.lut_pe:
        d["lut_pe"] = f.lut_pe
    if f.share:
        d["share"] = True
    if f.weights == "uram" and f.batch == 1:
        d["weights"] = "uram"
    elif f.weights != "onchip" or f.batch != 1:
        d.update(weights=f.weights, batch=f.batch)
    return d


def load(path, net: Optional[Network] = None) -> Dict[str, LayerFold]:
    """Read a folding JSON file: {"layer name": {"pe": P, "simd": S}, ...}; optional per layer:
    "lut_pe": N (weights of N PEs in LUT ROM), "share": true (shared-filter datapath),
    "weights": "onchip" | "dram" | "uram" and "batch": B (docs/offchip-weights.md)."""
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
        if not isinstance(v, dict) or not {"pe", "simd"} <= set(v) <= set(OPTIONAL_KEYS) | {"pe", "simd"}:
            raise FoldingError(f"{p}: layer '{name}': expected {{\"pe\": int, \"simd\": int}} (optional: "
                               f"{', '.join(OPTIONAL_KEYS)}), got {v!r}")
        for key, typ in OPTIONAL_KEYS.items():
            if key in v and (not isinstance(v[key], typ) or (typ is int and isinstance(v[key], bool))):
                raise FoldingError(f"{p}: layer '{name}': \"{key}\" must be {OPTIONAL_TYPES[typ]}, got {v[key]!r}")
        out[name] = LayerFold(**v)
    if net is not None:
        check(net, out)
    return out
