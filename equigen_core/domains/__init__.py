"""Domains: what a kind of INR data needs beyond its weights — class names, the real examples a protocol compares
samples with, and the classifier that reads them (docs/ARCHITECTURE.md). `images` covers every 2D image zoo (MNIST,
CIFAR-10, folders); `shapes` covers occupancy INRs of 3D shapes."""
from equigen_core.domains.images import ImageDomain
from equigen_core.domains.shapes import ShapeDomain


def domain_of(zoo):
    """The domain of a zoo: ImageDomain for 2D INRs, ShapeDomain for 3D ones."""
    return domain_class(zoo.spec).of(zoo)


def domain_class(spec):
    """The domain class for an INR spec (what preview / exact_augment / sampling need; no zoo required)."""

    return ShapeDomain if spec.in_dim == 3 else ImageDomain
