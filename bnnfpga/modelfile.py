"""The bnnfpga model file: a versioned, checksummed, safe-to-open container
for an :class:`bnnfpga.ir.Network`.

Layout (all integers little-endian; full description in docs/model-file.md)::

    magic      8 bytes   b"BNNFPGA\\0"
    version    u32       1 (chain networks) or 2 (graph networks: "inputs",
                         add / concat / threshold layers; see docs/model-file.md)
                         or 3 (fixed-point weights on the first / last layer:
                         version 2 plus "weight_bits", "weight_frac", "score_scale")
    hlen       u64       length of the header in bytes
    header     hlen      canonical JSON (ASCII, sorted keys, compact separators):
                         topology, input spec, classes, metadata, tensor table
    payload    ...       the tensors the table describes, packed end to end
    trailer    32 bytes  SHA-256 of every byte before it

Weights are packed 8 bits per byte along the fan-in axis (``np.packbits``,
``bitorder="little"``: fan-in index i is bit i % 8 of byte i // 8); the unused
high bits of each row's last byte are zero.  Thresholds are int64, directions
int8.  Nothing in the file is executed: there is no pickle and no eval; the
header is plain JSON and the payload raw integers.

Loading validates every field and calls ``Network.validate()``.  Every error
is a :class:`ModelFileError` with one line: ``"<file>: <what>"``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import numpy as np

from .ir import (IR_VERSION, Add, Concat, Conv2D, Dense, InputSpec, IRError, MaxPool2D, Network, Threshold, Thresholds,
                 uses_fixed_weights, weight_bits)

MAGIC = b"BNNFPGA\0"
FORMAT_VERSION = 1  # the format of chain networks (every network without graph features)
GRAPH_FORMAT_VERSION = 2  # version 1 + "inputs" on every layer and the add/concat/threshold kinds
FIXEDW_FORMAT_VERSION = 3  # version 2 + fixed-point weights ("weight_bits", "weight_frac", "score_scale")
SUPPORTED_VERSIONS = (1, 2, 3)
_PREAMBLE = struct.Struct("<8sIQ")  # magic, version, header length
DIGEST_BYTES = 32  # SHA-256
MIN_FILE_BYTES = _PREAMBLE.size + DIGEST_BYTES

# dtype names the tensor table may use, and their little-endian numpy dtypes
_DTYPES = {
    "uint8": np.dtype("u1"),
    "int8": np.dtype("i1"),
    "uint16": np.dtype("<u2"),
    "int16": np.dtype("<i2"),
    "uint32": np.dtype("<u4"),
    "int32": np.dtype("<i4"),
    "uint64": np.dtype("<u8"),
    "int64": np.dtype("<i8"),
    "float16": np.dtype("<f2"),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
}
# which dtype each tensor field must have
_FIELD_DTYPE = {"weights": "uint8", "thresholds.t": "int64", "thresholds.direction": "int8"}

_INPUT_KEYS = ("height", "width", "channels", "zero_point", "frac_bits", "bits")
# inclusive ranges of the input spec's fields (the writer and the reader check the same)
_INPUT_LIMITS = {"height": (1, 1 << 16), "width": (1, 1 << 16), "channels": (1, 1 << 16),
                 "zero_point": (0, 255), "frac_bits": (0, 31), "bits": (1, 32), "binarize_threshold": (0, 256)}
_LAYER_KEYS = {
    "dense": ("kind", "name", "in_features", "out_features", "input_kind", "thresholds"),
    "conv": ("kind", "name", "in_channels", "out_channels", "kernel", "padding", "stride", "input_kind", "thresholds"),
    "maxpool": ("kind", "name", "kernel", "stride"),
}
# version 2 (graph networks): every layer has "inputs"; three more kinds
_LAYER_KEYS_V2 = {k: v + ("inputs",) for k, v in _LAYER_KEYS.items()}
_LAYER_KEYS_V2.update({
    "add": ("kind", "name", "inputs", "shifts"),
    "concat": ("kind", "name", "inputs"),
    "threshold": ("kind", "name", "channels", "inputs"),
})
# version 3 (fixed-point weights): version 2 plus the weight format of compute layers
_LAYER_KEYS_V3 = dict(_LAYER_KEYS_V2)
_LAYER_KEYS_V3["dense"] = _LAYER_KEYS_V2["dense"] + ("weight_bits", "weight_frac", "score_scale")
_LAYER_KEYS_V3["conv"] = _LAYER_KEYS_V2["conv"] + ("weight_bits", "weight_frac")
_TOP_KEYS = ("name", "ir_version", "input", "layers", "classes", "metadata", "tensors")
_TENSOR_KEYS = ("name", "dtype", "shape", "offset", "nbytes")


class ModelFileError(ValueError):
    """A model file that cannot be read or written; one line, starting with the file name."""


PathLike = Union[str, os.PathLike]


# --------------------------------------------------------------------- writing


def tensor_name(layer_name: str, field: str) -> str:
    """The tensor table name of a layer's array: ``"<layer>.<field>"``."""
    return f"{layer_name}.{field}"


