"""Data loaders: tiny files in every supported format, and one-line errors for bad ones."""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from bnnfpga import data as D
from bnnfpga.data import DataError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C,
          np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}


def idx_bytes(a: np.ndarray) -> bytes:
    """IDX encoding written from the format description: 00 00 type ndim, u32 BE dims, BE data."""
    a = np.asarray(a)
    head = bytes([0, 0, _CODES[a.dtype.newbyteorder("=")], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def one_line_error(fn, *args, match=None, **kw) -> str:
    with pytest.raises(DataError) as ei:
        fn(*args, **kw)
    msg = str(ei.value)
    assert msg and "\n" not in msg, msg
    if match:
        for m in ([match] if isinstance(match, str) else match):
            assert m in msg, msg
    return msg


# ----------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    raw = idx_bytes(a)
    p = tmp_path / ("a.idx.gz" if gz else "a.idx")
    p.write_bytes(gzip.compress(raw) if gz else raw)
    b = D.load_idx(p)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_idx_malformed(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    good = idx_bytes(a)
    p = tmp_path / "x"
    cases = [
        (b"\x89PNG" + good[4:], "not an IDX file (magic bytes 89504e47"),
        (b"\0\0\x07\x03" + good[4:], "not an IDX file"),
        (good[:2], "shorter than the 4-byte magic"),
        (good[:10], "truncated IDX header: 3 dimensions need 16 bytes"),
        (good[:-1], "IDX file truncated: dimensions (2, 3, 4) of uint8 need 24 data bytes, found 23"),
        (good + b"\0", "has trailing bytes"),
        (gzip.compress(good)[:-6], "corrupt or truncated gzip"),
    ]
    for blob, frag in cases:
        p.write_bytes(blob)
        one_line_error(D.load_idx, p, match=[str(p), frag])
    one_line_error(D.load_idx, tmp_path / "nope", match="expected an IDX file: not found")


# ----------------------------------------------------------------- MNIST / Fashion-MNIST


def write_mnist(folder: Path, n_train=7, n_test=5, gz=True, h=6, w=5, seed=0, label_max=9):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"x_train": rng.integers(0, 256, (n_train, h, w), dtype=np.uint8),
              "y_train": rng.integers(0, label_max + 1, n_train).astype(np.uint8),
              "x_test": rng.integers(0, 256, (n_test, h, w), dtype=np.uint8),
              "y_test": rng.integers(0, label_max + 1, n_test).astype(np.uint8)}
    for key, stem in D._MNIST_FILES.items():
        raw = idx_bytes(arrays[key])
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    ds = D.load_mnist(tmp_path / "mnist")
    assert ds.name == "mnist" and ds.classes == [str(i) for i in range(10)]
    for k, v in arrays.items():
        got = getattr(ds, k)
        np.testing.assert_array_equal(got, v)
    assert ds.y_train.dtype == np.int64 and ds.x_train.dtype == np.uint8
    assert ds.image_shape == (6, 5, 1) and ds.num_classes == 10


def test_load_fashion_mnist_classes(tmp_path):
    write_mnist(tmp_path / "f", gz=False)
    ds = D.load_fashion_mnist(tmp_path / "f")
    assert ds.name == "fashion-mnist"
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot" and len(ds.classes) == 10


def test_mnist_missing_and_bad_files(tmp_path):
    one_line_error(D.load_mnist, tmp_path / "data" / "mnist",
                   match=[os.path.join("data", "mnist"), "expected a folder with the four MNIST IDX files", "not found"])
    folder = tmp_path / "m"
    write_mnist(folder)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    one_line_error(D.load_mnist, folder, match=f"{folder}: expected t10k-images-idx3-ubyte(.gz) (MNIST IDX format): not found")

    write_mnist(folder)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    one_line_error(D.load_mnist, folder, match="3 labels for 7 images in train-images-idx3-ubyte.gz")

    write_mnist(folder, label_max=10)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.array([1, 10, 2, 3, 4], np.uint8))))
    one_line_error(D.load_mnist, folder, match="label 10 outside 0..9")

    write_mnist(folder)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((7, 6, 5), np.int32))))
    one_line_error(D.load_mnist, folder, match="expected uint8 images (N, H, W)")

    write_mnist(folder)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"garbage!")
    one_line_error(D.load_mnist, folder, match="train-images-idx3-ubyte.gz: not an IDX file")


