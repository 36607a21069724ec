"""Data loaders: MNIST split properties, image folders, both CIFAR-10 formats, and the error paths (unsafe pickles)."""
from __future__ import annotations

import io
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from equigen_core.data import DataError, ImageSet, load_cifar10, load_image_file, load_image_folder, load_mnist
from equigen_core.data.cifar import RestrictedUnpickler

# ----------------------------------------------------------------------------------------------------------------------
# MNIST


@pytest.fixture(scope="module")
def mnist_all() -> ImageSet:
    return load_mnist()


def test_mnist_all_has_500_per_class(mnist_all):
    assert mnist_all.images.shape == (5000, 1, 28, 28) and mnist_all.images.dtype == torch.float32
    assert torch.bincount(mnist_all.labels, minlength=10).tolist() == [500] * 10
    assert float(mnist_all.images.min()) >= 0.0 and float(mnist_all.images.max()) <= 1.0
    assert float(mnist_all.images.max()) > 0.99  # scaled from 0..255, not left at 0..1/255
    assert mnist_all.class_names == [str(d) for d in range(10)]


def test_mnist_split_is_disjoint_stride_and_covers_every_class(mnist_all):
    train, test = load_mnist(split="train"), load_mnist(split="test")
    assert len(train) + len(test) == 5000 and len(test) == 1000
    assert torch.bincount(test.labels, minlength=10).tolist() == [100] * 10
    assert torch.bincount(train.labels, minlength=10).tolist() == [400] * 10
    idx = torch.arange(5000)
    assert torch.equal(test.images, mnist_all.images[idx % 5 == 0])  # exactly the stride, in order
    assert torch.equal(train.images, mnist_all.images[idx % 5 != 0])


def test_mnist_classes_filter_keeps_digit_labels():
    s = load_mnist(split="train", classes=[3, 7])
    assert set(s.labels.tolist()) == {3, 7} and len(s) == 800
    assert torch.equal(s.images[s.labels == 3], load_mnist(split="train", classes=[3]).images)