def _canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def _check_jsonable(value, where: str) -> None:
    """Metadata must survive a JSON round trip unchanged (no tuples, numpy types, NaN)."""
    if value is None or isinstance(value, (bool, str)):
        return
    if type(value) is int:
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value!r}; NaN/inf cannot be stored")
        return
    if type(value) is list:
        for i, v in enumerate(value):
            _check_jsonable(v, f"{where}[{i}]")
        return
    if type(value) is dict:
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} has a non-string key {k!r}")
            _check_jsonable(v, f"{where}[{k!r}]")
        return
    raise ValueError(f"{where} has a value of type {type(value).__name__} ({value!r:.40}); "
                     "only dict/list/str/int/float/bool/None can be stored")


def format_version(net: Network) -> int:
    """The format version ``net`` is written in: 1 for chains, 2 for graph networks, 3 for networks
    with fixed-point weights or a score scale (chains or graphs)."""
    if uses_fixed_weights(net):
        return FIXEDW_FORMAT_VERSION
    return GRAPH_FORMAT_VERSION if net.is_graph else FORMAT_VERSION


def _layer_header_v3(layer) -> dict:
    h = _layer_header_v2(layer)
    if isinstance(layer, (Dense, Conv2D)):
        h["weight_bits"] = weight_bits(layer)
        h["weight_frac"] = int(layer.weight_frac)
    if isinstance(layer, Dense):
        h["score_scale"] = None if layer.score_scale is None else float(layer.score_scale)
    return h


def _dtype_name(arr: np.ndarray) -> str:
    return next(k for k, v in _DTYPES.items() if v == arr.dtype.newbyteorder("<"))


def _layer_header_v2(layer) -> dict:
    if isinstance(layer, Add):
        return {"kind": "add", "name": layer.name, "inputs": list(layer.inputs), "shifts": [int(v) for v in layer.shifts]}
    if isinstance(layer, Concat):
        return {"kind": "concat", "name": layer.name, "inputs": list(layer.inputs)}
    if isinstance(layer, Threshold):
        return {"kind": "threshold", "name": layer.name, "channels": int(layer.channels),
                "inputs": None if layer.inputs is None else list(layer.inputs)}
    h = _layer_header(layer)
    h["inputs"] = None if layer.inputs is None else list(layer.inputs)
    return h


def _layer_header(layer) -> dict:
    if isinstance(layer, Dense):
        return {"kind": "dense", "name": layer.name, "in_features": int(layer.in_features),
                "out_features": int(layer.out_features), "input_kind": layer.input_kind,
                "thresholds": layer.thresholds is not None}
    if isinstance(layer, Conv2D):
        return {"kind": "conv", "name": layer.name, "in_channels": int(layer.in_channels),
                "out_channels": int(layer.out_channels), "kernel": int(layer.kernel), "padding": layer.padding,
                "stride": int(layer.stride), "input_kind": layer.input_kind,
                "thresholds": layer.thresholds is not None}
    if isinstance(layer, MaxPool2D):
        return {"kind": "maxpool", "name": layer.name, "kernel": int(layer.kernel), "stride": int(layer.stride)}
    raise ValueError(f"layer {layer!r:.60}: unknown layer type {type(layer).__name__}")