def test_mnist_dotted_names(tmp_path):
    folder = tmp_path / "m"
    arrays = write_mnist(folder, gz=False)
    for stem in D._MNIST_FILES.values():
        (folder / stem).rename(folder / stem.replace("-idx", ".idx"))
    np.testing.assert_array_equal(D.load_mnist(folder).x_test, arrays["x_test"])


# ----------------------------------------------------------------- CIFAR-10 python batches


def cifar_batch(rng, n, keys_as_bytes=False):
    x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    y = [int(v) for v in rng.integers(0, 10, n)]
    d = {"data": x, "labels": y, "batch_label": "test"}
    if keys_as_bytes:
        d = {k.encode(): v for k, v in d.items()}
    return d


def write_cifar_python(folder: Path, n=4, protocol=None, keys_as_bytes=False, meta=True):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = cifar_batch(rng, n, keys_as_bytes)
        with open(folder / name, "wb") as fh:
            pickle.dump(batches[name], fh, protocol=protocol)
    if meta:
        names = [f"c{i}" for i in range(10)]
        with open(folder / "batches.meta", "wb") as fh:
            pickle.dump({"label_names": [s.encode() for s in names] if keys_as_bytes else names,
                         "num_vis": 3072}, fh, protocol=protocol)
    return batches


@pytest.mark.parametrize("protocol, keys_as_bytes", [(2, False), (4, True), (5, False), (0, False)])
def test_cifar_python_batches(tmp_path, protocol, keys_as_bytes):
    batches = write_cifar_python(tmp_path / "cifar10", protocol=protocol, keys_as_bytes=keys_as_bytes)
    ds = D.load_cifar10(tmp_path / "cifar10")
    key = (lambda k: k.encode()) if keys_as_bytes else (lambda k: k)
    assert ds.x_train.shape == (20, 32, 32, 3) and ds.x_test.shape == (4, 32, 32, 3)
    assert ds.classes == [f"c{i}" for i in range(10)]
    tb = batches["test_batch"]
    # channel planes (R 1024, G 1024, B 1024), each row-major 32x32 -> (H, W, C)
    n, r, c, ch = 2, 5, 17, 1
    assert ds.x_test[n, r, c, ch] == tb[key("data")][n, ch * 1024 + r * 32 + c]
    np.testing.assert_array_equal(ds.y_test, tb[key("labels")])
    np.testing.assert_array_equal(ds.y_train[4:8], batches["data_batch_2"][key("labels")])
    assert ds.y_train.dtype == np.int64


class Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 'str' (BINSTRING opcodes), as the original CIFAR-10 release does."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2str


def py2_pickle(obj) -> bytes:
    f = io.BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    # numpy 1.x (and the original files) name the reconstructor numpy.core.multiarray._reconstruct
    return f.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def test_cifar_python2_style_batches(tmp_path):
    """Batches as the original release stores them: Python 2 str keys and data, numpy.core module names."""
    rng = np.random.default_rng(9)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    ref = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        b = {k.encode(): v for k, v in cifar_batch(rng, 3).items()}
        b[b"batch_label"] = name.encode()
        ref[name] = b
        blob = py2_pickle(b)
        assert b"numpy.core.multiarray" in blob and b"_codecs" not in blob
        (folder / name).write_bytes(blob)
    (folder / "batches.meta").write_bytes(py2_pickle({b"label_names": [c.encode() for c in D.CIFAR10_CLASSES],
                                                      b"num_cases_per_batch": 3}))
    ds = D.load_cifar10(folder)
    assert ds.classes == D.CIFAR10_CLASSES
    np.testing.assert_array_equal(ds.x_test.transpose(0, 3, 1, 2).reshape(3, 3072), ref["test_batch"][b"data"])
    np.testing.assert_array_equal(ds.y_train[12:15], ref["data_batch_5"][b"labels"])


def test_cifar_python_subfolder_and_default_classes(tmp_path):
    write_cifar_python(tmp_path / "cifar10" / "cifar-10-batches-py", meta=False)
    ds = D.load_cifar10(tmp_path / "cifar10")
    assert ds.classes[0] == "airplane" and ds.classes[9] == "truck"


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("evil", ["system", "eval", "nested"])
def test_cifar_unpickler_refuses_code(tmp_path, evil):
    folder = tmp_path / "cifar10"
    write_cifar_python(folder)
    marker = tmp_path / "pwned"
    payload = {"system": _Evil(marker), "eval": _EvalEvil(),
               "nested": {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, _Evil(marker)]}}[evil]
    (folder / "data_batch_3").write_bytes(pickle.dumps(payload, protocol=2))
    msg = one_line_error(D.load_cifar10, folder, match=["data_batch_3", "unsafe pickle", "refused"])
    assert ("system" in msg) if evil != "eval" else ("eval" in msg)
    assert not marker.exists()
    with pytest.raises(DataError, match="refused to load global 'posix.system'|refused to load global 'nt.system'"):
        D.safe_unpickle(pickle.dumps(_Evil(marker)))
    assert not marker.exists()


