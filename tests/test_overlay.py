"""bnnfpga.overlay: the same driver on the sim (Verilator) and hw (emulated PYNQ board) runtimes
gives the golden model's scores for a network trained on real images (scikit-learn digits);
preprocessing, packing, and the one-line errors (bad images, missing overlay, stalled accelerator).

One trained network and one overlay folder for the whole module: every sim/hw run reuses the
same cached Verilator build."""
from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from bnnfpga import emulated_board, golden, metadata as md, modelfile
from bnnfpga import folding as fo
from bnnfpga.build import build
from bnnfpga.overlay import AcceleratorTimeout, Classifier, OverlayError, pack_frames, preprocess

pytestmark = pytest.mark.cosim
N_IMAGES = 24


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from bnnfpga import data, export, train, zoo

    torch.set_num_threads(1)
    ds = data.load_digits()
    model = zoo.mlp(input_shape=(1, 8, 8), hidden=(128,), classes=10)
    train.train(model, ds.x_train, ds.y_train, train.TrainConfig(epochs=8, lr=1e-2, lr_end=1e-3, seed=0),
                progress=False)
    net = export.to_ir(model, (1, 8, 8), name="digits_mlp", classes=ds.classes)
    root = tmp_path_factory.mktemp("overlay")
    mpath = root / "digits.bnn"
    modelfile.save(net, mpath)
    fold = fo.for_target(net, 128)
    res = build(mpath, "pynq-z2", root / "digits_z2", folding=fold, run_tools=False, say=lambda s: None)
    return dict(net=net, ds=ds, folder=res.out_dir, model=mpath, fold=fold)


@pytest.fixture(scope="module")
def sw_result(trained):
    clf = Classifier(trained["folder"], runtime="sw")
    return clf.classify_batch(trained["ds"].x_test[:N_IMAGES])


def test_sw_is_the_golden_model_and_accurate(trained, sw_result):
    ds, net = trained["ds"], trained["net"]
    clf = Classifier(trained["folder"], runtime="sw")
    allres = clf.classify_batch(ds.x_test)
    gold = golden.run(net, ds.x_test)
    assert np.array_equal(allres.scores, gold)
    acc = float((allres.indices == ds.y_test).mean())
    assert acc > 0.8, f"trained digits MLP reaches only {acc:.1%}"
    assert allres.names[:5] == [ds.classes[i] for i in allres.indices[:5]]
    assert np.array_equal(allres.top_k[:, 0], golden.predict_labels(gold))
    assert allres.images_per_second > 0 and allres.us_per_image > 0


def test_sim_equals_sw_on_real_digits(trained, sw_result):
    clf = Classifier(trained["folder"], runtime="sim")
    r = clf.classify_batch(trained["ds"].x_test[:N_IMAGES])
    assert r.runtime == "sim"
    assert np.array_equal(r.scores, sw_result.scores)
    assert np.array_equal(r.top_k, sw_result.top_k)
    assert r.names == sw_result.names
    assert r.info["frames"] == N_IMAGES
    meta = md.load(trained["folder"] / "digits_z2.json")
    # the RTL's measured interval is the analytical one (a few cycles of slack)
    assert abs(r.info["cycles_per_frame"] - meta["cycles_per_frame"]) <= 2
    one = clf.classify(trained["ds"].x_test[3])
    assert one.index == sw_result.indices[3] and one.name == sw_result.names[3]
    assert np.array_equal(one.scores, sw_result.scores[3])


def test_hw_path_on_emulated_board_equals_sw(trained, sw_result, tmp_path):
    folder = tmp_path / "digits_z2"
    shutil.copytree(trained["folder"], folder)
    with pytest.raises(OverlayError, match=r"digits_z2\.bit: missing"):
        Classifier(folder, runtime="hw", pynq=emulated_board)
    emulated_board.write_emulation_files(folder)
    clf = Classifier(folder, runtime="hw", pynq=emulated_board)
    clf._driver.max_frames = 10  # three runs: 10 + 10 + 4 frames, buffers reused
    r = clf.classify_batch(list(trained["ds"].x_test[:N_IMAGES]))  # a list of 2-D arrays
    assert r.runtime == "hw"
    assert np.array_equal(r.scores, sw_result.scores)
    assert np.array_equal(r.top_k, sw_result.top_k)
    emu = clf._driver.ol.emulation
    assert [run["frames"] for run in emu.runs] == [10, 10, 4]
    assert emu.gpio == 4  # frames per S2MM packet of the last run
    bufs = clf._driver._bufs
    assert bufs[0].flushed == 3
    clf.close()
    assert all(b.freed for b in bufs)


def test_hw_driver_needs_the_frames_gpio(trained, tmp_path, monkeypatch):
    """Without the frames-per-packet GPIO the DMA stops after the first frame's TLAST and the run
    never finishes: the emulation reproduces it and the driver times out."""
    pyn = emulated_board.EmulatedPynq(net=trained["net"], folding=trained["fold"],
                                      meta=md.load(trained["folder"] / "digits_z2.json"))
    clf = Classifier(trained["folder"], runtime="sim", pynq=pyn, timeout_s=1.0)
    monkeypatch.setattr(clf._driver.gpio, "write", lambda off, v: None)
    with pytest.raises(AcceleratorTimeout, match="stalled"):
        clf.classify_batch(trained["ds"].x_test[:3])
    assert pyn.devices[0].dma.recvchannel.transferred == 11 * 4  # one frame: 10 scores + 1 label


