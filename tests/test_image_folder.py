"""The folder-of-class-folders image loader (PIL): sizes, modes, splits, order, one-line errors, `train`."""
import numpy as np
import pytest
from PIL import Image

from bnnfpga.cli import main
from bnnfpga.data import DataError, load_image_file, load_image_folder


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _make(root, classes=("cat", "dog", "emu"), per=5, size=(20, 30), seed=0):
    rng = np.random.default_rng(seed)
    for ci, c in enumerate(classes):
        for i in range(per):
            a = rng.integers(0, 256, size=size + (3,), dtype=np.uint8)
            a[..., 0] = 40 * ci  # the red plane encodes the class
            _png(root / c / f"img{i:02d}.png", a)
    return root


def test_center_crop_and_resize(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, 10:30] = 200  # a centered 20x20 block inside a 20x40 image
    _png(tmp_path / "a.png", a)
    x = load_image_file(tmp_path / "a.png", (20, 20))
    assert x.shape == (20, 20, 3) and x.dtype == np.uint8
    assert (x == 200).all()  # no resize needed, the crop takes exactly the center
    y = load_image_file(tmp_path / "a.png", (10, 10))  # shorter side 20 -> 10, then crop the center
    assert y.shape == (10, 10, 3) and (y[:, 2:8] == 200).all()
    g = load_image_file(tmp_path / "a.png", (8, 12), grayscale=True, resize=16)
    assert g.shape == (8, 12) and g.dtype == np.uint8
    big = load_image_file(tmp_path / "a.png", (64, 64))  # upscales to cover the crop
    assert big.shape == (64, 64, 3)


def test_single_folder_split_is_stratified_and_deterministic(tmp_path):
    root = _make(tmp_path / "set")
    (root / "notes.txt").write_text("ignored: not a class folder")
    (root / "dog" / "readme.md").write_text("ignored: not an image")
    ds = load_image_folder(root, size=16, test_fraction=0.2)
    assert ds.classes == ["cat", "dog", "emu"]  # sorted folder names
    assert ds.x_train.shape == (12, 16, 16, 3) and ds.x_test.shape == (3, 16, 16, 3)
    assert sorted(ds.y_test.tolist()) == [0, 1, 2]
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        np.testing.assert_array_equal(x[:, 8, 8, 0] // 40, y)  # labels match the images
    ds2 = load_image_folder(root, size=16, test_fraction=0.2)
    np.testing.assert_array_equal(ds.x_train, ds2.x_train)
    np.testing.assert_array_equal(ds.y_train, ds2.y_train)
    gray = load_image_folder(root, size=(12, 10), grayscale=True, max_per_class=2, test_fraction=0.5)
    assert gray.x_train.shape == (3, 12, 10) and gray.image_shape == (12, 10, 1)


def test_train_val_layout(tmp_path):
    root = tmp_path / "inet"
    _make(root / "train", per=4)
    _make(root / "val", classes=("cat", "emu"), per=2, seed=1)  # a class may be missing from val
    ds = load_image_folder(root, size=8)
    assert ds.classes == ["cat", "dog", "emu"]
    assert len(ds.x_train) == 12 and len(ds.x_test) == 4
    assert ds.y_test.tolist() == [0, 0, 2, 2]


@pytest.mark.parametrize("make,match", [
    (lambda r: r.mkdir(), "no sub-folders"),
    (lambda r: (r / "a").mkdir(parents=True), "a: class folder holds no images"),
    (lambda r: (r / "a").mkdir(parents=True) or (r / "a" / "x.png").write_bytes(b"not a png"), "x.png: not a readable image"),
    (lambda r: None, "not found"),
])
def test_malformed_folders_raise_one_line(tmp_path, make, match):
    root = tmp_path / "bad"
    make(root)
    with pytest.raises(DataError, match=match) as e:
        load_image_folder(root)
    assert "\n" not in str(e.value)


def test_val_class_unknown_to_train(tmp_path):
    _make(tmp_path / "s" / "train", classes=("a", "b"), per=2)
    _make(tmp_path / "s" / "val", classes=("a", "z"), per=1)
    with pytest.raises(DataError, match="'z' is not among the training classes"):
        load_image_folder(tmp_path / "s")


def test_cli_trains_on_an_image_folder(tmp_path, capsys):
    root = _make(tmp_path / "set", per=10, size=(12, 12))
    out = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{root}", "--image-size", "8", "--hidden", "16", "--epochs", "2",
                 "-o", str(out), "--export", str(tmp_path / "m.bnn")]) == 0
    text = capsys.readouterr().out
    assert "training mlp on set: 24 training images, 6 test images" in text
    assert main(["info", str(tmp_path / "m.bnn")]) == 0
    assert "input 8x8x3" in capsys.readouterr().out
    assert main(["train", "--dataset", "imagefolder", "--data-root", str(root), "--grayscale", "--image-size", "6",
                 "--hidden", "16", "--epochs", "1", "-o", str(out)]) == 0
    assert main(["train", "--dataset", "imagefolder", "--epochs", "1", "-o", str(out)]) == 2
    assert "expected --data-root" in capsys.readouterr().err
    assert main(["train", "--dataset", f"folder:{tmp_path / 'nope'}", "-o", str(out)]) == 2