def test_safe_unpickle_refuses_other_codecs():
    # a hand-written protocol-2 pickle calling _codecs.encode with a non-latin1 codec
    blob = b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00abX\x04\x00\x00\x00zlib\x86R."
    with pytest.raises(DataError, match="refused _codecs.encode"):
        D.safe_unpickle(blob)


def test_cifar_bad_batches(tmp_path):
    folder = tmp_path / "c"
    write_cifar_python(folder)
    good = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(good[: len(good) // 2])
    one_line_error(D.load_cifar10, folder, match=["test_batch", "not a readable pickle"])
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}))
    one_line_error(D.load_cifar10, folder, match="'data' must be uint8 (N, 3072)")
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8)}))
    one_line_error(D.load_cifar10, folder, match="key 'labels' missing")
    (folder / "test_batch").write_bytes(pickle.dumps([1, 2]))
    one_line_error(D.load_cifar10, folder, match="got list")
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 12]}))
    one_line_error(D.load_cifar10, folder, match="label 12 outside 0..9")
    (folder / "test_batch").write_bytes(good)
    (folder / "data_batch_4").unlink()
    one_line_error(D.load_cifar10, folder, match="expected data_batch_4 (CIFAR-10 python batch): not found")


# ----------------------------------------------------------------- CIFAR-10 npz


def write_cifar_npz(folder: Path, n_test=6, parts=False, subset=True):
    rng = np.random.default_rng(2)
    folder.mkdir(parents=True, exist_ok=True)
    arr = lambda n: (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8))
    out = {}
    out["test"] = arr(n_test)
    np.savez(folder / "cifar10_test.npz", x=out["test"][0], y=out["test"][1])
    if subset:
        out["sub_train"], out["sub_test"] = arr(4), arr(3)
        np.savez_compressed(folder / "cifar10_lossless_subset.npz",
                            x_train_first2000=out["sub_train"][0], y_train_first2000=out["sub_train"][1],
                            x_test_first1000=out["sub_test"][0], y_test_first1000=out["sub_test"][1])
    if parts:
        for i in range(1, 6):
            out[f"part{i}"] = arr(2)
            np.savez(folder / f"cifar10_train_part{i}.npz", x=out[f"part{i}"][0], y=out[f"part{i}"][1])
    return out


def test_cifar_npz_layouts(tmp_path):
    f = tmp_path / "cifar10"
    out = write_cifar_npz(f)
    ds = D.load_cifar10(f)
    np.testing.assert_array_equal(ds.x_test, out["test"][0])
    np.testing.assert_array_equal(ds.x_train, out["sub_train"][0])
    assert "lossless" in ds.source and ds.y_test.dtype == np.int64
    ds = D.load_cifar10(f, lossless=True)
    np.testing.assert_array_equal(ds.x_test, out["sub_test"][0])
    np.testing.assert_array_equal(ds.y_test, out["sub_test"][1])
    out = write_cifar_npz(f, parts=True)
    ds = D.load_cifar10(f)
    assert len(ds.x_train) == 10
    np.testing.assert_array_equal(ds.y_train[6:8], out["part4"][1])


