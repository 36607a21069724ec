import torch

from equigen_core.nets.classifier import default_classifier_path, load_classifier
from equigen_core.data import load_mnist
from equigen_core.evaluation.metrics import midpoint_test


def test_shipped_classifier_reaches_95_percent_on_held_out_digits():
    clf = load_classifier(default_classifier_path())
    test = load_mnist(split="test")
    acc = float((clf.predict(test.images) == test.labels).float().mean())
    assert acc >= 0.95, acc


def test_midpoint_test_separates_aligned_from_unaligned_weights(mnist_spec):
    """Identical twins have midpoints equal to themselves (accuracy = endpoints); INRs fitted from independent inits
    are not aligned, so their midpoints stop looking like the digit."""
    from equigen_core.weightspace.fit import FitConfig, fit_images

    clf = load_classifier(default_classifier_path())
    digits = load_mnist(split="test")
    pick = torch.cat([(digits.labels == c).nonzero()[:2, 0] for c in range(10)])  # two digits per class
    labels = digits.labels[pick]
    twins = fit_images(mnist_spec, digits.images[pick[::2]], FitConfig(target_psnr=28.0), progress=False).weights
    r = midpoint_test(mnist_spec, torch.cat([twins, twins]), torch.cat([labels[::2]] * 2), clf, n_pairs=40)
    assert r.n_pairs == 40
    assert r.accuracy == r.endpoint_accuracy
    indep = fit_images(mnist_spec, digits.images[pick], FitConfig(target_psnr=28.0, init="independent"),
                       progress=False).weights
    r = midpoint_test(mnist_spec, indep, labels, clf, n_pairs=40)
    assert r.endpoint_accuracy >= 0.8 and r.accuracy < r.endpoint_accuracy - 0.3, r