@pytest.mark.parametrize("kwargs", [dict(split="val"), dict(classes=[10]), dict(classes=[]), dict(test_every=1)])
def test_mnist_bad_arguments(kwargs):
    with pytest.raises(DataError):
        load_mnist(**kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# Image folders


def _save(path, mode, size, color, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, format=fmt)


def test_image_folder_with_class_subfolders(tmp_path):
    _save(tmp_path / "dog" / "b.PNG", "L", (40, 30), 255)  # upper-case extension, grey, non-square
    _save(tmp_path / "dog" / "a.jpg", "RGB", (10, 10), (255, 0, 0))
    _save(tmp_path / "cat" / "z.jpeg", "RGB", (64, 64), (0, 0, 255))
    _save(tmp_path / "cat" / "y.png", "RGBA", (8, 8), (0, 255, 0, 0))  # fully transparent → black
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    s = load_image_folder(tmp_path, size=16, channels=3)
    assert s.class_names == ["cat", "dog"]
    assert s.labels.tolist() == [0, 0, 1, 1]
    assert s.images.shape == (4, 3, 16, 16) and s.images.dtype == torch.float32
    y_png, z_jpg, a_jpg, b_png = s.images  # sorted by class, then by file name
    assert torch.allclose(y_png, torch.zeros(3, 16, 16))
    assert z_jpg[2].mean() > 0.9 and z_jpg[0].mean() < 0.1  # blue
    assert a_jpg[0].mean() > 0.9 and a_jpg[1].mean() < 0.1  # red
    assert torch.allclose(b_png, torch.ones(3, 16, 16))  # grey 255 → white RGB


def test_image_folder_flat_grey(tmp_path):
    _save(tmp_path / "1.png", "RGB", (5, 7), (255, 255, 255))
    _save(tmp_path / "2.png", "P", (28, 28), 0)
    _save(tmp_path / "3.jpg", "L", (100, 50), 128)
    s = load_image_folder(tmp_path, size=28, channels=1)
    assert s.images.shape == (3, 1, 28, 28) and s.labels.tolist() == [0, 0, 0] and len(s.class_names) == 1
    assert torch.allclose(s.images[0], torch.ones(1, 28, 28))
    assert abs(float(s.images[2].mean()) - 128 / 255) < 0.02


def test_image_file_single_upload(tmp_path):
    _save(tmp_path / "up.png", "L", (56, 56), 255)
    t = load_image_file(tmp_path / "up.png", size=28, channels=1)
    assert t.shape == (1, 28, 28) and torch.allclose(t, torch.ones_like(t))


def test_fake_png_is_named_in_the_error(tmp_path):
    _save(tmp_path / "good.png", "L", (8, 8), 0)
    (tmp_path / "broken.png").write_bytes(b"this is not a png at all")
    with pytest.raises(DataError, match="broken.png"):
        load_image_folder(tmp_path)
    with pytest.raises(DataError, match="broken.png"):
        load_image_file(tmp_path / "broken.png", size=28, channels=1)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(DataError, match="no .png"):
        load_image_folder(tmp_path)
    for i in range(3):
        _save(tmp_path / f"{i}.png", "L", (8, 8), 0)
    with pytest.raises(DataError, match="max_files"):
        load_image_folder(tmp_path, max_files=2)
    with pytest.raises(DataError, match="0.png"):
        load_image_folder(tmp_path, max_bytes=10)
    with pytest.raises(DataError, match="channels"):
        load_image_folder(tmp_path, channels=2)


# ----------------------------------------------------------------------------------------------------------------------
# CIFAR-10: tiny copies of both official formats with known pixels


def _known_batch(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """(n, 3072) uint8 rows in the channel-major layout, with pixel (c, y, x) = (seed + 7c + 3y + x + 11i) % 256."""
    c, y, x = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    rows = [((seed + 7 * c + 3 * y + x + 11 * i) % 256).astype(np.uint8).reshape(-1) for i in range(n)]
    return np.stack(rows), [(seed + i) % 10 for i in range(n)]


BATCHES = {"data_batch_1": _known_batch(5, 0), "data_batch_2": _known_batch(5, 100), "test_batch": _known_batch(4, 50)}
NAMES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _write_bin(root):
    d = root / "cifar-10-batches-bin"
    d.mkdir(parents=True)
    for name, (data, labels) in BATCHES.items():
        recs = np.concatenate([np.array(labels, np.uint8)[:, None], data], axis=1)  # (n, 3073)
        (d / f"{name}.bin").write_bytes(recs.tobytes())
    (d / "batches.meta.txt").write_text("\n".join(NAMES) + "\n\n")
    return d


def _write_py(root, *, str_keys=False):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    for name, (data, labels) in BATCHES.items():
        with open(d / name, "wb") as f:
            pickle.dump({key("batch_label"): key(name), key("labels"): labels, key("data"): data}, f)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({key("label_names"): [key(n) for n in NAMES], key("num_vis"): 3072}, f)
    return d


def check_cifar(s: ImageSet, split: str):
    names = ["data_batch_1", "data_batch_2"] if split == "train" else ["test_batch"]
    data = np.concatenate([BATCHES[n][0] for n in names])
    labels = sum((BATCHES[n][1] for n in names), [])
    assert s.images.shape == (len(labels), 3, 32, 32) and s.labels.tolist() == labels and s.class_names == NAMES
    assert torch.equal(s.images, torch.from_numpy(data.astype(np.float32) / 255).reshape(-1, 3, 32, 32))
    seed = 0 if split == "train" else 50
    for c, y, x in [(0, 0, 0), (1, 5, 9), (2, 31, 30), (0, 17, 3)]:  # pixel (c, y, x) of image 1
        assert s.images[1, c, y, x].item() == pytest.approx(((seed + 7 * c + 3 * y + x + 11) % 256) / 255)


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar_binary_and_python_formats_agree(tmp_path, split):
    bin_dir, py_dir = _write_bin(tmp_path / "b"), _write_py(tmp_path / "p")
    str_dir = _write_py(tmp_path / "s", str_keys=True)
    a = load_cifar10(tmp_path / "b", split=split)  # parent of the batches dir
    b = load_cifar10(py_dir, split=split)  # the batches dir itself
    c = load_cifar10(str_dir, split=split)
    for s in (a, b, c):
        check_cifar(s, split)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, c.labels)
    assert load_cifar10(bin_dir, split=split, limit=3).images.shape[0] == 3
    if split == "train":  # limit reaches into the second batch
        assert torch.equal(load_cifar10(bin_dir, limit=7).images, a.images[:7])


class _Py2BytesPickler(pickle._Pickler):
    """Writes bytes as Python-2 str opcodes (BINSTRING), as the original CIFAR-10 pickles were written."""

    def save_bytes(self, obj):
        self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj if len(obj) < 256
                   else pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def test_cifar_python2_style_pickle_with_numpy_core_names(tmp_path):
    data, labels = BATCHES["test_batch"]
    buf = io.BytesIO()
    _Py2BytesPickler(buf, protocol=2).dump({b"data": data, b"labels": labels})
    raw = buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")  # numpy 1.x / py2 name
    assert b"numpy.core.multiarray\n_reconstruct" in raw and b"_codecs" not in raw
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "test_batch").write_bytes(raw)
    s = load_cifar10(tmp_path, split="test")
    assert s.labels.tolist() == labels and s.class_names[0] == "airplane"  # no meta → standard names
    assert torch.equal(s.images, torch.from_numpy(data.astype(np.float32) / 255).reshape(-1, 3, 32, 32))