def test_cifar_npz_errors(tmp_path):
    f = tmp_path / "c"
    f.mkdir()
    one_line_error(D.load_cifar10, f, match=f"{f}: expected CIFAR-10 python batches (data_batch_1..5, test_batch) or cifar10_test.npz")
    one_line_error(D.load_cifar10, tmp_path / "absent", match="not found")
    write_cifar_npz(f, subset=False)
    one_line_error(D.load_cifar10, f, match="expected training images: cifar10_train_part1.npz")
    one_line_error(D.load_cifar10, f, lossless=True, match="expected cifar10_lossless_subset.npz")
    np.savez(f / "cifar10_test.npz", x=np.zeros((2, 3, 32, 32), np.uint8), y=np.zeros(2))
    one_line_error(D.load_cifar10, f, match="'x' must be uint8 (N, 32, 32, 3), got uint8 (2, 3, 32, 32)")
    np.savez(f / "cifar10_test.npz", images=np.zeros((2, 32, 32, 3), np.uint8))
    one_line_error(D.load_cifar10, f, match="expected arrays 'x' and 'y', found ['images']")
    np.savez(f / "cifar10_test.npz", x=np.zeros((2, 32, 32, 3), np.uint8), y=np.array([None, 1], dtype=object))
    one_line_error(D.load_cifar10, f, match=["cifar10_test.npz", "unreadable npz", "pickle"])
    (f / "cifar10_test.npz").write_bytes(b"PK\x03\x04 truncated")
    one_line_error(D.load_cifar10, f, match="not a readable npz file")
    np.savez(f / "cifar10_test.npz", x=np.zeros((2, 32, 32, 3), np.uint8), y=np.array([0.5, 1.0]))
    one_line_error(D.load_cifar10, f, match="expected a 1-d array of integer labels")


# ----------------------------------------------------------------- SVHN


def write_svhn(folder: Path, n_train=5, n_test=4):
    from scipy.io import savemat

    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)
        y[0, 0] = 10
        savemat(folder / f"{split}_32x32.mat", {"X": X, "y": y})
        out[split] = (X, y)
    return out


def test_svhn(tmp_path):
    out = write_svhn(tmp_path / "svhn")
    ds = D.load_svhn(tmp_path / "svhn")
    X, y = out["test"]
    assert ds.x_test.shape == (4, 32, 32, 3)
    assert ds.x_test[2, 7, 9, 1] == X[7, 9, 1, 2]
    assert ds.y_test[0] == 0  # label 10 is the digit 0
    np.testing.assert_array_equal(ds.y_test, np.where(y[:, 0] == 10, 0, y[:, 0]))
    assert ds.classes == [str(i) for i in range(10)] and ds.y_train.dtype == np.int64


def test_svhn_errors(tmp_path):
    from scipy.io import savemat

    f = tmp_path / "svhn"
    write_svhn(f)
    (f / "test_32x32.mat").unlink()
    one_line_error(D.load_svhn, f, match=f"{f}: expected test_32x32.mat (SVHN cropped digits, MATLAB format): not found")
    (f / "test_32x32.mat").write_bytes(b"MATLAB 5.0 garbage")
    one_line_error(D.load_svhn, f, match="test_32x32.mat: not a readable MATLAB file")
    savemat(f / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [3]], np.uint8)})
    one_line_error(D.load_svhn, f, match="'y' holds label 0, expected 1..10")
    savemat(f / "test_32x32.mat", {"X": np.zeros((3, 32, 32, 2), np.uint8), "y": np.array([[1], [3]], np.uint8)})
    one_line_error(D.load_svhn, f, match="'X' must be uint8 (32, 32, 3, N)")
    savemat(f / "test_32x32.mat", {"images": np.zeros(2)})
    one_line_error(D.load_svhn, f, match="expected variables 'X' and 'y', found ['images']")


# ----------------------------------------------------------------- digits, splits, load_dataset


def test_digits():
    from sklearn.datasets import load_digits

    ds = D.load_digits()
    ref = load_digits()
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert ds.x_train.shape[1:] == (8, 8) and ds.x_train.dtype == np.uint8
    assert 0.24 < len(ds.x_test) / 1797 < 0.26
    # each class is held out in the same proportion (stratified)
    counts = np.bincount(ds.y_test, minlength=10) / np.bincount(ref.target, minlength=10)
    assert np.all(np.abs(counts - 0.25) < 0.02)
    # pixel v (0..16) -> round(v * 255 / 16); images keep their labels
    lut = {v: int(np.rint(v * 255 / 16)) for v in range(17)}
    scaled = np.vectorize(lut.get)(ref.images.astype(int)).astype(np.uint8)
    allx = {x.tobytes(): int(y) for x, y in zip(scaled, ref.target)}
    for x, y in zip(ds.x_test[:50], ds.y_test[:50]):
        assert allx[x.tobytes()] == y
    assert set(np.unique(ds.x_train)) <= set(lut.values()) and ds.x_train.max() == 255
    again = D.load_digits()
    np.testing.assert_array_equal(again.x_test, ds.x_test)  # deterministic


