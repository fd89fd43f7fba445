"""Image-classification data sets from local files (nothing is downloaded).

Every loader returns a :class:`Dataset` of raw uint8 images, ``(N, H, W)`` for
grey-scale sets and ``(N, H, W, C)`` channels-last for colour ones, and int64
labels.  Problems with the files raise :class:`DataError` with one line that
says what was expected where.

Formats:

* MNIST / Fashion-MNIST: the four IDX files (``.gz`` or uncompressed).
* CIFAR-10: the official "python version" batches (``data_batch_1`` ..
  ``data_batch_5``, ``test_batch``, ``batches.meta``), or npz files
  (``cifar10_test.npz`` with ``x``/``y``, optional
  ``cifar10_train_part1..5.npz``, ``cifar10_lossless_subset.npz``).
  The official batches are pickles.  They are read with a restricted
  unpickler that resolves exactly numpy's array-reconstruction callables
  (``numpy[._]core.multiarray._reconstruct``, ``numpy[._]core.numeric._frombuffer``,
  ``numpy.ndarray``, ``numpy.dtype``) and refuses every other global, so a
  batch file cannot run code.  npz files are read with ``allow_pickle=False``.
* SVHN: ``train_32x32.mat`` / ``test_32x32.mat`` (MATLAB v5, via scipy).
* digits: scikit-learn's bundled 8x8 digits (no files needed).

``load_dataset(name, root)`` finds a set under ``root`` (or ``$BNNFPGA_DATA``,
or ``./data``) in the subfolder ``mnist/``, ``fashion-mnist/``, ``cifar10/``
or ``svhn/``.
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, os.PathLike]

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SVHN_CLASSES = [str(i) for i in range(10)]
DIGITS_CLASSES = [str(i) for i in range(10)]

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "svhn")
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10", "sklearn-digits": "digits"}
_SUBFOLDER = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "cifar10": "cifar10", "svhn": "svhn"}
ENV_VAR = "BNNFPGA_DATA"


class DataError(ValueError):
    """Missing or malformed data files; one line saying what was expected where."""


@dataclass
class Dataset:
    """Raw uint8 images (N,H,W) or (N,H,W,C) and int64 labels, split into train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: List[str]
    name: str
    source: str = ""  # where the arrays came from (files, caveats such as lossy pixels)

    def __post_init__(self):
        where = self.name or "dataset"
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim not in (3, 4):
                raise DataError(f"{where}: x_{part} must be uint8 images (N,H,W) or (N,H,W,C), got "
                                f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.shape != (len(x),):
                raise DataError(f"{where}: y_{part} must be int64 labels of shape ({len(x)},), got "
                                f"{getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}")
            bad = y[(y < 0) | (y >= len(self.classes))]
            if bad.size:
                raise DataError(f"{where}: y_{part} holds label {int(bad[0])} outside 0..{len(self.classes) - 1}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"{where}: train images {self.x_train.shape[1:]} and test images "
                            f"{self.x_test.shape[1:]} differ in shape")

    @property
    def image_shape(self) -> Tuple[int, int, int]:
        """(H, W, C) of one image (C = 1 for grey-scale)."""
        s = self.x_train.shape[1:]
        return (s[0], s[1], s[2] if len(s) == 3 else 1)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}: train {self.x_train.shape}, test {self.x_test.shape}, "
                f"{len(self.classes)} classes)")


# --------------------------------------------------------------------- helpers


def _labels(y, where: str, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        if y.ndim == 1 and np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            pass  # MATLAB stores integer labels as doubles
        else:
            raise DataError(f"{where}: expected a 1-d array of integer labels, got {y.dtype} {y.shape}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = int(y[(y < 0) | (y >= n_classes)][0])
        raise DataError(f"{where}: label {bad} outside 0..{n_classes - 1}")
    return y


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: expected {what}: not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: expected {what}: is a folder") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read {what}: {e.strerror or e}") from None


def _folder(folder: PathLike, what: str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: expected a folder with {what}: "
                        + ("not a folder" if folder.exists() else "not found"))
    return folder


# --------------------------------------------------------------------- IDX

# IDX type codes (third magic byte) -> big-endian numpy dtype
_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (optionally gzip-compressed) into a native-endian array."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{source}: corrupt or truncated gzip data ({e})") from None
    if len(data) < 4:
        raise DataError(f"{source}: not an IDX file: {len(data)} bytes, shorter than the 4-byte magic number")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\0\0" or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{source}: not an IDX file (magic bytes {data[:4].hex()}, expected 0000 then a type "
                        f"code in {{08,09,0b,0c,0d,0e}} and a dimension count)")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{source}: truncated IDX header: {ndim} dimensions need {head} bytes, file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:head])
    dt = _IDX_DTYPES[code]
    want = int(np.prod(dims, dtype=object)) * dt.itemsize
    have = len(data) - head
    if have != want:
        kind = "truncated" if have < want else "has trailing bytes"
        raise DataError(f"{source}: IDX file {kind}: dimensions {dims} of {dt.name} need {want} data bytes, "
                        f"found {have}")
    return np.frombuffer(data, dtype=dt, offset=head).reshape(dims).astype(dt.newbyteorder("="))


