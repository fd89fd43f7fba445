"""Driver metadata of an overlay: ``<name>.json`` beside ``<name>.bit`` / ``<name>.hwh``.

It tells the driver (:mod:`bnnfpga.overlay`) everything it needs to talk to the
accelerator without reading the model: the input shape and how a frame is
packed into 64-bit DMA beats, the output words, class names, the names of the
IP blocks in the block design, the register map, and which model file (name,
format version, SHA-256) and folding the bitstream was built from.

The format is a JSON Schema (:data:`SCHEMA`, printed in docs/overlay-metadata.md)
plus a few cross-field rules; :func:`validate` checks both and raises
:class:`MetadataError` with one line naming the field.  The validator is
self-contained (no jsonschema dependency on the board).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Dict, Optional

FORMAT = "bnnfpga-overlay-1"

# docs/interface.md, "Control s_axi_control"
REGISTERS = {"ap_ctrl": 0x00, "gie": 0x04, "ier": 0x08, "isr": 0x0C, "num_frames": 0x10, "do_init": 0x18,
             "target_layer": 0x20, "target_mem": 0x28, "target_index": 0x30, "value_lo": 0x38, "value_hi": 0x3C}
AP_START, AP_DONE, AP_IDLE, AP_READY = 0x1, 0x2, 0x4, 0x8

# Cell names in the block design (overlays/templates/block_design.tcl.j2)
IPS = {"accelerator": "bnn_top_0", "dma": "axi_dma_0", "frames_gpio": "bnn_frames_0"}
# AXI GPIO channel-1 data register: frames per S2MM packet (see docs/overlay-metadata.md)
GPIO_DATA = 0x0
# AXI DMA buffer length register width (c_sg_length_width) in the block design
DMA_LENGTH_BITS = 26


class MetadataError(ValueError):
    """A metadata file that breaks the schema (one line, naming the field)."""


_NAME = "^[A-Za-z][A-Za-z0-9_]*$"
_INT = {"type": "integer", "minimum": 0}
_POS = {"type": "integer", "minimum": 1}

SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "bnnfpga overlay driver metadata",
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "bnnfpga_version", "name", "model", "input", "output", "class_names", "folding",
                 "cycles_per_frame", "board", "part", "clock_mhz", "ips", "registers", "dma", "files"],
    "properties": {
        "format": {"const": FORMAT},
        "bnnfpga_version": {"type": "string", "minLength": 1},
        "name": {"type": "string", "pattern": _NAME, "description": "base name of .bit, .hwh, .json and .bnn"},
        "model": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "file", "sha256", "format_version", "ir_version"],
            "properties": {
                "name": {"type": "string"},
                "file": {"type": "string", "pattern": "^[^/\\\\]+$"},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "format_version": _POS,
                "ir_version": _POS,
            },
        },
        "input": {
            "type": "object", "additionalProperties": False,
            "required": ["height", "width", "channels", "layout", "zero_point", "frac_bits", "frame_bytes",
                         "beat_bits", "beats_per_frame", "byte_order"],
            "properties": {
                "height": _POS, "width": _POS, "channels": _POS,
                "layout": {"const": "HWC"},
                "zero_point": {"type": "integer", "minimum": 0, "maximum": 255},
                "frac_bits": _INT,
                "frame_bytes": _POS,
                "beat_bits": {"const": 64},
                "beats_per_frame": _POS,
                "byte_order": {"const": "little"},
            },
        },
        "output": {
            "type": "object", "additionalProperties": False,
            "required": ["classes", "top_k", "word_bits", "words_per_frame", "signed"],
            "properties": {
                "classes": _POS, "top_k": _POS, "word_bits": {"const": 32}, "words_per_frame": _POS,
                "signed": {"const": True},
            },
        },
        "class_names": {"type": "array", "items": {"type": "string"}},
        "folding": {
            "type": "object", "minProperties": 1,
            "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["pe", "simd"],
                "properties": {"pe": _POS, "simd": _POS, "lut_pe": {"type": "integer", "minimum": 0},
                               "share": {"type": "boolean"}, "weights": {"enum": ["onchip", "dram", "uram"]}, "batch": _POS},
            },
        },
        # layers whose weights stream from DRAM (docs/offchip-weights.md); absent when none
        "dram_weights": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "required": ["ip", "port", "batch", "bytes_per_pass", "beat_bits"],
                "properties": {"ip": {"type": "string", "pattern": _NAME}, "port": {"type": "string", "pattern": _NAME},
                               "batch": _POS, "bytes_per_pass": _POS, "beat_bits": _POS,
                               "vectors_per_frame": _POS},  # convolutions: OH*OW (absent: 1)
            },
        },
        # layers whose weights live in URAM, written by the driver at start-up (bnnfpga.uram); absent when none
        "uram_weights": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "required": ["target_layer", "words", "word_bits", "pe", "uram_blocks"],
                "properties": {"target_layer": _INT, "words": _POS, "word_bits": _POS, "pe": _POS, "uram_blocks": _POS},
            },
        },
        "cycles_per_frame": _POS,
        "board": {"type": "string", "minLength": 1},
        "part": {"type": "string", "minLength": 1},
        "clock_mhz": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
        "ips": {
            "type": "object", "additionalProperties": False, "required": list(IPS),
            "properties": {k: {"type": "string", "pattern": _NAME} for k in IPS},
        },
        "registers": {
            "type": "object", "additionalProperties": False, "required": list(REGISTERS),
            "properties": {k: {"type": "integer", "minimum": 0, "maximum": 127} for k in REGISTERS},
        },
        "dma": {
            "type": "object", "additionalProperties": False,
            "required": ["max_transfer_bytes", "tlast", "gpio_data"],
            "properties": {
                "max_transfer_bytes": _POS,
                "tlast": {"enum": ["run"]},
                "gpio_data": _INT,
            },
        },
        "files": {
            "type": "object", "additionalProperties": False, "required": ["bit", "hwh", "model"],
            "properties": {k: {"type": "string", "pattern": "^[^/\\\\]+$"} for k in ("bit", "hwh", "model")},
        },
    },
}


# --------------------------------------------------------------------- validation

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _type_ok(v, t: str) -> bool:
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, _TYPES[t])


def _check(v, s: dict, where: str) -> None:
    def fail(msg):
        raise MetadataError(f"field '{where or '(top level)'}': {msg}")

    if "const" in s and not (v == s["const"] and type(v) is type(s["const"])):
        fail(f"must be {json.dumps(s['const'])}, got {json.dumps(v)}")
    if "enum" in s and v not in s["enum"]:
        fail(f"must be one of {json.dumps(s['enum'])}, got {json.dumps(v)}")
    t = s.get("type")
    if t and not _type_ok(v, t):
        fail(f"must be of type {t}, got {type(v).__name__} {json.dumps(v)[:40]}")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in s and v < s["minimum"]:
            fail(f"must be >= {s['minimum']}, got {v}")
        if "maximum" in s and v > s["maximum"]:
            fail(f"must be <= {s['maximum']}, got {v}")
        if "exclusiveMinimum" in s and v <= s["exclusiveMinimum"]:
            fail(f"must be > {s['exclusiveMinimum']}, got {v}")
    if isinstance(v, str):
        if len(v) < s.get("minLength", 0):
            fail("must not be empty")
        if "pattern" in s and not re.search(s["pattern"], v):
            fail(f"{json.dumps(v)} does not match {s['pattern']}")
    if isinstance(v, list) and "items" in s:
        for i, item in enumerate(v):
            _check(item, s["items"], f"{where}[{i}]")
    if isinstance(v, dict):
        for k in s.get("required", []):
            if k not in v:
                fail(f"missing required field '{k}'")
        if len(v) < s.get("minProperties", 0):
            fail(f"needs at least {s['minProperties']} entries")
        props = s.get("properties", {})
        extra = s.get("additionalProperties", True)
        for k, item in v.items():
            sub = f"{where}.{k}" if where else k
            if k in props:
                _check(item, props[k], sub)
            elif extra is False:
                fail(f"unknown field '{k}'")
            elif isinstance(extra, dict):
                _check(item, extra, sub)


def validate(meta) -> dict:
    """Check ``meta`` against :data:`SCHEMA` and the cross-field rules; returns it."""
    if not isinstance(meta, dict):
        raise MetadataError(f"metadata must be a JSON object, got {type(meta).__name__}")
    _check(meta, SCHEMA, "")
    inp, out = meta["input"], meta["output"]
    fb = inp["height"] * inp["width"] * inp["channels"]
    if inp["frame_bytes"] != fb:
        raise MetadataError(f"field 'input.frame_bytes': {inp['frame_bytes']} != height*width*channels = {fb}")
    if inp["beats_per_frame"] != -(-fb // 8):
        raise MetadataError(f"field 'input.beats_per_frame': {inp['beats_per_frame']} != ceil({fb} / 8)")
    if out["top_k"] > out["classes"]:
        raise MetadataError(f"field 'output.top_k': {out['top_k']} exceeds the {out['classes']} classes")
    if out["words_per_frame"] != out["classes"] + out["top_k"]:
        raise MetadataError(f"field 'output.words_per_frame': {out['words_per_frame']} != classes + top_k")
    if meta["class_names"] and len(meta["class_names"]) != out["classes"]:
        raise MetadataError(f"field 'class_names': {len(meta['class_names'])} names for {out['classes']} classes")
    if meta["registers"] != REGISTERS:
        bad = sorted(k for k in REGISTERS if meta["registers"][k] != REGISTERS[k])
        raise MetadataError(f"field 'registers.{bad[0]}': {meta['registers'][bad[0]]:#x} differs from docs/interface.md "
                            f"({REGISTERS[bad[0]]:#x})")
    if meta["files"]["model"] != meta["model"]["file"]:
        raise MetadataError(f"field 'files.model': {meta['files']['model']!r} differs from model.file {meta['model']['file']!r}")
    for k, ext in (("bit", ".bit"), ("hwh", ".hwh")):
        if meta["files"][k] != meta["name"] + ext:
            raise MetadataError(f"field 'files.{k}': {meta['files'][k]!r} must be {meta['name'] + ext!r} "
                                "(PYNQ needs .bit and .hwh with the same base name)")
    return meta


def load(path) -> dict:
    """Read and validate a metadata file; errors name the file."""
    p = Path(path)
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetadataError(f"{p}: overlay metadata not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MetadataError(f"{p}: not a readable JSON file ({e})") from None
    try:
        return validate(meta)
    except MetadataError as e:
        raise MetadataError(f"{p}: {e}") from None


def dumps(meta: dict) -> str:
    return json.dumps(validate(meta), indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------- construction


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make(net, model_bytes: bytes, folding: Dict, *, name: str, board, clock_mhz: float, top_k: int = 1,
         model_file: Optional[str] = None) -> dict:
    """The metadata of an overlay built from ``net`` (whose model file holds ``model_bytes``)."""
    from . import __version__
    from . import folding as fo
    from .ir import IR_VERSION
    from .modelfile import FORMAT_VERSION

    sp = net.input
    fb = sp.height * sp.width * sp.channels
    meta = {
        "format": FORMAT,
        "bnnfpga_version": __version__,
        "name": name,
        "model": {"name": str(net.name), "file": model_file or f"{name}.bnn", "sha256": sha256_bytes(model_bytes),
                  "format_version": FORMAT_VERSION, "ir_version": IR_VERSION},
        "input": {"height": sp.height, "width": sp.width, "channels": sp.channels, "layout": "HWC",
                  "zero_point": int(sp.zero_point), "frac_bits": int(sp.frac_bits), "frame_bytes": fb,
                  "beat_bits": 64, "beats_per_frame": -(-fb // 8), "byte_order": "little"},
        "output": {"classes": net.num_classes, "top_k": int(top_k), "word_bits": 32,
                   "words_per_frame": net.num_classes + int(top_k), "signed": True},
        "class_names": [str(c) for c in net.classes],
        "folding": {k: fo.fold_dict(v) for k, v in sorted(folding.items())},
        "cycles_per_frame": fo.pipeline_cycles(net, folding, top_k),
        "board": board.name,
        "part": board.part,
        "clock_mhz": float(clock_mhz),
        "ips": dict(IPS),
        "registers": dict(REGISTERS),
        "dma": {"max_transfer_bytes": (1 << DMA_LENGTH_BITS) - 1, "tlast": "run", "gpio_data": GPIO_DATA},
        "files": {"bit": f"{name}.bit", "hwh": f"{name}.hwh", "model": model_file or f"{name}.bnn"},
    }
    from .offchip import dram_meta

    if dram_meta(net, folding):  # off-chip weights (docs/offchip-weights.md)
        meta["dram_weights"] = dram_meta(net, folding)
    from .uram import uram_meta

    if uram_meta(net, folding):  # weights in URAM (bnnfpga.uram)
        meta["uram_weights"] = uram_meta(net, folding)
    return validate(meta)


def folding_of(meta: dict):
    """The folding recorded in the metadata as {layer: LayerFold}."""
    from .folding import LayerFold

    return {k: LayerFold(**v) for k, v in meta["folding"].items()}