def test_split_validation():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    x = np.arange(400)
    xt, yt, xv, yv = D.split_validation(x, y, 0.2, seed=5)
    assert len(xv) + len(xt) == 400 and not set(xt) & set(xv)
    np.testing.assert_array_equal(y[xv], yv)
    for c in range(4):
        assert abs((yv == c).sum() - round((y == c).sum() * 0.2)) == 0
    again = D.split_validation(x, y, 0.2, seed=5)
    np.testing.assert_array_equal(again[2], xv)
    other = D.split_validation(x, y, 0.2, seed=6)
    assert not np.array_equal(other[2], xv)
    assert len(D.split_validation(x, y, 0.0, 0)[2]) == 0
    with pytest.raises(DataError, match="fraction"):
        D.split_validation(x, y, 1.5, 0)
    with pytest.raises(DataError, match="400 images but 3 labels"):
        D.split_validation(x, y[:3], 0.1, 0)


def test_load_dataset_by_name(tmp_path, monkeypatch):
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    assert D.load_dataset().name == "digits"
    write_mnist(tmp_path / "root" / "mnist")
    write_mnist(tmp_path / "root" / "fashion-mnist", seed=4)
    write_cifar_npz(tmp_path / "root" / "cifar10")
    write_svhn(tmp_path / "root" / "svhn")
    root = tmp_path / "root"
    assert D.load_dataset("mnist", root).name == "mnist"
    assert D.load_dataset("Fashion_MNIST", str(root)).classes[1] == "Trouser"
    assert D.load_dataset("cifar-10", root).x_test.shape == (6, 32, 32, 3)
    assert D.load_dataset("svhn", root).x_train.shape == (5, 32, 32, 3)
    # a root that directly holds the set's files
    assert D.load_dataset("mnist", root / "mnist").name == "mnist"
    # the environment variable is the default root
    monkeypatch.setenv(D.ENV_VAR, str(root))
    assert len(D.load_dataset("mnist").x_train) == 7
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path / "elsewhere"))
    one_line_error(D.load_dataset, "mnist", match=[os.path.join("elsewhere", "mnist"), "not found",
                                                   "set BNNFPGA_DATA", "nothing is downloaded"])
    monkeypatch.delenv(D.ENV_VAR)
    monkeypatch.chdir(tmp_path)
    one_line_error(D.load_dataset, "cifar10", match=os.path.join("data", "cifar10") + ": expected the cifar10 files")
    one_line_error(D.load_dataset, "imagenet", match="unknown data set 'imagenet'; expected one of digits, mnist")


def test_dataset_checks_its_arrays():
    x = np.zeros((2, 4, 4), np.uint8)
    y = np.array([0, 1], np.int64)
    D.Dataset(x, y, x, y, ["a", "b"], "t")
    with pytest.raises(DataError, match="x_train must be uint8"):
        D.Dataset(x.astype(np.float32), y, x, y, ["a", "b"], "t")
    with pytest.raises(DataError, match="y_test must be int64 labels of shape"):
        D.Dataset(x, y, x, y.astype(np.int32), ["a", "b"], "t")
    with pytest.raises(DataError, match="y_train holds label 1 outside 0..0"):
        D.Dataset(x, y, x, y, ["a"], "t")
    with pytest.raises(DataError, match="differ in shape"):
        D.Dataset(x, y, np.zeros((2, 5, 5), np.uint8), y, ["a", "b"], "t")


def test_cli_shows_data_errors_as_one_line(tmp_path, capsys):
    from bnnfpga.cli import user_errors

    assert DataError in user_errors()


# ----------------------------------------------------------------- the real files, when present


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="shared data folder absent")
def test_real_mnist_fashion_and_cifar10():
    ds = D.load_dataset("mnist", SHARED)
    assert (len(ds.x_train), len(ds.x_test)) == (60000, 10000)
    assert ds.x_train.shape[1:] == (28, 28) and set(np.unique(ds.y_test)) == set(range(10))
    assert list(ds.y_train[:8]) == [5, 0, 4, 1, 9, 2, 1, 3]  # the well-known first MNIST labels
    fm = D.load_dataset("fashion-mnist", SHARED)
    assert (len(fm.x_train), len(fm.x_test)) == (60000, 10000)
    c = D.load_cifar10(SHARED / "cifar10")
    assert c.x_test.shape == (10000, 32, 32, 3) and np.bincount(c.y_test).tolist() == [1000] * 10
    assert list(c.y_test[:10]) == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    exact = D.load_cifar10(SHARED / "cifar10", lossless=True)
    assert (len(exact.x_train), len(exact.x_test)) == (2000, 1000)
    assert list(exact.y_train[:10]) == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
