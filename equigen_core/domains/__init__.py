"""Domains: what a kind of INR data needs beyond its weights — class names, the real examples a protocol compares
samples with, and the classifier that reads them (docs/ARCHITECTURE.md). `images` covers every 2D image zoo (MNIST,
CIFAR-10, folders); 3D shapes still have their own protocol (evaluation.protocol3d) and studio (service.studio3d)."""


def domain_of(zoo):
    """The domain of a zoo: ImageDomain for 2D INRs, ShapeDomain for 3D ones."""
    from equigen_core.domains.images import ImageDomain
    from equigen_core.domains.shapes import ShapeDomain

    return (ShapeDomain if zoo.spec.in_dim == 3 else ImageDomain).of(zoo)