def _layer_tensors(layer) -> List[Tuple[str, np.ndarray]]:
    """(field, little-endian array) in file order for one compute layer."""
    if isinstance(layer, Threshold):
        return [("thresholds.t", np.asarray(layer.thresholds.t).astype("<i8")),
                ("thresholds.direction", np.asarray(layer.thresholds.direction).astype("i1"))]
    if not isinstance(layer, (Dense, Conv2D)):
        return []
    wb = weight_bits(layer)
    if wb > 1:  # signed integers, unpacked: int8 up to 8 bits, else int16
        packed = np.asarray(layer.weights).astype("i1" if wb <= 8 else "<i2")
    else:
            packed = np.packbits(np.ascontiguousarray(layer.weights, dtype=np.uint8), axis=1, bitorder="little")
    out = [("weights", packed)]
    if layer.thresholds is not None:
        out.append(("thresholds.t", np.asarray(layer.thresholds.t).astype("<i8")))
        out.append(("thresholds.direction", np.asarray(layer.thresholds.direction).astype("i1")))
    return out


def _input_header(sp) -> dict:
    """The header's input object; ``binarize_threshold`` only when set (files without it keep their bytes)."""
    out = {f: int(getattr(sp, f)) for f in _INPUT_KEYS}
    if getattr(sp, "binarize_threshold", None) is not None:
        out["binarize_threshold"] = int(sp.binarize_threshold)
    return out


def dumps(net: Network, source: str = "<memory>") -> bytes:
    """The model file's bytes for ``net`` (deterministic: same network, same bytes)."""
    try:
        net.validate()
    except IRError as e:
        raise ModelFileError(f"{source}: cannot save an invalid network: {e}") from None
    for f in _INPUT_KEYS:
        v = getattr(net.input, f)
        if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)):
            raise ModelFileError(f"{source}: cannot save: input field '{f}' must be an integer, got {v!r}")
        lo, hi = _INPUT_LIMITS[f]
        if not lo <= int(v) <= hi:
            raise ModelFileError(f"{source}: cannot save: input field '{f}' must be in [{lo}, {hi}], got {int(v)}")
    if not isinstance(net.name, str):
        raise ModelFileError(f"{source}: cannot save: network name must be a string, got {net.name!r}")
    if not isinstance(net.classes, list) or not all(isinstance(c, str) for c in net.classes):
        raise ModelFileError(f"{source}: cannot save: classes must be a list of strings, got {net.classes!r:.80}")
    if not isinstance(net.metadata, dict):
        raise ModelFileError(f"{source}: cannot save: metadata must be a dict, got {type(net.metadata).__name__}")
    try:
        _check_jsonable(net.metadata, "metadata")
    except ValueError as e:
        raise ModelFileError(f"{source}: cannot save: {e}") from None

    layers, tensors, blobs = [], [], []
    offset = 0
    version = format_version(net)
    for layer in net.layers:
        layers.append(_layer_header_v3(layer) if version == FIXEDW_FORMAT_VERSION else
                      _layer_header_v2(layer) if version == GRAPH_FORMAT_VERSION else _layer_header(layer))
        for field, arr in _layer_tensors(layer):
            data = np.ascontiguousarray(arr).tobytes()
            tensors.append({"name": tensor_name(layer.name, field), "dtype": _dtype_name(np.asarray(arr)),
                            "shape": [int(s) for s in arr.shape], "offset": offset, "nbytes": len(data)})
            blobs.append(data)
            offset += len(data)
    header = {
        "name": net.name,
        "ir_version": IR_VERSION,
        "input": _input_header(net.input),
        "layers": layers,
        "classes": list(net.classes),
        "metadata": net.metadata,
        "tensors": tensors,
    }
    hbytes = _canonical_json(header)
    body = _PREAMBLE.pack(MAGIC, version, len(hbytes)) + hbytes + b"".join(blobs)
    return body + hashlib.sha256(body).digest()