def load_idx(path: PathLike) -> np.ndarray:
    """One IDX file (raw or .gz, detected from its content) -> numpy array."""
    path = Path(path)
    return parse_idx(_read(path, "an IDX file"), str(path))


_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _find_idx(folder: Path, stem: str, fmt: str) -> Path:
    dotted = stem.replace("-idx", ".idx")  # some mirrors write train-images.idx3-ubyte
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        p = folder / name
        if p.is_file():
            return p
    raise DataError(f"{folder}: expected {stem}(.gz) ({fmt} IDX format): not found")


def _load_idx_set(folder: PathLike, name: str, fmt: str, classes: List[str]) -> Dataset:
    folder = _folder(folder, f"the four {fmt} IDX files ({', '.join(v + '(.gz)' for v in _MNIST_FILES.values())})")
    arrays = {}
    paths = {}
    for key, stem in _MNIST_FILES.items():
        p = paths[key] = _find_idx(folder, stem, fmt)
        a = load_idx(p)
        if key.startswith("x"):
            if a.dtype != np.uint8 or a.ndim != 3:
                raise DataError(f"{p}: expected uint8 images (N, H, W) (IDX type 08, 3 dimensions), got "
                                f"{a.dtype} {a.shape}")
        else:
            if a.ndim != 1 or a.dtype != np.uint8:
                raise DataError(f"{p}: expected uint8 labels (N,) (IDX type 08, 1 dimension), got {a.dtype} {a.shape}")
            a = _labels(a, str(p), len(classes))
        arrays[key] = a
    for part in ("train", "test"):
        nx, ny = len(arrays[f"x_{part}"]), len(arrays[f"y_{part}"])
        if nx != ny:
            raise DataError(f"{paths[f'y_{part}']}: {ny} labels for {nx} images in {paths[f'x_{part}'].name}")
    return Dataset(**arrays, classes=list(classes), name=name, source=f"{fmt} IDX files in {folder}")


def load_mnist(folder: PathLike) -> Dataset:
    return _load_idx_set(folder, "mnist", "MNIST", MNIST_CLASSES)


def load_fashion_mnist(folder: PathLike) -> Dataset:
    return _load_idx_set(folder, "fashion-mnist", "Fashion-MNIST", FASHION_MNIST_CLASSES)


# --------------------------------------------------------------------- CIFAR-10


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global that is not on the allow-list."""


def _latin1_encode(text, encoding="latin1", errors="strict"):
    """The one use of ``_codecs.encode`` pickle makes: bytes from latin-1 text (no other codec)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise RefusedGlobal(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _numpy_reconstructors() -> Dict[Tuple[str, str], object]:
    try:
        from numpy._core import multiarray as ma
        from numpy._core import numeric as nm
    except ImportError:  # numpy < 2
        from numpy.core import multiarray as ma
        from numpy.core import numeric as nm
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               # protocols 0-2 written by Python 3 store bytes objects as _codecs.encode(text, "latin1")
               ("_codecs", "encode"): _latin1_encode}
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = ma._reconstruct
        if hasattr(nm, "_frombuffer"):
            allowed[(f"{mod}.numeric", "_frombuffer")] = nm._frombuffer
    return allowed


class SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers, scalars and numpy arrays only: every other global is refused.

    Resolution never imports anything: the allowed names map to objects that
    are already loaded, so a file naming ``os.system`` (or anything else) fails
    with :class:`pickle.UnpicklingError`.
    """

    _allowed = None

    def find_class(self, module, name):
        if SafeUnpickler._allowed is None:
            SafeUnpickler._allowed = _numpy_reconstructors()
        try:
            return SafeUnpickler._allowed[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"refused to load global '{module}.{name}' (only numpy arrays are "
                                         "allowed)") from None


def safe_unpickle(data: bytes, source: str = "<bytes>"):
    """Unpickle ``data`` allowing only builtin containers/scalars and numpy arrays."""
    try:
        # latin1: Python 2 pickles (the original CIFAR-10 release) store str; numpy documents this choice
        return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except RefusedGlobal as e:
        raise DataError(f"{source}: unsafe pickle: {e}") from None
    except Exception as e:  # any other failure is malformed data
        raise DataError(f"{source}: not a readable pickle ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def _cifar_batch(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    obj = safe_unpickle(_read(path, "a CIFAR-10 python batch"), str(path))
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a CIFAR-10 python batch (a dict with 'data' and 'labels'), "
                        f"got {type(obj).__name__}")
    obj = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    for k in ("data", "labels"):
        if k not in obj:
            raise DataError(f"{path}: expected a CIFAR-10 python batch: key '{k}' missing")
    x = obj["data"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DataError(f"{path}: 'data' must be uint8 (N, 3072) (3x32x32, channel planes), got "
                        f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
    y = obj["labels"]
    if isinstance(y, list) and not all(type(v) is int for v in y):
        raise DataError(f"{path}: 'labels' must hold integers")
    y = _labels(np.asarray(y), f"{path} 'labels'", 10)
    if len(y) != len(x):
        raise DataError(f"{path}: {len(y)} labels for {len(x)} images")
    return np.ascontiguousarray(x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), y


def _npz(path: Path) -> Dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{path}: expected an npz file: not found") from None
    except ValueError as e:  # object arrays (pickles) or malformed members
        raise DataError(f"{path}: unreadable npz ({str(e).splitlines()[0]})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, zlib.error) as e:
        raise DataError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None


def _npz_pair(path: Path, xkey: str, ykey: str) -> Tuple[np.ndarray, np.ndarray]:
    z = _npz(path)
    for k in (xkey, ykey):
        if k not in z:
            raise DataError(f"{path}: expected arrays '{xkey}' and '{ykey}', found {sorted(z)}")
    x = z[xkey]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise DataError(f"{path}: '{xkey}' must be uint8 (N, 32, 32, 3), got {x.dtype} {x.shape}")
    y = _labels(z[ykey], f"{path} '{ykey}'", 10)
    if len(y) != len(x):
        raise DataError(f"{path}: {len(y)} labels in '{ykey}' for {len(x)} images in '{xkey}'")
    return x, y


def load_cifar10(folder: PathLike, lossless: bool = False) -> Dataset:
    """CIFAR-10 from the official python batches or the npz layout.

    Python batches (in ``folder`` or ``folder/cifar-10-batches-py``) take
    precedence.  In the npz layout, training images are
    ``cifar10_train_part1..5.npz`` when all five exist, else the 2000 exact
    images of ``cifar10_lossless_subset.npz``; test images are
    ``cifar10_test.npz``.  ``lossless=True`` uses only the lossless subset
    (2000 train, 1000 test, original pixels).
    """
    folder = _folder(folder, "CIFAR-10 (python batches data_batch_1..5 + test_batch, or cifar10_test.npz)")
    for d in (folder, folder / "cifar-10-batches-py"):
        if (d / "test_batch").is_file() or (d / "data_batch_1").is_file():
            return _cifar_python(d)
    subset = folder / "cifar10_lossless_subset.npz"
    test = folder / "cifar10_test.npz"
    parts = [folder / f"cifar10_train_part{i}.npz" for i in range(1, 6)]
    if lossless:
        if not subset.is_file():
            raise DataError(f"{folder}: expected cifar10_lossless_subset.npz (x_train_first2000, ...): not found")
        xtr, ytr = _npz_pair(subset, "x_train_first2000", "y_train_first2000")
        xte, yte = _npz_pair(subset, "x_test_first1000", "y_test_first1000")
        return Dataset(xtr, ytr, xte, yte, list(CIFAR10_CLASSES), "cifar10",
                       source=f"{subset}: exact pixels, train images 0-1999 and test images 0-999")
    if not test.is_file():
        raise DataError(f"{folder}: expected CIFAR-10 python batches (data_batch_1..5, test_batch) or "
                        "cifar10_test.npz (x uint8 (N,32,32,3), y): not found")
    xte, yte = _npz_pair(test, "x", "y")
    notes = [f"test: {test.name}"]
    if all(p.is_file() for p in parts):
        pairs = [_npz_pair(p, "x", "y") for p in parts]
        xtr, ytr = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
        notes.append("train: cifar10_train_part1..5.npz")
    elif subset.is_file():
        xtr, ytr = _npz_pair(subset, "x_train_first2000", "y_train_first2000")
        notes.append("train: only the 2000 images of cifar10_lossless_subset.npz (no cifar10_train_part1..5.npz)")
    else:
        missing = next(p.name for p in parts if not p.is_file())
        raise DataError(f"{folder}: expected training images: {missing} (or cifar10_lossless_subset.npz): not found")
    return Dataset(xtr, ytr, xte, yte, list(CIFAR10_CLASSES), "cifar10", source=f"{folder}: " + "; ".join(notes))


def _cifar_python(folder: Path) -> Dataset:
    batches = [folder / f"data_batch_{i}" for i in range(1, 6)] + [folder / "test_batch"]
    for p in batches:
        if not p.is_file():
            raise DataError(f"{folder}: expected {p.name} (CIFAR-10 python batch): not found")
    loaded = [_cifar_batch(p) for p in batches]
    xtr = np.concatenate([b[0] for b in loaded[:5]])
    ytr = np.concatenate([b[1] for b in loaded[:5]])
    classes = list(CIFAR10_CLASSES)
    meta = folder / "batches.meta"
    if meta.is_file():
        m = safe_unpickle(_read(meta, "CIFAR-10 batches.meta"), str(meta))
        names = m.get("label_names", m.get(b"label_names")) if isinstance(m, dict) else None
        if (not isinstance(names, list) or len(names) != 10
                or not all(isinstance(n, (str, bytes)) for n in names)):
            raise DataError(f"{meta}: expected a dict with 'label_names', a list of 10 strings")
        classes = [n.decode("latin1") if isinstance(n, bytes) else n for n in names]
    return Dataset(xtr, ytr, loaded[5][0], loaded[5][1], classes, "cifar10",
                   source=f"CIFAR-10 python batches in {folder}")


# --------------------------------------------------------------------- SVHN


def _svhn_mat(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    try:
        import scipy.io
    except ImportError:
        raise DataError(f"{path}: reading SVHN .mat files needs scipy (pip install 'bnnfpga[train]')") from None
    if not path.is_file():
        raise DataError(f"{path.parent}: expected {path.name} (SVHN cropped digits, MATLAB format): not found")
    try:
        m = scipy.io.loadmat(str(path))
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; expected the original v5 .mat") from None
    except Exception as e:
        raise DataError(f"{path}: not a readable MATLAB file ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''})") from None
    for k in ("X", "y"):
        if k not in m:
            raise DataError(f"{path}: expected variables 'X' and 'y', found {sorted(k for k in m if not k.startswith('__'))}")
    x, y = m["X"], m["y"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: 'X' must be uint8 (32, 32, 3, N), got {x.dtype} {x.shape}")
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    y = _labels(y, f"{path} 'y'", 11)
    if y.size and y.min() < 1:
        raise DataError(f"{path}: 'y' holds label {int(y.min())}, expected 1..10 (10 means digit 0)")
    y = np.where(y == 10, 0, y).astype(np.int64)
    if len(y) != x.shape[3]:
        raise DataError(f"{path}: {len(y)} labels for {x.shape[3]} images")
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), y


def load_svhn(folder: PathLike) -> Dataset:
    """SVHN cropped digits: train_32x32.mat / test_32x32.mat (label 10 becomes 0)."""
    folder = _folder(folder, "SVHN train_32x32.mat and test_32x32.mat")
    xtr, ytr = _svhn_mat(folder / "train_32x32.mat")
    xte, yte = _svhn_mat(folder / "test_32x32.mat")
    return Dataset(xtr, ytr, xte, yte, list(SVHN_CLASSES), "svhn", source=f"SVHN .mat files in {folder}")


# --------------------------------------------------------------------- digits and splits


def stratified_indices(y: np.ndarray, fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: (keep, held-out) sorted index arrays.

    Each class c with n_c samples contributes round(n_c * fraction) held-out
    samples chosen by ``np.random.default_rng(seed)``.
    """
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"split fraction must be in [0, 1), got {fraction}")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(y):
        idx = np.nonzero(y == c)[0]
        k = int(round(len(idx) * fraction))
        held.append(rng.permutation(idx)[:k])
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    mask = np.ones(len(y), bool)
    mask[held] = False
    return np.nonzero(mask)[0], held


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float = 0.1, seed: int = 0):
    """-> (x_train, y_train, x_val, y_val): a stratified, deterministic hold-out of ``fraction``."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise DataError(f"split_validation: {len(x)} images but {len(y)} labels")
    keep, held = stratified_indices(y, fraction, seed)
    return x[keep], y[keep], x[held], y[held]


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (bundled, no download), pixels 0..16 -> uint8 round(v*255/16)."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise DataError("digits: the built-in digits set needs scikit-learn (pip install 'bnnfpga[train]')") from None
    d = sk_digits()
    x = np.rint(d.images.astype(np.float64) * 255.0 / 16.0).astype(np.uint8)
    y = d.target.astype(np.int64)
    keep, held = stratified_indices(y, test_fraction, seed)
    return Dataset(x[keep], y[keep], x[held], y[held], list(DIGITS_CLASSES), "digits",
                   source=f"scikit-learn digits, stratified {test_fraction:.0%} test split, seed {seed}")


# --------------------------------------------------------------------- by name


def canonical_name(name: str) -> str:
    n = str(name).strip().lower()
    n = _ALIASES.get(n, n)
    if n not in DATASETS:
        raise DataError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    return n


def data_root(root: Optional[PathLike] = None) -> Path:
    """The data root: ``root``, else $BNNFPGA_DATA, else ./data."""
    if root is not None and str(root) != "":
        return Path(root)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path("data")


def load_dataset(name: str = "digits", root: Optional[PathLike] = None) -> Dataset:
    """Load a data set by name from local files.

    ``root`` (else $BNNFPGA_DATA, else ./data) holds one subfolder per set:
    mnist/, fashion-mnist/, cifar10/, svhn/.  A ``root`` that directly holds
    the set's files is accepted too.  "digits" needs no files.
    """
    n = canonical_name(name)
    if n == "digits":
        return load_digits()
    base = data_root(root)
    folder = base / _SUBFOLDER[n]
    if not folder.is_dir() and base.is_dir() and _looks_like(n, base):
        folder = base
    if not folder.is_dir():
        if root is not None and str(root) != "":
            hint = "check the data root"
        elif os.environ.get(ENV_VAR):
            hint = f"the data root comes from {ENV_VAR}; pass another root or set {ENV_VAR}"
        else:
            hint = f"pass a data root or set {ENV_VAR}"
        raise DataError(f"{folder}: expected the {n} files in this folder: not found ({hint}; nothing is downloaded)")
    loader = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist, "cifar10": load_cifar10, "svhn": load_svhn}[n]
    return loader(folder)


def _looks_like(name: str, folder: Path) -> bool:
    marker = {"mnist": "t10k-labels-idx1-ubyte", "fashion-mnist": "t10k-labels-idx1-ubyte",
              "cifar10": "test_batch", "svhn": "test_32x32.mat"}[name]
    return any(folder.glob(marker + "*")) or (name == "cifar10" and (folder / "cifar10_test.npz").is_file())


# --------------------------------------------------------------------- folder of class folders

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp")
FOLDER_PREFIX = "folder:"


def is_folder_dataset(name: str) -> bool:
    """True for ``folder:/path`` and ``imagefolder`` (the folder comes from the data root)."""
    n = str(name).strip()
    return n.lower().startswith(FOLDER_PREFIX) or n.lower() in ("imagefolder", "image-folder", "folder")


def folder_dataset_path(name: str, root: Optional[PathLike] = None) -> Path:
    """The folder of ``folder:/path`` or, for ``imagefolder``, the data root itself."""
    n = str(name).strip()
    if n.lower().startswith(FOLDER_PREFIX):
        p = n[len(FOLDER_PREFIX):]
        if not p:
            raise DataError("folder: expected a path after 'folder:' (e.g. folder:/data/myset)")
        return Path(p)
    if root is None or str(root) == "":
        raise DataError(f"{n}: expected --data-root with the folder of class folders (or use folder:/path)")
    return Path(root)


def _image_files(class_dir: Path) -> List[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS):
                files.append(Path(dirpath) / f)
    return sorted(files, key=lambda p: p.relative_to(class_dir).as_posix())


def _class_folders(folder: Path) -> List[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _resize_crop(img, size: Tuple[int, int], resize: Optional[int]):
    """Resize so that the shorter side is ``resize`` (default: fits ``size``), then center-crop to size (H, W)."""
    from PIL import Image

    h, w = size
    iw, ih = img.size
    short = resize if resize else None
    if short is None:  # the smallest scale at which the crop fits inside the image
        scale = max(h / ih, w / iw)
    else:
        scale = short / min(iw, ih)
        if round(iw * scale) < w or round(ih * scale) < h:
            scale = max(h / ih, w / iw)
    nw, nh = max(w, int(round(iw * scale))), max(h, int(round(ih * scale)))
    if (nw, nh) != (iw, ih):
        img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - w) // 2, (nh - h) // 2
    return img.crop((left, top, left + w, top + h))


def load_image_file(path: PathLike, size: Tuple[int, int], grayscale: bool = False,
                    resize: Optional[int] = None) -> np.ndarray:
    """One image -> uint8 (H, W) grey-scale or (H, W, 3) RGB, resized and center-cropped to ``size``."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError("image folders need Pillow (pip install 'bnnfpga[train]')") from None
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            img = im.convert("L" if grayscale else "RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: not a readable image ({type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''})") from None
    return np.asarray(_resize_crop(img, size, resize), dtype=np.uint8)