def test_stalled_accelerator_times_out(trained, tmp_path):
    folder = tmp_path / "digits_z2"
    shutil.copytree(trained["folder"], folder)
    emulated_board.write_emulation_files(folder)
    clf = Classifier(folder, runtime="hw", pynq=emulated_board.EmulatedPynq(stall=True), timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(AcceleratorTimeout) as e:
        clf.classify(trained["ds"].x_test[0])
    assert time.monotonic() - t0 < 5
    assert "no ap_done 0.3 s after starting 1 frames" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(AcceleratorTimeout, match="busy"):  # the hung run is still there
        clf.classify(trained["ds"].x_test[0])


def test_overlay_errors(trained, tmp_path):
    with pytest.raises(OverlayError, match="not found"):
        Classifier(tmp_path / "nowhere", runtime="sw")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OverlayError, match="no overlay metadata"):
        Classifier(empty, runtime="sim")
    with pytest.raises(OverlayError, match="runtime must be"):
        Classifier(trained["folder"], runtime="fpga")
    with pytest.raises(OverlayError, match="needs an overlay folder"):
        Classifier(trained["model"], runtime="hw")
    folder = tmp_path / "digits_z2"
    shutil.copytree(trained["folder"], folder)
    emulated_board.write_emulation_files(folder)
    try:
        import pynq  # noqa: F401
    except ImportError:
        with pytest.raises(OverlayError, match="needs the pynq package"):
            Classifier(folder, runtime="hw")
    (folder / "digits_z2.hwh").unlink()
    with pytest.raises(OverlayError, match="hwh: missing"):
        Classifier(folder, runtime="hw", pynq=emulated_board)
    bnn = folder / "digits_z2.bnn"
    data = bytearray(bnn.read_bytes())
    other = trained["net"]
    other.name = "changed"
    modelfile.save(other, bnn)
    other.name = "digits_mlp"
    with pytest.raises(OverlayError, match="sha256 differs"):
        Classifier(folder, runtime="sw")
    meta = folder / "digits_z2.json"
    meta.write_text(meta.read_text().replace('"beat_bits": 64', '"beat_bits": 32'))
    with pytest.raises(OverlayError, match="input.beat_bits"):
        Classifier(folder, runtime="sw")
    assert data  # keep the linter quiet about the copy


def test_preprocess_and_packing(trained):
    from PIL import Image

    clf = Classifier(trained["net"], runtime="sw")
    x = trained["ds"].x_test[:4]
    # PIL: RGB, 4x the size -> grey 8x8, same as resizing by hand
    big = np.kron(x[0], np.ones((4, 4), np.uint8))
    rgb = Image.fromarray(np.stack([big] * 3, axis=-1), "RGB")
    got = clf.preprocess([rgb])[0, :, :, 0]
    want = np.asarray(Image.fromarray(big).resize((8, 8), Image.BILINEAR))
    assert np.array_equal(got, want)
    # floats in [0, 1] are scaled by 255
    assert np.array_equal(clf.preprocess([x[1] / 255.0]), x[1:2, :, :, None])
    # a batch array (N, H, W) and the same as (N, H, W, 1)
    assert np.array_equal(clf.preprocess(x), clf.preprocess(x[..., None]))
    r1 = clf.classify(Image.fromarray(x[2]))
    r2 = clf.classify(x[2].astype(np.int64))
    assert r1.index == r2.index and np.array_equal(r1.scores, r2.scores)
    for bad, msg in [(np.zeros((8, 8), bool), "dtype bool"), (np.full((8, 8), 2.0), r"in \[0, 1\]"),
                     (np.full((8, 8), 300, np.int32), "0..255"), (np.zeros((8, 8, 5), np.uint8), "image shape"),
                     (np.zeros(8, np.uint8), "image shape"), ("cat", "dtype")]:
        with pytest.raises(OverlayError, match=msg) as e:
            clf.classify(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(OverlayError, match="empty batch"):
        clf.classify_batch([])
    with pytest.raises(OverlayError, match="one image"):
        clf.classify([x[0], x[1]])
    strict = Classifier(trained["net"], runtime="sw", resize=False)
    with pytest.raises(OverlayError, match="resize=False"):
        strict.classify(np.zeros((16, 16), np.uint8))
    # packing: byte i of the frame at bits [8*(i%8)+7 : 8*(i%8)] of beat i/8, last beat zero-padded
    img = np.arange(3 * 3 * 3, dtype=np.uint8).reshape(1, 3, 3, 3)
    beats = pack_frames(img, 4)
    assert beats.shape == (1, 4) and beats.dtype == np.uint64
    for i in range(27):
        assert (int(beats[0, i // 8]) >> (8 * (i % 8))) & 0xFF == i
    assert int(beats[0, 3]) >> 24 == 0
    # and it is what the RTL/HLS test benches feed the accelerator
    from bnnfpga.rtl.cosim import input_beats

    assert np.array_equal(pack_frames(preprocess(x, (8, 8, 1)), 8), input_beats(trained["net"], x[..., None]))