def save(net: Network, path: PathLike) -> Path:
    """Write ``net`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    data = dumps(net, source=str(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ModelFileError(f"{path}: cannot save: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


# --------------------------------------------------------------------- reading


class _Reader:
    """Validates one file's bytes; every failure raises a one-line ModelFileError."""

    def __init__(self, data: bytes, source: str):
        self.data = data
        self.source = source
        self.version = FORMAT_VERSION

    def fail(self, msg: str):
        raise ModelFileError(f"{self.source}: {msg}")

    # -- JSON field helpers ------------------------------------------------
    def obj(self, value, where: str, keys) -> dict:
        if not isinstance(value, dict):
            self.fail(f"{where} must be a JSON object, got {_jtype(value)}")
        missing = [k for k in keys if k not in value]
        if missing:
            need = f" (required by format version {self.version})" if missing[0] == "inputs" else ""
            self.fail(f"{where}: missing field '{missing[0]}'{need}")
        extra = sorted(k for k in value if k not in keys)
        if extra:
            self.fail(f"{where}: unknown field '{extra[0]}' (format version {self.version} has no such field)")
        return value

    def int_(self, value, where: str, lo=None, hi=None) -> int:
        if type(value) is not int:
            self.fail(f"{where} must be an integer, got {_jtype(value)} {_short(value)}")
        if lo is not None and value < lo:
            self.fail(f"{where} must be >= {lo}, got {value}")
        if hi is not None and value > hi:
            self.fail(f"{where} must be <= {hi}, got {value}")
        return value

    def str_(self, value, where: str, choices=None) -> str:
        if not isinstance(value, str):
            self.fail(f"{where} must be a string, got {_jtype(value)} {_short(value)}")
        if choices is not None and value not in choices:
            self.fail(f"{where} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return value

    def bool_(self, value, where: str) -> bool:
        if type(value) is not bool:
            self.fail(f"{where} must be true or false, got {_jtype(value)} {_short(value)}")
        return value

    # -- the file --------------------------------------------------------------
    def preamble(self) -> Tuple[int, int]:
        data = self.data
        if len(data) < _PREAMBLE.size:
            if not MAGIC.startswith(bytes(data[: len(MAGIC)])):
                self.fail("not a bnnfpga model file (bad magic bytes)")
            self.fail(f"file is truncated: {len(data)} bytes, a model file has at least {MIN_FILE_BYTES}")
        magic, version, hlen = _PREAMBLE.unpack_from(data, 0)
        if magic != MAGIC:
            self.fail(f"not a bnnfpga model file (magic bytes {magic!r}, expected {MAGIC!r})")
        if version not in SUPPORTED_VERSIONS:
            self.fail(f"unsupported model file format version {version} (this bnnfpga reads version "
                      f"{', '.join(map(str, SUPPORTED_VERSIONS))}; upgrade bnnfpga or re-export the model)")
        self.version = version
        if len(data) < MIN_FILE_BYTES:
            self.fail(f"file is truncated: {len(data)} bytes, a model file has at least {MIN_FILE_BYTES}")
        room = len(data) - MIN_FILE_BYTES
        if hlen > room:
            self.fail(f"file is truncated or corrupted: header length {hlen} but only {room} bytes "
                      "remain before the checksum")
        body = bytes(data[:-DIGEST_BYTES])
        want = bytes(data[-DIGEST_BYTES:])
        got = hashlib.sha256(body).digest()
        if got != want:
            expected = self._declared_size(hlen)
            if expected is not None and expected > len(data):
                self.fail(f"file is truncated: {len(data)} bytes, its header describes {expected}")
            self.fail(f"checksum mismatch (file corrupted, truncated or edited): SHA-256 of the contents is "
                      f"{got.hex()[:16]}..., the trailer says {want.hex()[:16]}...")
        return version, hlen

    def _declared_size(self, hlen: int):
        """The file size the header's tensor table implies, or None (used only to word errors)."""
        try:
            h = json.loads(bytes(self.data[_PREAMBLE.size : _PREAMBLE.size + hlen]).decode("utf-8"))
            end = max([0] + [int(t["offset"]) + int(t["nbytes"]) for t in h["tensors"]])
            return _PREAMBLE.size + hlen + end + DIGEST_BYTES
        except Exception:  # a damaged header: the checksum message says enough
            return None

    def header(self, hlen: int) -> dict:
        raw = bytes(self.data[_PREAMBLE.size : _PREAMBLE.size + hlen])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.fail(f"header is not UTF-8 text (byte {e.start})")

        def no_constants(name):
            raise ValueError(f"{name} is not allowed in a model file")

        def no_duplicates(pairs):
            d = {}
            for k, v in pairs:
                if k in d:
                    raise ValueError(f"duplicate key {k!r}")
                d[k] = v
            return d

        try:
            h = json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates)
        except (ValueError, RecursionError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            self.fail(f"header is not valid JSON: {msg}")
        return self.obj(h, "header", _TOP_KEYS)

    def tensors(self, table, payload_start: int) -> Dict[str, np.ndarray]:
        payload_len = len(self.data) - DIGEST_BYTES - payload_start
        if not isinstance(table, list):
            self.fail(f"header field 'tensors' must be a list, got {_jtype(table)}")
        out: Dict[str, np.ndarray] = {}
        spans = []
        for i, t in enumerate(table):
            where = f"tensor {i}"
            t = self.obj(t, where, _TENSOR_KEYS)
            name = self.str_(t["name"], f"{where} field 'name'")
            where = f"tensor '{name}'"
            if name in out:
                self.fail(f"{where}: duplicate tensor name")
            dname = self.str_(t["dtype"], f"{where} field 'dtype'")
            if dname not in _DTYPES:
                self.fail(f"{where} field 'dtype': unknown dtype {dname!r} (known: {', '.join(_DTYPES)})")
            shape = t["shape"]
            if not isinstance(shape, list):
                self.fail(f"{where} field 'shape' must be a list, got {_jtype(shape)}")
            shape = tuple(self.int_(s, f"{where} field 'shape'[{j}]", lo=0) for j, s in enumerate(shape))
            off = self.int_(t["offset"], f"{where} field 'offset'", lo=0)
            nbytes = self.int_(t["nbytes"], f"{where} field 'nbytes'", lo=0)
            dt = _DTYPES[dname]
            want = math.prod(shape) * dt.itemsize
            if nbytes != want:
                self.fail(f"{where}: nbytes {nbytes} does not match shape {shape} of {dname} ({want} bytes)")
            if off + nbytes > payload_len:
                self.fail(f"{where}: bytes [{off}, {off + nbytes}) lie outside the payload "
                          f"({payload_len} bytes): file truncated or table corrupted")
            spans.append((off, off + nbytes, name))
            arr = np.frombuffer(self.data, dtype=dt, count=math.prod(shape), offset=payload_start + off)
            out[name] = arr.reshape(shape).astype(dt.newbyteorder("="), copy=True)
        spans.sort()
        pos, prev = 0, None
        for a, b, name in spans:
            if a < pos:
                self.fail(f"tensor '{name}' overlaps tensor '{prev}' (bytes [{a}, {b}) vs [.., {pos}))")
            if a > pos:
                self.fail(f"payload bytes [{pos}, {a}) belong to no tensor (before tensor '{name}')")
            if b > a:
                pos, prev = b, name
        if pos != payload_len:
            self.fail(f"payload bytes [{pos}, {payload_len}) belong to no tensor")
        return out

    def input_spec(self, h) -> InputSpec:
        keys = _INPUT_KEYS + (("binarize_threshold",) if isinstance(h, dict) and "binarize_threshold" in h else ())
        h = self.obj(h, "input", keys)
        vals = {f: self.int_(h[f], f"input field '{f}'", *_INPUT_LIMITS[f]) for f in keys}
        return InputSpec(**vals)

    def take(self, arrays, used, layer_name: str, field: str, shape: Tuple[int, ...], dtype: str = "") -> np.ndarray:
        name = tensor_name(layer_name, field)
        where = f"layer '{layer_name}' field '{field}'"
        if name not in arrays:
            self.fail(f"{where}: tensor '{name}' missing from the tensor table")
        arr = arrays[name]
        used.add(name)
        want = dtype or _FIELD_DTYPE[field]
        if arr.dtype != _DTYPES[want]:
            got = arr.dtype.name
            extra = " (floating point is never allowed in an integer field)" if arr.dtype.kind == "f" else ""
            self.fail(f"{where}: dtype {got}, expected {want}{extra}")
        if arr.shape != shape:
            self.fail(f"{where}: shape {arr.shape}, expected {shape}")
        return arr

    def names_(self, value, where: str, optional: bool):
        if value is None and optional:
            return None
        if not isinstance(value, list) or not value:
            self.fail(f"{where} must be a non-empty list of layer names{' or null' if optional else ''}, got {_jtype(value)}")
        return [self.str_(v, f"{where}[{j}]") for j, v in enumerate(value)]

    def layer(self, i: int, h, arrays, used, names):
        if not isinstance(h, dict):
            self.fail(f"layer {i} must be a JSON object, got {_jtype(h)}")
        table = {GRAPH_FORMAT_VERSION: _LAYER_KEYS_V2, FIXEDW_FORMAT_VERSION: _LAYER_KEYS_V3}.get(self.version, _LAYER_KEYS)
        kind = self.str_(h.get("kind"), f"layer {i} field 'kind'", tuple(table))
        name = h.get("name")
        where = f"layer {i} '{name}'" if isinstance(name, str) else f"layer {i}"
        h = self.obj(h, where, table[kind])
        name = self.str_(h["name"], f"layer {i} field 'name'")
        if not name:
            self.fail(f"layer {i} field 'name' must not be empty")
        if name in names:
            self.fail(f"layer {i} '{name}': duplicate layer name")
        names.add(name)
        where = f"layer '{name}'"

        def pos(f):
            return self.int_(h[f], f"{where} field '{f}'", lo=1)

        inputs = None
        if "inputs" in h:
            inputs = self.names_(h["inputs"], f"{where} field 'inputs'", optional=kind not in ("add", "concat"))
        if kind == "maxpool":
            return MaxPool2D(name, pos("kernel"), pos("stride"), inputs=inputs)
        if kind == "add":
            sh = h["shifts"]
            if not isinstance(sh, list) or len(sh) != 2:
                self.fail(f"{where} field 'shifts' must be a list of two integers, got {_jtype(sh)} {_short(sh)}")
            return Add(name, inputs, [self.int_(v, f"{where} field 'shifts'[{j}]", 0, 31) for j, v in enumerate(sh)])
        if kind == "concat":
            return Concat(name, inputs)
        if kind == "threshold":
            c = pos("channels")
            t = self.take(arrays, used, name, "thresholds.t", (c,))
            d = self.take(arrays, used, name, "thresholds.direction", (c,))
            self.directions(where, d)
            return Threshold(name, c, Thresholds(t.astype(np.int64), d.astype(np.int8)), inputs=inputs)
        input_kind = self.str_(h["input_kind"], f"{where} field 'input_kind'", ("binary", "fixed"))
        has_th = self.bool_(h["thresholds"], f"{where} field 'thresholds'")
        wb, wf = 1, 0
        if "weight_bits" in h:
            wb = self.int_(h["weight_bits"], f"{where} field 'weight_bits'", 1, 16)
            wf = self.int_(h["weight_frac"], f"{where} field 'weight_frac'", 0, 31)
        if kind == "dense":
            fan_in, out = pos("in_features"), pos("out_features")
            layer = Dense(name, fan_in, out, None, input_kind=input_kind, inputs=inputs)
            if "score_scale" in h:
                layer.score_scale = self.scale_(h["score_scale"], f"{where} field 'score_scale'")
        else:
            cin, out, k = pos("in_channels"), pos("out_channels"), pos("kernel")
            padding = self.str_(h["padding"], f"{where} field 'padding'", ("valid", "same"))
            layer = Conv2D(name, cin, out, k, padding, None, input_kind=input_kind, stride=pos("stride"), inputs=inputs)
            fan_in = layer.fan_in
        layer.weight_bits, layer.weight_frac = wb, wf
        if wb > 1:
            ints = self.take(arrays, used, name, "weights", (out, fan_in), "int8" if wb <= 8 else "int16")
            layer.weights = ints.astype(np.int16)
            return self.thresholds_(layer, arrays, used, name, where, has_th, out)
        packed = self.take(arrays, used, name, "weights", (out, -(-fan_in // 8)))
        tail = packed.shape[1] * 8 - fan_in
        if tail and packed.size and np.any(packed[:, -1] >> (8 - tail)):
            row = int(np.nonzero(packed[:, -1] >> (8 - tail))[0][0])
            self.fail(f"{where} field 'weights': padding bits of row {row} are not zero "
                      f"(fan-in {fan_in} uses only {8 - tail} bits of the row's last byte)")
        layer.weights = np.unpackbits(packed, axis=1, count=fan_in, bitorder="little")
        return self.thresholds_(layer, arrays, used, name, where, has_th, out)

    def scale_(self, value, where: str):
        if value is None:
            return None
        if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
            self.fail(f"{where} must be null or a positive number, got {_jtype(value)} {_short(value)}")
        return float(value)

    def thresholds_(self, layer, arrays, used, name: str, where: str, has_th: bool, out: int):
        if has_th:
            t = self.take(arrays, used, name, "thresholds.t", (out,))
            d = self.take(arrays, used, name, "thresholds.direction", (out,))
            self.directions(where, d)
            layer.thresholds = Thresholds(t.astype(np.int64), d.astype(np.int8))
        return layer

    def directions(self, where: str, d: np.ndarray) -> None:
        bad = np.nonzero((d != 1) & (d != -1))[0]
        if bad.size:
            self.fail(f"{where} field 'thresholds.direction': channel {int(bad[0])} holds {int(d[bad[0]])}, "
                      "expected -1 or +1")

    def network(self) -> Network:
        _, hlen = self.preamble()
        h = self.header(hlen)
        ir_version = self.int_(h["ir_version"], "header field 'ir_version'")
        if ir_version != IR_VERSION:
            self.fail(f"IR version {ir_version} is not supported (this bnnfpga uses IR version {IR_VERSION})")
        name = self.str_(h["name"], "header field 'name'")
        spec = self.input_spec(h["input"])
        classes = h["classes"]
        if not isinstance(classes, list):
            self.fail(f"header field 'classes' must be a list, got {_jtype(classes)}")
        for i, c in enumerate(classes):
            self.str_(c, f"header field 'classes'[{i}]")
        if len(set(classes)) != len(classes):
            dup = next(c for i, c in enumerate(classes) if c in classes[:i])
            self.fail(f"header field 'classes': duplicate class name {dup!r}")
        metadata = h["metadata"]
        if not isinstance(metadata, dict):
            self.fail(f"header field 'metadata' must be a JSON object, got {_jtype(metadata)}")
        arrays = self.tensors(h["tensors"], _PREAMBLE.size + hlen)
        lh = h["layers"]
        if not isinstance(lh, list) or not lh:
            self.fail("header field 'layers' must be a non-empty list")
        names, layers, used = set(), [], set()
        for i, l in enumerate(lh):
            layers.append(self.layer(i, l, arrays, used, names))
        unused = [n for n in arrays if n not in used]
        if unused:
            self.fail(f"tensor '{unused[0]}' belongs to no layer field")
        net = Network(name, spec, layers, classes=list(classes), metadata=metadata)
        try:
            net.validate()
        except IRError as e:
            self.fail(str(e).splitlines()[0] if str(e) else "invalid network")
        if self.version == GRAPH_FORMAT_VERSION and not net.is_graph:
            self.fail("a chain network must be stored as format version 1 (version 2 is for graph networks)")
        if self.version == FIXEDW_FORMAT_VERSION and not uses_fixed_weights(net):
            self.fail("a network without fixed-point weights or score scale must be stored as format version 1 or 2 "
                      "(version 3 is for fixed-point weights)")
        return net


def _jtype(v) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(v), type(v).__name__)


def _short(v) -> str:
    s = json.dumps(v) if not isinstance(v, float) or math.isfinite(v) else repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def loads(data: bytes, source: str = "<bytes>") -> Network:
    """Parse and validate a model file's bytes; errors are ModelFileError naming ``source``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ModelFileError(f"{source}: expected bytes, got {type(data).__name__}")
    return _Reader(bytes(data), source).network()


def load(path: PathLike) -> Network:
    """Read and validate a model file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, expected a model file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read: {e.strerror or e}") from None
    return loads(data, source=str(path))


def read_header(path_or_bytes) -> dict:
    """The validated header JSON of a model file (for tools that only inspect it)."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        r = _Reader(bytes(path_or_bytes), "<bytes>")
    else:
        r = _Reader(Path(path_or_bytes).read_bytes(), str(path_or_bytes))
    _, hlen = r.preamble()
    return r.header(hlen)