def _read_class_tree(folder: Path, classes: Optional[List[str]], size, grayscale, resize, max_per_class):
    found = _class_folders(folder)
    if not found:
        raise DataError(f"{folder}: expected one sub-folder per class holding images: no sub-folders")
    names = [p.name for p in found]
    if classes is not None:
        extra = [n for n in names if n not in classes]
        if extra:
            raise DataError(f"{folder}: class folder '{extra[0]}' is not among the training classes")
    else:
        classes = names
    xs, ys = [], []
    for p in found:
        files = _image_files(p)
        if not files:
            raise DataError(f"{p}: class folder holds no images ({', '.join(IMAGE_EXTENSIONS[:4])}, ...)")
        if max_per_class:
            files = files[:max_per_class]
        label = classes.index(p.name)
        for f in files:
            xs.append(load_image_file(f, size, grayscale, resize))
            ys.append(label)
    return np.stack(xs), np.asarray(ys, dtype=np.int64), classes


def load_image_folder(folder: PathLike, size: Union[int, Tuple[int, int]] = 32, grayscale: bool = False,
                      resize: Optional[int] = None, test_fraction: float = 0.2, seed: int = 0,
                      max_per_class: Optional[int] = None, name: Optional[str] = None) -> Dataset:
    """A folder of class folders (ImageNet style) -> Dataset of uint8 images.

    Layouts: ``folder/<class>/*.png`` (any depth below the class folder),
    split into train/test by a stratified, seeded ``test_fraction``; or
    ``folder/train/<class>/...`` with ``folder/val/<class>/...`` (or
    ``test/``) used as the test split.  Classes are the sorted folder names
    (of ``train/`` in the second layout); files are read in sorted order.
    Every image is converted to RGB (or grey-scale), resized so that its
    shorter side is ``resize`` (default: just large enough for the crop) with
    bilinear filtering, and center-cropped to ``size`` (H, W).
    ``max_per_class`` keeps the first N files of each class.
    """
    folder = _folder(folder, "one sub-folder per class holding images")
    size = (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if min(size) < 1:
        raise DataError(f"{folder}: image size must be positive, got {size}")
    split = next((folder / s for s in ("val", "test") if (folder / s).is_dir()), None)
    if (folder / "train").is_dir() and split is not None:
        xtr, ytr, classes = _read_class_tree(folder / "train", None, size, grayscale, resize, max_per_class)
        xte, yte, _ = _read_class_tree(split, classes, size, grayscale, resize, max_per_class)
        source = f"image folders {folder / 'train'} and {split}"
    else:
        x, y, classes = _read_class_tree(folder, None, size, grayscale, resize, max_per_class)
        keep, held = stratified_indices(y, test_fraction, seed)
        xtr, ytr, xte, yte = x[keep], y[keep], x[held], y[held]
        source = f"image folder {folder}: stratified {test_fraction:.0%} test split, seed {seed}"
    mode = "grey-scale" if grayscale else "RGB"
    return Dataset(xtr, ytr, xte, yte, classes, name or folder.name,
                   source=f"{source}; {mode}, center-cropped to {size[0]}x{size[1]}")
