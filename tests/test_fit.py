import torch

from equigen_core.data import load_mnist
from equigen_core.weightspace.fit import FitConfig, _forward_backward, fit_images, psnr_from_mse
from equigen_core.weightspace.inr import PRESETS, make_grid, render_images, siren_forward
from tests.conftest import random_sirens


def test_hand_written_gradient_matches_autograd(mnist_spec):
    flat = random_sirens(mnist_spec, 3).requires_grad_(True)
    coords = make_grid(8)
    target = torch.rand(3, 64, 1)
    loss = ((siren_forward(mnist_spec, flat, coords) - target) ** 2).mean(dim=(1, 2)).sum()
    (auto,) = torch.autograd.grad(loss, flat)
    manual, mse = _forward_backward(mnist_spec, flat.detach(), coords, target, "mse")
    torch.testing.assert_close(manual, auto, atol=1e-4, rtol=1e-4)
    assert mse.shape == (3,)


def test_hand_written_gradient_matches_autograd_for_bce():
    spec = PRESETS["shape3d"]
    flat = random_sirens(spec, 2).requires_grad_(True)
    coords = torch.rand(40, 3) * 2 - 1
    target = (torch.rand(2, 40, 1) > 0.5).float()
    logits = siren_forward(spec, flat, coords) - spec.out_offset
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean((1, 2)).sum()
    (auto,) = torch.autograd.grad(loss, flat)
    manual, _ = _forward_backward(spec, flat.detach(), coords, target, "bce")
    torch.testing.assert_close(manual, auto, atol=1e-4, rtol=1e-4)


def test_fitting_real_digits_reaches_the_psnr_bound_and_stops_early(mnist_spec):
    digits = load_mnist(split="train").images[::400][:10]  # 10 real digits, one per class
    res = fit_images(mnist_spec, digits, FitConfig(target_psnr=30.0, max_steps=400), progress=False)
    assert res.weights.shape == (10, 1185)
    assert bool((res.psnr >= 30.0).all()), res.psnr
    assert int(res.steps.max()) < 400  # each stopped at the target, not at the step limit
    # the reported PSNR is that of the returned weights
    mse = ((render_images(mnist_spec, res.weights, clamp=False) - digits) ** 2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(psnr_from_mse(mse), res.psnr, atol=1e-2, rtol=0)


def test_shared_init_and_progress_callback(mnist_spec):
    digits = load_mnist(split="test").images[:4]
    seen = []
    cfg = FitConfig(target_psnr=None, max_steps=12, pool=3, check_every=1)
    res = fit_images(mnist_spec, digits, cfg, progress=False, callback=seen.append)
    assert bool((res.steps == 12).all())
    assert seen and seen[-1].done == 4 and seen[-1].total == 4
    # all INRs started from one init, so a 0-step fit returns four identical INRs
    res0 = fit_images(mnist_spec, digits, FitConfig(target_psnr=None, max_steps=0), progress=False)
    assert torch.equal(res0.weights[0], res0.weights[3])
    res0i = fit_images(mnist_spec, digits, FitConfig(target_psnr=None, max_steps=0, init="independent"),
                       progress=False)
    assert not torch.equal(res0i.weights[0], res0i.weights[3])
