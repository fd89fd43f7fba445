"""IR -> ONNX -> onnxruntime == golden, and IR -> ONNX -> IR exact, on random networks."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from bnnfpga.golden import GoldenModel  # noqa: E402
from bnnfpga.ir import Conv2D, Dense, MaxPool2D  # noqa: E402
from bnnfpga.onnx_export import export_onnx, images_to_input, run_onnxruntime, to_onnx  # noqa: E402
from bnnfpga.onnx_import import import_onnx  # noqa: E402
from bnnfpga.random_net import random_images, random_network  # noqa: E402


def assert_same_network(a, b):
    assert a.input == b.input
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        assert type(la) is type(lb), (la.name, lb.name)
        assert la.name == lb.name
        if isinstance(la, MaxPool2D):
            assert (la.kernel, la.stride) == (lb.kernel, lb.stride)
            continue
        assert la.input_kind == lb.input_kind
        assert np.array_equal(la.weights, lb.weights), la.name
        if isinstance(la, Conv2D):
            assert (la.kernel, la.padding, la.in_channels, la.out_channels) == (lb.kernel, lb.padding, lb.in_channels, lb.out_channels)
        if la.thresholds is None:
            assert lb.thresholds is None
        else:
            assert np.array_equal(la.thresholds.t, lb.thresholds.t), la.name
            assert np.array_equal(la.thresholds.direction, lb.thresholds.direction), la.name
    assert a.classes == b.classes
    assert a.name == b.name


@pytest.mark.parametrize("seed", range(30))
def test_random_roundtrip(seed):
    rng = np.random.default_rng(1000 + seed)
    net = random_network(rng, kind=["mlp", "cnn"][seed % 2])
    model = to_onnx(net)
    images = random_images(rng, net, 300)
    golden = GoldenModel(net).run(images)
    # onnxruntime on the plain ONNX export gives exactly the golden scores
    scores = run_onnxruntime(model, images_to_input(net, images))
    assert scores.dtype == np.float32
    assert np.array_equal(scores, golden.astype(np.float32))
    # ONNX -> IR is exact, for both flavours
    for fmt in ("onnx", "qonnx"):
        back, report = import_onnx(to_onnx(net, fmt))
        assert_same_network(net, back)
        assert np.array_equal(GoldenModel(back).run(images), golden)
        assert "compute layers" in str(report)


def test_export_is_deterministic_and_valid(tmp_path):
    net = random_network(np.random.default_rng(7), kind="cnn")
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    export_onnx(net, a)
    export_onnx(net, b)
    assert a.read_bytes() == b.read_bytes()
    onnx.checker.check_model(onnx.load(str(a)), full_check=True)
    names = {n.name for n in onnx.load(str(a)).graph.node}
    for layer in net.layers:
        assert layer.name in names  # netron shows the IR layer names


def test_edge_thresholds_and_directions_survive():
    """Constant channels (thresholds at lo-1, lo, hi, hi+1, both directions) round-trip exactly."""
    rng = np.random.default_rng(3)
    net = random_network(rng, kind="mlp")
    from bnnfpga.ir import acc_range

    for layer in net.compute_layers()[:-1]:
        lo, hi = acc_range(net, layer)
        c = layer.out_channels
        layer.thresholds.t = np.resize(np.array([lo - 1, lo, hi, hi + 1], np.int64), c)
        layer.thresholds.direction = np.resize(np.array([1, 1, -1, -1, -1, -1, 1, 1], np.int8), c)
    net.validate()
    back, _ = import_onnx(to_onnx(net))
    assert_same_network(net, back)


def test_cli_import_export(tmp_path, capsys):
    from bnnfpga.cli import main
    from bnnfpga.modelfile import load, save

    net = random_network(np.random.default_rng(11), kind="cnn", name="clinet")
    bnn = tmp_path / "m.bnn"
    save(net, bnn)
    onnx_path = tmp_path / "m.onnx"
    assert main(["export-onnx", str(bnn), "-o", str(onnx_path)]) == 0
    assert main(["import", str(onnx_path), "-o", str(tmp_path / "back.bnn")]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "compute layers" in out
    assert_same_network(net, load(tmp_path / "back.bnn"))
    # qonnx flavour too
    assert main(["export-onnx", str(bnn), "-o", str(tmp_path / "q.onnx"), "--format", "qonnx"]) == 0
    assert main(["import", str(tmp_path / "q.onnx"), "-o", str(tmp_path / "q.bnn"), "-q"]) == 0
    assert_same_network(net, load(tmp_path / "q.bnn"))


@pytest.mark.parametrize("seed", range(6))
def test_bisection_equals_exhaustive(monkeypatch, seed):
    """Large accumulator ranges use a vectorised bisection: same thresholds as the exhaustive search."""
    import bnnfpga.onnx_import as oi

    rng = np.random.default_rng(2000 + seed)
    net = random_network(rng, kind=["mlp", "cnn"][seed % 2])
    model = to_onnx(net)
    monkeypatch.setattr(oi, "EXHAUSTIVE_LIMIT", 1)
    back, _ = import_onnx(model)
    assert_same_network(net, back)
