"""CIFAR-10 from a copy the user already has, in either official format (nothing is downloaded).

Binary format, `cifar-10-batches-bin/`: data_batch_1.bin .. data_batch_5.bin, test_batch.bin, batches.meta.txt.
    Each record is 1 label byte + 3072 pixel bytes: the R plane, then G, then B, each 32×32 row-major, so
    pixel (c, y, x) is byte 1 + c·1024 + y·32 + x of its record. batches.meta.txt holds the class names, one per line.
Python format, `cifar-10-batches-py/`: data_batch_1 .. data_batch_5, test_batch, batches.meta.
    Python-2 pickles of dicts: b'data' uint8 (10000, 3072) in the same channel-major layout, b'labels' list of int;
    the meta has b'label_names'. They are read with `RestrictedUnpickler`, which resolves only the few numpy globals an
    array needs and refuses every other global, so a tampered file cannot run code.

`root` may be the batches directory itself or its parent. When both formats are present the binary one is used.
Training batches must be data_batch_1 .. data_batch_n with no gap (n = 5 for the official set).
"""
from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from equigen_core.data.types import DataError, ImageSet

RECORD_PIXELS = 3 * 32 * 32  # 3072 bytes per image, channel-major
RECORD_BYTES = 1 + RECORD_PIXELS  # binary format: label byte first
NUM_TRAIN_BATCHES = 5
DEFAULT_CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# ----------------------------------------------------------------------------------------------------------------------
# Restricted unpickling


def _numpy_global(modules: tuple[str, ...], name: str):
    """The first of `modules` that imports and has `name` (numpy 2 renamed numpy.core → numpy._core)."""
    for mod in modules:
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise DataError(f"this numpy has none of {[f'{m}.{name}' for m in modules]}; cannot read CIFAR-10 pickles")


