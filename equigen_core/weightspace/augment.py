"""INR augmentations applied directly in weight space.

Exact ones change the weights so that the new INR computes a transformed signal, with no refitting:
- a coordinate map x' = A x + t folds into the first layer: W_0' = W_0 A, b_0' = b_0 + W_0 t, so the new INR is
  g(x) = f(A x + t) (rotation, isotropic scale, translation);
- an output map y' = α (y - o) + o + β (contrast α, brightness β around the offset o) folds into the last layer:
  W_L' = α W_L, b_L' = α b_L + β;
- hidden-neuron permutations and sign flips (the weight-space symmetries; see weights.py) leave the function unchanged.
Approximate ones perturb the function a little: bias jitter and weight noise, scaled per layer by the weights' std.
EQUIGEN §4.2 uses such INR-based augmentations (rotation, translation, scaling, colour jitter, bias perturbation) to
make the positive pairs of contrastive pre-training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from equigen_core.weightspace.inr import SirenSpec
from equigen_core.weightspace.weights import WeightSpace, random_permutations, random_signs

# ----------------------------------------------------------------------------------------------------------------------
# Exact transforms


def affine_coords(ws: WeightSpace, A: Tensor, t: Tensor) -> WeightSpace:
    """New INR g(x) = f(A x + t). A (B, in, in), t (B, in)."""
    w0, b0 = ws.weights[0], ws.biases[0]  # (B, D, in), (B, D)
    w0_new = torch.bmm(w0, A)
    b0_new = b0 + torch.bmm(w0, t.unsqueeze(2)).squeeze(2)
    return WeightSpace(ws.spec, (w0_new, *ws.weights[1:]), (b0_new, *ws.biases[1:]))


def rotation_matrices(angles: Tensor, scales: Tensor | None = None) -> Tensor:
    """2D rotation (and isotropic scale) matrices: angles (B,) radians → (B, 2, 2)."""
    c, s = torch.cos(angles), torch.sin(angles)
    A = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (B, 2, 2)
    return A if scales is None else A * scales.view(-1, 1, 1)


def rotate_scale_translate(ws: WeightSpace, angle: Tensor, scale: Tensor, shift: Tensor) -> WeightSpace:
    """2D: g(x) = f(s·R(θ) x + t). angle, scale (B,), shift (B, 2). s > 1 zooms out, θ > 0 turns the image clockwise
    in image coordinates (y down)."""
    if ws.spec.in_dim != 2:
        raise ValueError(f"rotate_scale_translate is for 2D INRs; this spec has in_dim={ws.spec.in_dim}")
    return affine_coords(ws, rotation_matrices(angle, scale), shift)


def rotate_y_scale_translate(ws: WeightSpace, angle: Tensor, scale: Tensor, shift: Tensor) -> WeightSpace:
    """3D: g(x) = f(s·R_y(θ) x + t), a turn about the vertical (y) axis, an isotropic scale and a shift (shapes
    stay upright). angle, scale (B,), shift (B, 3)."""
    if ws.spec.in_dim != 3:
        raise ValueError(f"rotate_y_scale_translate is for 3D INRs; this spec has in_dim={ws.spec.in_dim}")
    c, s_ = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    A = torch.stack([torch.stack([c, zero, s_], -1), torch.stack([zero, one, zero], -1),
                     torch.stack([-s_, zero, c], -1)], -2) * scale.view(-1, 1, 1)  # (B, 3, 3)
    return affine_coords(ws, A, shift)


def color_affine(ws: WeightSpace, contrast: Tensor, brightness: Tensor) -> WeightSpace:
    """y' = α (y - o) + o + β per channel. contrast α, brightness β: (B,) or (B, C)."""
    c = ws.spec.out_dim
    a = contrast.reshape(ws.batch, -1).expand(-1, c)  # (B, C)
    br = brightness.reshape(ws.batch, -1).expand(-1, c)
    wl, bl = ws.weights[-1], ws.biases[-1]
    return WeightSpace(ws.spec, (*ws.weights[:-1], wl * a.unsqueeze(2)), (*ws.biases[:-1], bl * a + br))


# ----------------------------------------------------------------------------------------------------------------------
# Approximate transforms


def _layer_std(t: Tensor) -> Tensor:  # (B, ...) → (B, 1, ...) per-INR std of a layer's entries
    return t.reshape(t.shape[0], -1).std(dim=1).view(-1, *([1] * (t.dim() - 1)))


