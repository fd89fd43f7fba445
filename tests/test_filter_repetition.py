"""Filter repetitions (Hubara et al. supp. C): unique 2D filters up to sign on hand-made weights."""
import json

import numpy as np
import pytest

from bnnfpga import ir
from bnnfpga.cli import main
from bnnfpga.filter_repetition import (analyze, analyze_layer, canonical, expected_random_ratio, filters_2d,
                                       repetition_table, share_map)


def _conv(filters, name="conv1", input_kind="binary"):
    """filters: (out, in, K, K) array of +-1 -> an IR Conv2D (weights (out, K*K*in) in (ky, kx, c) order)."""
    f = np.asarray(filters)
    out, cin, k, _ = f.shape
    bits = (f > 0).astype(np.uint8).transpose(0, 2, 3, 1).reshape(out, k * k * cin)
    return ir.Conv2D(name, cin, out, k, "valid", bits, input_kind=input_kind,
                     thresholds=ir.Thresholds(np.zeros(out, np.int64), np.ones(out, np.int8)))


def _net(*convs, size=6):
    c0 = convs[0]
    first = ir.Conv2D("conv0", 1, c0.in_channels, 1, "valid", np.ones((c0.in_channels, 1), np.uint8), "fixed",
                      ir.Thresholds(np.zeros(c0.in_channels, np.int64), np.ones(c0.in_channels, np.int8)))
    layers = [first, *convs]
    h = size
    for c in convs:
        h -= c.kernel - 1
    last_in = h * h * convs[-1].out_channels
    layers.append(ir.Dense("fc", last_in, 2, np.zeros((2, last_in), np.uint8)))
    return ir.Network("hand", ir.InputSpec(size, size, 1), layers).validate()


A = np.array([[1, -1, 1], [1, 1, -1], [-1, -1, 1]])
B = np.array([[1, 1, 1], [1, -1, 1], [1, 1, 1]])
C = np.array([[-1, 1, 1], [1, 1, 1], [1, 1, 1]])


def test_known_counts_up_to_sign():
    # channel 0: A, -A, A, B -> 2 classes; channel 1: B, C, -C, -B -> 2 classes
    f = np.stack([np.stack([A, B]), np.stack([-A, C]), np.stack([A, -C]), np.stack([B, -B])])
    layer = _conv(f)
    np.testing.assert_array_equal(filters_2d(layer)[1, 0], (-A > 0).astype(np.uint8).reshape(-1))
    s = analyze_layer(layer, out_pixels=16)
    assert s.unique_per_channel.tolist() == [2, 2]
    assert s.filters == 8 and s.unique == 4 and s.unique_ratio == 0.5 and s.xnor_reduction == 2.0
    assert s.unique_layer == 3  # A, B, C over the whole layer
    assert s.ops_standard == 8 * 9 * 16 and s.ops_shared == 4 * 9 * 16
    # all different: no sharing
    g = np.stack([np.stack([A]), np.stack([B]), np.stack([C])])
    t = analyze_layer(_conv(g))
    assert t.unique == 3 and t.unique_ratio == 1.0 and t.xnor_reduction == 1.0
    # one filter and its negation everywhere: one class per channel
    h = np.stack([np.stack([A, B]) * (1 if o % 2 else -1) for o in range(6)])
    u = analyze_layer(_conv(h))
    assert u.unique_per_channel.tolist() == [1, 1] and u.unique_ratio == pytest.approx(2 / 12)


def test_share_map_reconstructs_every_filter():
    rng = np.random.default_rng(3)
    base = rng.choice([-1, 1], size=(5, 4, 3, 3))
    f = base[rng.integers(0, 5, size=40)] * rng.choice([-1, 1], size=(40, 1, 1, 1))  # 40 outputs from 5 prototypes
    layer = _conv(f)
    unique, index, flip = share_map(layer)
    bits = filters_2d(layer)
    for c in range(4):
        assert len(unique[c]) <= 5 and (unique[c][:, 0] == 0).all()  # canonical: first bit 0
        rebuilt = unique[c][index[:, c]] ^ flip[:, c, None]
        np.testing.assert_array_equal(rebuilt, bits[:, c])
    assert sum(len(u) for u in unique) == analyze_layer(layer).unique
    # XNOR-popcount identity behind the sharing: popcount(xnor(x, ~f)) = K*K - popcount(xnor(x, f))
    x = rng.integers(0, 2, 9, dtype=np.uint8)
    fb = bits[0, 0]
    cf, fl = canonical(fb)
    p = int((x == cf).sum())
    assert int((x == fb).sum()) == (9 - p if fl else p)


def test_random_baseline_matches_expectation():
    rng = np.random.default_rng(0)
    for out in (64, 512):
        f = rng.choice([-1, 1], size=(out, 64, 3, 3))
        s = analyze_layer(_conv(f))
        assert s.unique_ratio == pytest.approx(expected_random_ratio(3, out), abs=0.02)
    assert expected_random_ratio(3, 512) == pytest.approx(0.432, abs=0.001)
    assert expected_random_ratio(3, 1) == pytest.approx(1.0)


def test_table_and_network_selection():
    f1 = np.stack([np.stack([A, B]), np.stack([-A, C]), np.stack([A, -C])])  # 2 in -> 3 out
    net = _net(_conv(f1, "conv1"))
    stats = analyze(net)
    assert [s.name for s in stats] == ["conv1"]  # the 1x1 pixel convolution is not a KxK binary one
    assert stats[0].out_pixels == 16
    text = repetition_table(net)
    assert "conv1" in text and "50.0" in text and "paper: 42%" in text and "2.00x" in text  # A,-A,A | B,C,-C
    assert "conv0" not in text
    assert "nothing to share" in repetition_table(_net(_conv(np.ones((2, 2, 1, 1)), "conv1")))


def test_cli_filter_stats(tmp_path, capsys):
    from bnnfpga import modelfile

    f1 = np.stack([np.stack([A, B]), np.stack([-A, C]), np.stack([A, -C]), np.stack([B, -B])])
    path = tmp_path / "m.bnn"
    modelfile.save(_net(_conv(f1, "conv1")), path)
    assert main(["filter-stats", str(path), "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "50.0" in out
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["layers"][0]["unique"] == 4 and data["summary"]["xnor_reduction"] == 2.0
    assert main(["filter-stats", str(tmp_path / "missing.bnn")]) == 2
    assert "not found" in capsys.readouterr().err
