import torch

from equigen_core.classifier import default_classifier_path, load_classifier
from equigen_core.data import load_mnist
from equigen_core.metrics import midpoint_test


def test_shipped_classifier_reaches_95_percent_on_held_out_digits():
    clf = load_classifier(default_classifier_path())
    test = load_mnist(split="test")
    acc = float((clf.predict(test.images) == test.labels).float().mean())
    assert acc >= 0.95, acc


def test_midpoint_test_separates_aligned_from_unrelated_weights(mnist_spec):
    """Identical same-class INRs have midpoints equal to themselves (accuracy = endpoints); pairing a digit with
    random weights destroys it."""
    from equigen_core.fit import FitConfig, fit_images

    clf = load_classifier(default_classifier_path())
    digits = load_mnist(split="test")
    pick = torch.cat([(digits.labels == c).nonzero()[:1, 0] for c in range(10)])
    res = fit_images(mnist_spec, digits.images[pick], FitConfig(target_psnr=28.0), progress=False)
    twins = torch.cat([res.weights, res.weights])
    labels = torch.cat([digits.labels[pick]] * 2)
    r = midpoint_test(mnist_spec, twins, labels, clf, n_pairs=40)
    assert r.n_pairs == 40
    assert r.accuracy == r.endpoint_accuracy