_MULTIARRAY = ("numpy._core.multiarray", "numpy.core.multiarray")
_NUMERIC = ("numpy._core.numeric", "numpy.core.numeric")
# (module, name) as written in the pickle → how to resolve it. Everything else is refused.
_ALLOWED: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("numpy.core.multiarray", "_reconstruct"): (_MULTIARRAY, "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): (_MULTIARRAY, "_reconstruct"),
    ("numpy", "ndarray"): (("numpy",), "ndarray"),
    ("numpy", "dtype"): (("numpy",), "dtype"),
    ("numpy.core.numeric", "_frombuffer"): (_NUMERIC, "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): (_NUMERIC, "_frombuffer"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that can rebuild plain numpy arrays, dicts, lists, bytes, str and numbers, and nothing else.

    `find_class` is the only door through which a pickle reaches Python objects (GLOBAL, STACK_GLOBAL, INST, EXT*);
    it resolves the whitelisted numpy globals itself and raises DataError for any other (e.g. os.system).
    """

    def __init__(self, file, *, source: str = "<pickle>", **kwargs):
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module: str, name: str):
        target = _ALLOWED.get((module, name))
        if target is None:
            raise DataError(f"{self.source}: refusing to unpickle the global {module}.{name}; a CIFAR-10 file only "
                            "contains numpy arrays, so this file is corrupt or malicious. Re-download the official "
                            "archive, or use the binary format (cifar-10-batches-bin), which involves no pickle")
        return _numpy_global(*target)

    def persistent_load(self, pid):
        raise DataError(f"{self.source}: refusing persistent id {pid!r}; CIFAR-10 pickles contain none")


def _load_pickle(path: Path) -> dict:
    """Read one python-format batch with RestrictedUnpickler → dict with str keys."""
    if not path.is_file():
        raise DataError(f"CIFAR-10 file {str(path)!r} is missing; check that the archive was fully extracted")
    try:
        with open(path, "rb") as f:
            obj = RestrictedUnpickler(f, source=f"CIFAR-10 file {str(path)!r}", encoding="bytes").load()
    except DataError:
        raise
    except Exception as e:  # truncated (EOFError), garbage (UnpicklingError), bad numpy state (ValueError, TypeError)
        raise DataError(f"CIFAR-10 file {str(path)!r} is not a readable pickle ({type(e).__name__}: {e}); "
                        "it may be truncated: re-extract it") from e
    if not isinstance(obj, dict):
        raise DataError(f"CIFAR-10 file {str(path)!r} holds a {type(obj).__name__}, expected a dict")
    out = {}
    for k, v in obj.items():  # Python-2 originals have bytes keys; files re-saved by Python 3 may have str keys
        out[k.decode("latin1") if isinstance(k, bytes) else k] = v
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The two formats


def _check_records(pixels: np.ndarray, labels: np.ndarray, path: Path) -> None:
    if pixels.ndim != 2 or pixels.shape[1] != RECORD_PIXELS:
        raise DataError(f"CIFAR-10 file {str(path)!r}: data has shape {pixels.shape}, expected (n, {RECORD_PIXELS})")
    if labels.shape != (pixels.shape[0],):
        raise DataError(f"CIFAR-10 file {str(path)!r}: {labels.shape[0] if labels.ndim else 0} labels for "
                        f"{pixels.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"CIFAR-10 file {str(path)!r}: labels must lie in 0..9, found {int(labels.min())}.."
                        f"{int(labels.max())}")


def _read_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """→ pixels (n, 3072) uint8, labels (n,) int64."""
    if not path.is_file():
        raise DataError(f"CIFAR-10 file {str(path)!r} is missing; check that the archive was fully extracted")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise DataError(f"CIFAR-10 file {str(path)!r} has {raw.size:,} bytes, not a positive multiple of the "
                        f"{RECORD_BYTES}-byte record (1 label + 3072 pixels); it is truncated or not CIFAR-10 binary")
    records = raw.reshape(-1, RECORD_BYTES)  # (n, 3073)
    labels = records[:, 0].astype(np.int64)
    _check_records(records[:, 1:], labels, path)
    return records[:, 1:], labels


def _read_py(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """→ pixels (n, 3072) uint8, labels (n,) int64."""
    d = _load_pickle(path)
    missing = [k for k in ("data", "labels") if k not in d]
    if missing:
        raise DataError(f"CIFAR-10 file {str(path)!r} lacks the keys {missing}; found {sorted(map(str, d))}")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise DataError(f"CIFAR-10 file {str(path)!r}: 'data' must be a uint8 numpy array, got "
                        f"{getattr(data, 'dtype', type(data).__name__)}")
    try:
        labels = np.asarray(d["labels"], dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise DataError(f"CIFAR-10 file {str(path)!r}: 'labels' must be a list of ints ({e})") from e
    _check_records(data, labels, path)
    return data, labels


def _class_names(folder: Path, fmt: str) -> list[str]:
    """Class names from the meta file; the standard CIFAR-10 names when it is absent."""
    if fmt == "bin":
        meta = folder / "batches.meta.txt"
        if not meta.is_file():
            return list(DEFAULT_CLASS_NAMES)
        names = [line.strip() for line in meta.read_text(encoding="utf-8", errors="replace").splitlines()]
    else:
        meta = folder / "batches.meta"
        if not meta.is_file():
            return list(DEFAULT_CLASS_NAMES)
        raw = _load_pickle(meta).get("label_names")
        if not isinstance(raw, (list, tuple)):
            raise DataError(f"CIFAR-10 file {str(meta)!r} has no 'label_names' list")
        names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in raw]
    names = [n for n in names if n]
    if len(names) != 10:
        raise DataError(f"CIFAR-10 file {str(meta)!r} lists {len(names)} class names, expected 10")
    return names


def _locate(root: Path) -> tuple[Path, str]:
    """root (batches dir or its parent) → (batches dir, "bin" | "py")."""
    if not root.is_dir():
        raise DataError(f"CIFAR-10 root {str(root)!r} does not exist or is not a directory")
    for folder in (root, root / "cifar-10-batches-bin", root / "cifar-10-batches-py"):
        if not folder.is_dir():
            continue
        if (folder / "data_batch_1.bin").exists() or (folder / "test_batch.bin").exists():
            return folder, "bin"
        if (folder / "data_batch_1").exists() or (folder / "test_batch").exists():
            return folder, "py"
    raise DataError(f"no CIFAR-10 batches under {str(root)!r}: expected cifar-10-batches-bin/ (data_batch_1.bin, "
                    "test_batch.bin) or cifar-10-batches-py/ (data_batch_1, test_batch), or root set to one of them")


def _batch_files(folder: Path, fmt: str, split: str) -> list[Path]:
    ext = ".bin" if fmt == "bin" else ""
    if split == "test":
        return [folder / f"test_batch{ext}"]
    present = [i for i in range(1, NUM_TRAIN_BATCHES + 1) if (folder / f"data_batch_{i}{ext}").exists()]
    n = max(present, default=1)
    return [folder / f"data_batch_{i}{ext}" for i in range(1, n + 1)]  # a gap is reported as a missing file


def load_cifar10(root: str | Path, *, split: Literal["train", "test"] = "train", limit: int | None = None) -> ImageSet:
    """Local CIFAR-10 → ImageSet with images (B, 3, 32, 32) float32 in [0, 1] and labels (B,) in 0..9.

    limit: keep only the first `limit` images of the split (in file order), reading no more batches than needed.
    """
    if split not in ("train", "test"):
        raise DataError(f"unknown CIFAR-10 split {split!r}; expected 'train' or 'test'")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DataError(f"limit must be a positive int or None, got {limit!r}")
    folder, fmt = _locate(Path(root))
    read = _read_bin if fmt == "bin" else _read_py

    pixels, labels, count = [], [], 0
    for path in _batch_files(folder, fmt, split):
        p, y = read(path)
        pixels.append(p)
        labels.append(y)
        count += len(y)
        if limit is not None and count >= limit:
            break
    x = np.concatenate(pixels)[:limit]  # (B, 3072) uint8
    y = np.concatenate(labels)[:limit]  # (B,)
    images = torch.from_numpy(x.astype(np.float32) / 255.0).reshape(-1, 3, 32, 32)  # (B, C, H, W), channel-major
    return ImageSet(images, torch.from_numpy(y), _class_names(folder, fmt), f"cifar10-{fmt}:{folder}:{split}")