class _Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return self.fn, (self.arg,)


@pytest.mark.parametrize("fn", [os.system, eval])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, fn):
    marker = tmp_path / "hacked"
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    payload = f"touch {marker}" if fn is os.system else f"open({str(marker)!r}, 'w').close()"
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(fn, payload), b"labels": [0]}, f)
    forbidden = "system" if fn is os.system else "builtins.eval"
    with pytest.raises(DataError, match=rf"test_batch.*{forbidden}"):
        load_cifar10(d, split="test")
    assert not marker.exists()


def test_restricted_unpickler_allows_only_numpy_arrays():
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for protocol in (3, 4, 5):  # (Python 3 writes bytes at protocol 2 through _codecs.encode, which is refused)
        out = RestrictedUnpickler(io.BytesIO(pickle.dumps({"a": arr}, protocol=protocol))).load()
        assert np.array_equal(out["a"], arr)
    with pytest.raises(DataError, match="collections.OrderedDict"):
        from collections import OrderedDict
        RestrictedUnpickler(io.BytesIO(pickle.dumps(OrderedDict(a=1)))).load()


def test_cifar_truncated_or_missing_files(tmp_path):
    d = _write_bin(tmp_path)
    raw = (d / "data_batch_2.bin").read_bytes()
    (d / "data_batch_2.bin").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="data_batch_2.bin"):
        load_cifar10(tmp_path)
    (d / "data_batch_2.bin").unlink()
    (d / "data_batch_3.bin").write_bytes(raw)  # gap: batch 2 missing
    with pytest.raises(DataError, match="data_batch_2.bin.*missing"):
        load_cifar10(tmp_path)
    p = _write_py(tmp_path / "py")
    (p / "test_batch").write_bytes((p / "test_batch").read_bytes()[:100])
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10(p, split="test")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no CIFAR-10 batches"):
        load_cifar10(tmp_path / "empty")


def test_cifar_bad_labels_and_shapes(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, f)
    with pytest.raises(DataError, match="0..9"):
        load_cifar10(d, split="test")
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match="3072"):
        load_cifar10(d, split="test")