def bias_jitter(ws: WeightSpace, sigma: float, *, generator: torch.Generator | None = None) -> WeightSpace:
    """b_l += σ · std(b_l) · ε for every hidden layer (approximate)."""
    bs = list(ws.biases)
    for l in range(len(bs) - 1):
        bs[l] = bs[l] + sigma * _layer_std(bs[l]) * torch.randn(bs[l].shape, generator=generator).to(bs[l])
    return WeightSpace(ws.spec, ws.weights, tuple(bs))


def weight_noise(ws: WeightSpace, sigma: float, *, generator: torch.Generator | None = None) -> WeightSpace:
    """W_l += σ · std(W_l) · ε for every layer (approximate)."""
    ws_new = tuple(w + sigma * _layer_std(w) * torch.randn(w.shape, generator=generator).to(w) for w in ws.weights)
    return WeightSpace(ws.spec, ws_new, ws.biases)


# ----------------------------------------------------------------------------------------------------------------------
# Random composition used for contrastive views


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of the random augmentations (0 turns one off). Defaults: mild, class-preserving for digits."""

    rotate_deg: float = 15.0  # θ ~ U(-r, r) degrees
    scale: float = 0.1  # s ~ exp(U(-a, a))
    translate: float = 0.1  # t ~ U(-a, a)² in [-1, 1] coordinates
    contrast: float = 0.1  # α ~ exp(U(-a, a))
    brightness: float = 0.05  # β ~ U(-a, a)
    permute: bool = True  # random hidden-neuron permutation (exact)
    sign_flip: float = 0.0  # probability of flipping each hidden neuron's sign (exact)
    bias_jitter: float = 0.05  # σ of bias jitter (relative to the layer's std)
    weight_noise: float = 0.02  # σ of weight noise (relative to the layer's std)

    def scaled(self, k: float) -> "AugmentConfig":
        """Every continuous strength multiplied by k (permutation / sign flips unchanged)."""
        names = ("rotate_deg", "scale", "translate", "contrast", "brightness", "bias_jitter", "weight_noise")
        return replace(self, **{n: getattr(self, n) * k for n in names})


def _uniform(n: int, a: float, generator) -> Tensor:
    return (torch.rand(n, generator=generator) * 2 - 1) * a


def random_augment(spec: SirenSpec, flat: Tensor, cfg: AugmentConfig = AugmentConfig(), *,
                   generator: torch.Generator | None = None) -> Tensor:
    """One random augmented view of every INR: flat (B, P) → (B, P). Randomness only from `generator`."""
    b = flat.shape[0]
    ws = WeightSpace.from_flat(spec, flat)
    if spec.in_dim == 2 and (cfg.rotate_deg or cfg.scale or cfg.translate):
        angle = _uniform(b, math.radians(cfg.rotate_deg), generator).to(flat)
        scale = torch.exp(_uniform(b, cfg.scale, generator)).to(flat)
        shift = _uniform(2 * b, cfg.translate, generator).view(b, 2).to(flat)
        ws = rotate_scale_translate(ws, angle, scale, shift)
    elif spec.in_dim == 3 and (cfg.rotate_deg or cfg.scale or cfg.translate):
        angle = _uniform(b, math.radians(cfg.rotate_deg), generator).to(flat)
        scale = torch.exp(_uniform(b, cfg.scale, generator)).to(flat)
        shift = _uniform(3 * b, cfg.translate, generator).view(b, 3).to(flat)
        ws = rotate_y_scale_translate(ws, angle, scale, shift)
    if cfg.contrast or cfg.brightness:
        ws = color_affine(ws, torch.exp(_uniform(b, cfg.contrast, generator)).to(flat),
                          _uniform(b, cfg.brightness, generator).to(flat))
    if cfg.bias_jitter:
        ws = bias_jitter(ws, cfg.bias_jitter, generator=generator)
    if cfg.weight_noise:
        ws = weight_noise(ws, cfg.weight_noise, generator=generator)
    if cfg.sign_flip:
        ws = ws.flip_signs(random_signs(spec, b, generator=generator, p=cfg.sign_flip, device=flat.device))
    if cfg.permute:
        ws = ws.permute(random_permutations(spec, b, generator=generator, device=flat.device))
    return ws.to_flat()


def geometric_augment(spec: SirenSpec, flat: Tensor, strength: float = 1.0, *,
                      generator: torch.Generator | None = None) -> Tensor:
    """Exact geometric augmentations only (AugmentConfig's rotation — about y for 3D INRs —, scale and shift ×
    strength; no colour change, permutation or noise): the same function, moved → (B, P)."""
    cfg = AugmentConfig(permute=False, contrast=0, brightness=0, bias_jitter=0, weight_noise=0)
    return random_augment(spec, flat, cfg.scaled(strength), generator=generator)
