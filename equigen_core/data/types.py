"""The data layer's common types: the error every loader raises, an image set, and what `--limit` means."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


class DataError(ValueError):
    """A data file or folder that cannot be used: missing, too big, undecodable, malformed or unsafe."""


def balanced_subset(labels: Tensor, limit: int | None) -> Tensor:
    """What `--limit N` means for every dataset: the sorted indices of at most N items spread evenly over the classes
    — each class's first items, taken in turns (class order breaks ties). None (or N ≥ B) keeps everything."""
    if limit is None or limit >= len(labels):
        return torch.arange(len(labels))
    rank = torch.empty_like(labels)
    for c in labels.unique():
        m = labels == c
        rank[m] = torch.arange(int(m.sum()))
    order = torch.from_numpy(np.lexsort((labels.numpy(), rank.numpy())))  # by rank, then class
    return order[: max(0, limit)].sort().values


@dataclass(frozen=True)
class ImageSet:
    """B images with their labels. `labels[i]` indexes `class_names`; `source` says where the images came from."""

    images: Tensor  # (B, C, H, W) float32 in [0, 1]
    labels: Tensor  # (B,) long
    class_names: list[str]
    source: str

    def __post_init__(self):
        x, y = self.images, self.labels
        if x.ndim != 4 or x.dtype != torch.float32:
            raise DataError(f"{self.source}: images must be (B, C, H, W) float32, got {tuple(x.shape)} {x.dtype}")
        if y.ndim != 1 or y.dtype != torch.long or y.shape[0] != x.shape[0]:
            raise DataError(f"{self.source}: labels must be ({x.shape[0]},) long, got {tuple(y.shape)} {y.dtype}")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(self.class_names)):
            raise DataError(f"{self.source}: labels must lie in 0..{len(self.class_names) - 1} (one per class name)")

    def __len__(self) -> int:
        return self.images.shape[0]

    def select(self, index: Tensor) -> "ImageSet":
        """Subset by a (B,) bool mask or a (M,) index tensor; class names are kept so labels keep their meaning."""
        return ImageSet(self.images[index], self.labels[index], list(self.class_names), self.source)


def index_of(names, value: str | int, *, noun: str = "class") -> int:
    """value: a name in `names` or a number in range → the index; ValueError naming the choices otherwise."""
    names, text = list(names), str(value)
    if not text.isdigit():
        if text not in names:
            raise ValueError(f"unknown {noun} {text!r}; expected one of {names}")
        return names.index(text)
    if not 0 <= int(text) < len(names):
        raise ValueError(f"{noun} index {text} out of range 0–{len(names) - 1}")
    return int(text)


# Submodules import DataError / ImageSet from here, so they are defined above these imports.
