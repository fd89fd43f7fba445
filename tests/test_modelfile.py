"""The model file: byte-exact round trips, and refusal of every kind of damage."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bnnfpga import modelfile as mf
from bnnfpga.golden import GoldenModel
from bnnfpga.ir import Conv2D, Dense, InputSpec, MaxPool2D, Network, Thresholds
from bnnfpga.random_net import random_images, random_network


# ----------------------------------------------------------------- helpers


def assert_same_network(a: Network, b: Network) -> None:
    assert a.name == b.name
    assert a.input == b.input
    assert a.classes == b.classes
    assert a.metadata == b.metadata
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        assert type(la) is type(lb)
        if isinstance(la, MaxPool2D):
            assert la == lb
            continue
        for f in ("name", "input_kind", "out_channels", "fan_in"):
            assert getattr(la, f) == getattr(lb, f), f
        if isinstance(la, Conv2D):
            for f in ("in_channels", "kernel", "padding", "stride"):
                assert getattr(la, f) == getattr(lb, f), f
        else:
            assert la.in_features == lb.in_features
        assert lb.weights.dtype == np.uint8
        np.testing.assert_array_equal(la.weights, lb.weights)
        assert (la.thresholds is None) == (lb.thresholds is None)
        if la.thresholds is not None:
            assert lb.thresholds.t.dtype == np.int64 and lb.thresholds.direction.dtype == np.int8
            np.testing.assert_array_equal(la.thresholds.t, lb.thresholds.t)
            np.testing.assert_array_equal(la.thresholds.direction, lb.thresholds.direction)


def split(blob: bytes):
    """-> (header dict, payload bytes) of a well-formed file."""
    magic, version, hlen = struct.unpack_from("<8sIQ", blob, 0)
    header = json.loads(blob[20 : 20 + hlen])
    return header, blob[20 + hlen : -32]


def build(header, payload: bytes, version: int = 1, raw_header: bytes = None) -> bytes:
    """A file with a valid checksum around any header: simulates a hand-edited file."""
    h = raw_header if raw_header is not None else json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = struct.pack("<8sIQ", b"BNNFPGA\0", version, len(h)) + h + payload
    return body + hashlib.sha256(body).digest()


def refused(blob: bytes, *fragments: str, source: str = "bad.bnn") -> str:
    with pytest.raises(mf.ModelFileError) as ei:
        mf.loads(blob, source=source)
    msg = str(ei.value)
    assert "\n" not in msg, msg
    assert msg.startswith(f"{source}: "), msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


def small_net() -> Network:
    """Hand-built: fixed-input conv (with thresholds), pool, binary dense (with thresholds), output."""
    rng = np.random.default_rng(7)
    spec = InputSpec(4, 4, 1, zero_point=128, frac_bits=7, bits=8)
    conv = Conv2D("conv1", 1, 3, 3, "same", rng.integers(0, 2, (3, 9), dtype=np.uint8), input_kind="fixed",
                  thresholds=Thresholds(np.array([0, -5, 7], np.int64), np.array([1, -1, 1], np.int8)))
    pool = MaxPool2D("pool1", 2, 2)
    fc1 = Dense("fc1", 12, 5, rng.integers(0, 2, (5, 12), dtype=np.uint8),
                thresholds=Thresholds(np.array([6, 5, 7, 0, 13], np.int64), np.array([1, 1, -1, 1, -1], np.int8)))
    out = Dense("fc_out", 5, 3, rng.integers(0, 2, (3, 5), dtype=np.uint8))
    return Network("small", spec, [conv, pool, fc1, out], classes=["a", "b", "c"],
                   metadata={"accuracy": 0.5, "note": "h\u00e9llo", "list": [1, None, True]}).validate()


@pytest.fixture(scope="module")
def blob() -> bytes:
    return mf.dumps(small_net())


def tensor(header, name):
    return next(t for t in header["tensors"] if t["name"] == name)


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize("seed", range(50))
def test_round_trip_random_networks(seed, tmp_path):
    rng = np.random.default_rng(1000 + seed)
    net = random_network(rng, "mlp" if seed % 2 else "cnn", name=f"net{seed}")
    net.metadata["seed"] = seed
    path = tmp_path / "m.bnn"
    mf.save(net, path)
    data = path.read_bytes()
    assert data == mf.dumps(net)  # save and dumps agree, deterministic
    loaded = mf.load(path)
    assert_same_network(net, loaded)
    mf.save(loaded, tmp_path / "again.bnn")
    assert (tmp_path / "again.bnn").read_bytes() == data  # save(load(f)) == f
    assert mf.dumps(mf.loads(data)) == data
    x = random_images(rng, net, 16)
    np.testing.assert_array_equal(GoldenModel(net).run(x), GoldenModel(loaded).run(x))
    assert sorted(os.listdir(tmp_path)) == ["again.bnn", "m.bnn"]  # no temp files left behind


def test_hand_built_network_round_trip(blob):
    net = small_net()
    loaded = mf.loads(blob)
    assert_same_network(net, loaded)
    assert loaded.metadata["note"] == "h\u00e9llo"
    x = np.random.default_rng(0).integers(0, 256, (32, 4, 4), dtype=np.uint8)
    np.testing.assert_array_equal(GoldenModel(net).run(x), GoldenModel(loaded).run(x))


def test_deterministic_and_independent_of_dict_order():
    a = small_net()
    b = small_net()
    b.metadata = dict(reversed(list(b.metadata.items())))
    b.layers[0].thresholds.t = b.layers[0].thresholds.t.astype(np.int32)  # any integer dtype in memory
    assert mf.dumps(a) == mf.dumps(b) == mf.dumps(copy.deepcopy(a))


def test_layout_matches_the_documented_format(blob):
    """An independent reader written from docs/model-file.md."""
    assert blob[:8] == b"BNNFPGA\0"
    version, hlen = struct.unpack_from("<IQ", blob, 8)
    assert version == mf.FORMAT_VERSION == 1
    raw = blob[20 : 20 + hlen]
    header = json.loads(raw)
    assert raw == json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert hashlib.sha256(blob[:-32]).digest() == blob[-32:]
    payload = blob[20 + hlen : -32]
    assert [t["name"] for t in header["tensors"]] == [
        "conv1.weights", "conv1.thresholds.t", "conv1.thresholds.direction",
        "fc1.weights", "fc1.thresholds.t", "fc1.thresholds.direction", "fc_out.weights"]
    net = small_net()
    w = tensor(header, "fc1.weights")
    assert w["dtype"] == "uint8" and w["shape"] == [5, 2]
    packed = np.frombuffer(payload, np.uint8, 10, w["offset"]).reshape(5, 2)
    for o in range(5):
        for i in range(12):
            assert (packed[o, i // 8] >> (i % 8)) & 1 == net.layers[2].weights[o, i]
    t = tensor(header, "conv1.thresholds.t")
    assert t["dtype"] == "int64"
    assert list(np.frombuffer(payload, "<i8", 3, t["offset"])) == [0, -5, 7]
    d = tensor(header, "fc1.thresholds.direction")
    assert d["dtype"] == "int8"
    assert list(np.frombuffer(payload, "i1", 5, d["offset"])) == [1, 1, -1, 1, -1]
    assert header["layers"][1] == {"kind": "maxpool", "name": "pool1", "kernel": 2, "stride": 2}
    assert header["input"] == {"height": 4, "width": 4, "channels": 1, "zero_point": 128, "frac_bits": 7, "bits": 8}
    assert header["ir_version"] == 1


def test_read_header(blob, tmp_path):
    p = tmp_path / "m.bnn"
    p.write_bytes(blob)
    assert mf.read_header(p)["name"] == "small"
    assert mf.read_header(blob)["layers"][0]["name"] == "conv1"


# ----------------------------------------------------------------- saving


def test_save_is_atomic_and_refuses_bad_networks(tmp_path):
    path = tmp_path / "m.bnn"
    mf.save(small_net(), path)
    before = path.read_bytes()
    bad = small_net()
    bad.layers[2].thresholds.t = np.zeros(4, np.int64)  # wrong shape
    with pytest.raises(mf.ModelFileError, match=r"m\.bnn: cannot save an invalid network: .*fc1.*thresholds\.t"):
        mf.save(bad, path)
    assert path.read_bytes() == before  # the old file is untouched
    assert os.listdir(tmp_path) == ["m.bnn"]
    with pytest.raises(mf.ModelFileError, match="does not exist"):
        mf.save(small_net(), tmp_path / "nope" / "m.bnn")


def test_save_refuses_input_fields_the_reader_would_refuse(tmp_path):
    net = small_net()
    net.input.frac_bits = 40
    with pytest.raises(mf.ModelFileError, match=r"input field 'frac_bits' must be in \[0, 31\], got 40"):
        mf.save(net, tmp_path / "m.bnn")
    net.input.frac_bits = np.int64(7)  # numpy integers are fine
    assert mf.loads(mf.dumps(net)).input.frac_bits == 7


@pytest.mark.parametrize("meta, what", [
    ({"t": (1, 2)}, "tuple"),
    ({"n": np.int64(3)}, "int64"),
    ({"x": float("nan")}, "NaN"),
    ({1: "a"}, "non-string key"),
    ({"a": {"b": [object()]}}, "object"),
])
def test_save_refuses_metadata_that_would_not_round_trip(meta, what, tmp_path):
    net = small_net()
    net.metadata = meta
    with pytest.raises(mf.ModelFileError, match=what):
        mf.save(net, tmp_path / "m.bnn")
    assert not os.listdir(tmp_path)


# ----------------------------------------------------------------- damaged files


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(mf.ModelFileError, match=r"nope\.bnn: model file not found"):
        mf.load(tmp_path / "nope.bnn")
    with pytest.raises(mf.ModelFileError, match="is a folder"):
        mf.load(tmp_path)


@pytest.mark.parametrize("cut", [0, 5, 8, 19, 20, 60])
def test_truncated_early(blob, cut):
    refused(blob[:cut])


@pytest.mark.parametrize("keep", [1, 32, 33, 100])
def test_truncated_tail(blob, keep):
    refused(blob[:-keep], "truncated")


def test_corrupted_byte_fails_checksum(blob):
    header, payload = split(blob)
    b = bytearray(blob)
    b[len(blob) - 32 - len(payload) + 3] ^= 0x10  # one weight bit
    refused(bytes(b), "checksum mismatch")
    b = bytearray(blob)
    b[-1] ^= 1  # the trailer itself
    refused(bytes(b), "checksum mismatch")
    refused(blob + b"\0", "checksum mismatch")


def test_bad_magic(blob):
    refused(b"PK\x03\x04" + blob[4:], "not a bnnfpga model file")
    refused(b"GIF89a", "not a bnnfpga model file")
    refused(b"BNNFPGA", "truncated")


def test_unknown_version_is_named(blob):
    header, payload = split(blob)
    refused(build(header, payload, version=2), "format version 2")
    refused(build(header, payload, version=0), "format version 0")


def test_header_not_json(blob):
    header, payload = split(blob)
    refused(build(None, payload, raw_header=b"{not json"), "header is not valid JSON")
    refused(build(None, payload, raw_header=b"\xff\xfe"), "not UTF-8")
    refused(build(None, payload, raw_header=b"[1,2]"), "header must be a JSON object")
    text = json.dumps(header, sort_keys=True, separators=(",", ":"))
    refused(build(None, payload, raw_header=('{"name":"x",' + text[1:]).encode()), "duplicate key 'name'")


def test_nan_in_header(blob):
    header, payload = split(blob)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).replace('"zero_point":128', '"zero_point":NaN')
    refused(build(None, payload, raw_header=text.encode()), "NaN is not allowed")


def edited(blob, edit):
    header, payload = split(blob)
    header = copy.deepcopy(header)
    new_payload = edit(header, payload)
    return build(header, new_payload if isinstance(new_payload, bytes) else payload)


@pytest.mark.parametrize("edit, fragments", [
    (lambda h, p: h["input"].__setitem__("height", 4.0), ["input field 'height' must be an integer, got number 4.0"]),
    (lambda h, p: h["input"].__setitem__("height", True), ["input field 'height' must be an integer"]),
    (lambda h, p: h["input"].__setitem__("zero_point", 300), ["zero_point' must be <= 255"]),
    (lambda h, p: h["input"].__setitem__("extra", 1), ["input: unknown field 'extra'"]),
    (lambda h, p: h["input"].pop("bits"), ["input: missing field 'bits'"]),
    (lambda h, p: h.__setitem__("ir_version", 9), ["IR version 9"]),
    (lambda h, p: h.__setitem__("classes", ["a", 2, "c"]), ["'classes'[1] must be a string"]),
    (lambda h, p: h.__setitem__("classes", ["a", "a", "c"]), ["duplicate class name 'a'"]),
    (lambda h, p: h.__setitem__("classes", ["a", "b"]), ["classes: 2 names for 3 outputs"]),
    (lambda h, p: h.__setitem__("metadata", [1]), ["'metadata' must be a JSON object"]),
    (lambda h, p: h.__setitem__("name", 5), ["'name' must be a string"]),
    (lambda h, p: h.pop("layers"), ["missing field 'layers'"]),
    (lambda h, p: h.__setitem__("layers", []), ["'layers' must be a non-empty list"]),
    (lambda h, p: h["layers"][0].__setitem__("kind", "lstm"), ["layer 0 field 'kind' must be one of"]),
    (lambda h, p: h["layers"][0].__setitem__("kernel", 0), ["layer 'conv1' field 'kernel' must be >= 1"]),
    (lambda h, p: h["layers"][0].__setitem__("padding", "full"), ["field 'padding' must be one of"]),
    (lambda h, p: h["layers"][0].__setitem__("thresholds", 1), ["field 'thresholds' must be true or false"]),
    (lambda h, p: h["layers"][0].__setitem__("bias", [0]), ["layer 0 'conv1': unknown field 'bias'"]),
    (lambda h, p: h["layers"][2].__setitem__("input_kind", "fixed"), ["fc1", "input_kind' must be 'binary'"]),
    (lambda h, p: h["layers"][2].__setitem__("name", "conv1"), ["layer 2 'conv1': duplicate layer name"]),
    (lambda h, p: h["layers"][3].__setitem__("in_features", 6), ["fc_out", "in_features=6"]),
    (lambda h, p: h["layers"][1].__setitem__("kernel", 99), ["max-pool window 99"]),
])
def test_hand_edited_header_fields(blob, edit, fragments):
    refused(edited(blob, edit), *fragments)


def test_wrong_threshold_shape(blob):
    def edit(h, p):
        t = tensor(h, "fc1.thresholds.t")
        t["shape"], t["nbytes"] = [3], 24
        d = tensor(h, "fc1.thresholds.direction")
        # shift every later tensor so the table still tiles the payload
        cut = t["offset"] + 24
        for x in h["tensors"]:
            if x["offset"] > t["offset"]:
                x["offset"] -= 16
        return p[:cut] + p[cut + 16:]
    refused(edited(blob, edit), "layer 'fc1' field 'thresholds.t': shape (3,), expected (5,)")


def test_float_thresholds_with_nan_refused(blob):
    def edit(h, p):
        t = tensor(h, "conv1.thresholds.t")
        t["dtype"] = "float64"
        o = t["offset"]
        return p[:o] + np.array([np.nan, 1.0, np.inf], "<f8").tobytes() + p[o + 24:]
    refused(edited(blob, edit), "layer 'conv1' field 'thresholds.t': dtype float64, expected int64",
            "floating point is never allowed")


def test_wrong_weight_dtype(blob):
    def edit(h, p):
        w = tensor(h, "fc_out.weights")
        w["dtype"] = "int8"
    refused(edited(blob, edit), "layer 'fc_out' field 'weights': dtype int8, expected uint8")


def test_unknown_dtype(blob):
    refused(edited(blob, lambda h, p: tensor(h, "fc_out.weights").__setitem__("dtype", "bool")), "unknown dtype 'bool'")


def test_wrong_weight_shape(blob):
    def edit(h, p):
        w = tensor(h, "fc_out.weights")
        w["shape"] = [1, 3]
    refused(edited(blob, edit), "layer 'fc_out' field 'weights': shape (1, 3), expected (3, 1)")


def test_nbytes_inconsistent(blob):
    refused(edited(blob, lambda h, p: tensor(h, "fc_out.weights").__setitem__("nbytes", 4)),
            "tensor 'fc_out.weights': nbytes 4 does not match shape (3, 1)")


def test_tensor_out_of_bounds(blob):
    refused(edited(blob, lambda h, p: tensor(h, "fc_out.weights").__setitem__("offset", 10 ** 6)),
            "tensor 'fc_out.weights': bytes [1000000, 1000003) lie outside the payload")
    refused(edited(blob, lambda h, p: tensor(h, "fc_out.weights").__setitem__("offset", -1)), "must be >= 0")


def test_overlap_and_gap(blob):
    def overlap(h, p):
        tensor(h, "fc_out.weights")["offset"] = tensor(h, "fc1.thresholds.direction")["offset"]
    refused(edited(blob, overlap), "overlaps")

    def gap(h, p):
        return p + b"\0\0"
    refused(edited(blob, gap), "payload bytes", "belong to no tensor")

    def hole(h, p):
        w = tensor(h, "fc_out.weights")
        w["offset"] += 1
        return p + b"\0"
    refused(edited(blob, hole), "belong to no tensor (before tensor 'fc_out.weights')")


def test_duplicate_missing_and_orphan_tensors(blob):
    def dup(h, p):
        h["tensors"].append(dict(tensor(h, "fc_out.weights"), offset=len(p)))
        return p + p[-3:]
    refused(edited(blob, dup), "tensor 'fc_out.weights': duplicate tensor name")

    def missing(h, p):
        h["tensors"] = [t for t in h["tensors"] if t["name"] != "fc_out.weights"]
        return p[:-3]
    refused(edited(blob, missing), "layer 'fc_out' field 'weights': tensor 'fc_out.weights' missing")

    def orphan(h, p):
        h["layers"][2]["thresholds"] = False
    refused(edited(blob, orphan), "tensor 'fc1.thresholds.t' belongs to no layer field")

    def no_thresholds(h, p):
        h["layers"][3]["thresholds"] = True
    refused(edited(blob, no_thresholds), "tensor 'fc_out.thresholds.t' missing")


def test_nonzero_padding_bits(blob):
    def edit(h, p):
        w = tensor(h, "fc1.weights")  # fan-in 12: bits 4..7 of each row's second byte are padding
        o = w["offset"] + 2 * 2 + 1  # row 2, byte 1
        return p[:o] + bytes([p[o] | 0x80]) + p[o + 1:]
    refused(edited(blob, edit), "layer 'fc1' field 'weights': padding bits of row 2 are not zero")


def test_bad_direction(blob):
    def edit(h, p):
        o = tensor(h, "fc1.thresholds.direction")["offset"] + 1
        return p[:o] + bytes([0]) + p[o + 1:]
    refused(edited(blob, edit), "layer 'fc1' field 'thresholds.direction': channel 1 holds 0")


def test_threshold_out_of_range(blob):
    def edit(h, p):
        o = tensor(h, "fc1.thresholds.t")["offset"]
        return p[:o] + struct.pack("<q", 14) + p[o + 8:]  # fan-in 12: allowed [-1, 13]
    refused(edited(blob, edit), "layer 2 'fc1': field 'thresholds.t' outside the accumulator range [-1, 13]")
    ok = edited(blob, lambda h, p: p[: tensor(h, "fc1.thresholds.t")["offset"]] + struct.pack("<q", 13)
                + p[tensor(h, "fc1.thresholds.t")["offset"] + 8:])
    assert mf.loads(ok).layers[2].thresholds.t[0] == 13


def test_huge_declared_shape_does_not_allocate(blob):
    def edit(h, p):
        w = tensor(h, "fc_out.weights")
        w["shape"], w["nbytes"] = [2 ** 40, 2 ** 20], 2 ** 60
    refused(edited(blob, edit), "lie outside the payload")


# ----------------------------------------------------------------- fuzzing


_FUZZ_BLOB = mf.dumps(random_network(np.random.default_rng(3), "cnn"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_damage_is_always_a_model_file_error(data):
    b = bytearray(_FUZZ_BLOB)
    op = data.draw(st.sampled_from(["flip", "truncate", "set", "splice"]))
    if op == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(b) - 1))
            b[i] ^= 1 << data.draw(st.integers(0, 7))
    elif op == "truncate":
        b = b[: data.draw(st.integers(0, len(b) - 1))]
    elif op == "set":
        i = data.draw(st.integers(0, len(b) - 1))
        new = data.draw(st.integers(0, 255).filter(lambda v: v != b[i]))
        b[i] = new
    else:
        i = data.draw(st.integers(0, len(b)))
        b[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    assume(bytes(b) != _FUZZ_BLOB)  # two flips of the same bit cancel out
    with pytest.raises(mf.ModelFileError) as ei:
        mf.loads(bytes(b), source="fuzz.bnn")
    assert "\n" not in str(ei.value) and str(ei.value).startswith("fuzz.bnn: ")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_refused(junk):
    with pytest.raises(mf.ModelFileError):
        mf.loads(junk)
    with pytest.raises(mf.ModelFileError):
        mf.loads(b"BNNFPGA\0\x01\0\0\0" + junk)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_re_signed_header_damage_is_always_a_model_file_error(data):
    """Bytes flipped inside the header, with the checksum recomputed: the validator must still hold."""
    header, payload = split(_FUZZ_BLOB)
    raw = bytearray(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.sampled_from(b'0123456789-.,:"[]{}aeE '))
    b = build(None, payload, raw_header=bytes(raw))
    try:
        net = mf.loads(b, source="fuzz.bnn")
    except mf.ModelFileError as e:
        assert "\n" not in str(e) and str(e).startswith("fuzz.bnn: ")
    else:  # an edit that still describes a valid network (e.g. a renamed class): must round trip
        net.validate()
        assert mf.loads(mf.dumps(net)) is not None


# ----------------------------------------------------------------- the documentation


DOC = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "model-file.md")


def _doc_blocks(lang):
    text = open(DOC, encoding="utf-8").read()
    parts = text.split("```" + lang + "\n")[1:]
    return [p.split("```")[0] for p in parts]


def test_documented_example_header_loads(tmp_path):
    header = json.loads(_doc_blocks("json")[0])
    payload = bytearray(sum(t["nbytes"] for t in header["tensors"]))
    d = next(t for t in header["tensors"] if t["name"].endswith("direction"))
    payload[d["offset"]: d["offset"] + d["nbytes"]] = b"\x01" * d["nbytes"]
    blob = build(header, bytes(payload))
    net = mf.loads(blob, source="doc-example.bnn")
    assert [l.name for l in net.layers] == ["fc0", "fc_out"]
    assert mf.dumps(net) == blob  # the example is in the writer's exact layout
    path = tmp_path / "model.bnn"
    path.write_bytes(blob)
    snippet = _doc_blocks("python")[0].replace('"model.bnn"', repr(str(path)))
    scope = {}
    exec(snippet, scope)  # the documented minimal reader runs on a real file
    assert scope["header"] == header and len(scope["payload"]) == len(payload)
