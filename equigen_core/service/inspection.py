"""Looking inside the models (the app's Feature-space and About tabs): a t-SNE of the encoder's ψ over the gallery,
the targets and the samples, and the equivariance check (permute a target's hidden neurons: the weights change, the
function and ψ do not). Plain functions over the library, for every domain.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from equigen_core.data.zoo import Zoo
from equigen_core.service.studio import StudioError
from equigen_core.training.common import encode
from equigen_core.training.features import tsne_2d
from equigen_core.weightspace.inr import SirenSpec, render_images
from equigen_core.weightspace.weights import WeightSpace, random_permutations


@dataclass
class FeatureMap:
    xy: Tensor  # (B, 2) t-SNE coordinates
    labels: list[str]  # class of each point ("?" when unknown)
    kinds: list[str]  # "zoo" | "target" | "sample"
    hover: list[str]
    # the candidate index (Studio.candidates of the target class) of each point that can become a target — the
    # gallery INRs of that class and the targets themselves — else None
    refs: list[int | None] = field(default_factory=list)
    # (sample point, its target point): which target conditioned each sample (set-level samples: none)
    links: list[tuple[int, int]] = field(default_factory=list)


def feature_map(encoder, gallery: Zoo, targets: Tensor | None = None, samples: Tensor | None = None, *,
                target_class: int | None = None, sample_labels: Sequence[int] | None = None,
                target_ids: Sequence[int] | None = None, sample_targets: Sequence[int | str] | None = None,
                seed: int = 0) -> FeatureMap:
    """t-SNE of encoder features ψ for the gallery INRs (all classes), the targets and the generated samples.
    target_ids: the targets' candidate indices; sample_targets: each sample's target as a candidate index (or "set"
    / -1: conditioned on all of them) — they become `refs` and `links`."""

    parts = [gallery.weights]
    labels = [str(int(c)) for c in gallery.labels]
    kinds = ["zoo"] * len(gallery)
    hover = [f"zoo INR #{i}, class {int(c)}" for i, c in enumerate(gallery.labels)]
    refs: list[int | None] = [None] * len(gallery)
    if target_class is not None:  # the gallery INRs of the target class are its first candidates, in gallery order
        rank = 0
        for i, c in enumerate(gallery.labels.tolist()):
            if c == target_class:
                refs[i] = rank
                hover[i] += f" — candidate #{rank}"
                rank += 1
    first_target = len(labels)
    if targets is not None and len(targets):
        ids = list(target_ids) if target_ids is not None else [None] * len(targets)
        parts.append(targets)
        labels += [str(target_class) if target_class is not None else "?"] * len(targets)
        kinds += ["target"] * len(targets)
        hover += [f"target #{i}" if i is not None else f"target {j}" for j, i in enumerate(ids)]
        refs += ids
    links = []
    if samples is not None and len(samples):
        first_sample = len(labels)
        parts.append(samples)
        sl = [str(int(c)) for c in sample_labels] if sample_labels is not None else ["?"] * len(samples)
        labels += sl
        kinds += ["sample"] * len(samples)
        hover += [f"sample #{i}, classified {c}" for i, c in enumerate(sl)]
        refs += [None] * len(samples)
        where = {cid: first_target + j for j, cid in enumerate(target_ids or []) if cid is not None}
        for i, t in enumerate(sample_targets or []):
            if not isinstance(t, str) and int(t) >= 0 and int(t) in where:
                links.append((first_sample + i, where[int(t)]))
    feats = encode(encoder, torch.cat(parts))
    return FeatureMap(torch.as_tensor(tsne_2d(feats, seed=seed)), labels, kinds, hover, refs, links)


@dataclass
class EquivarianceCheck:
    weights: Tensor  # (P,) the target's weights
    permuted: Tensor  # (P,) after a random hidden-neuron permutation
    images: Tensor  # (2, C, res, res) renders of both
    weight_change: float  # RMS difference of the raw weight vectors
    render_change: float  # max |difference| of the renders
    feature_change: float  # max |difference| of the encoder features ψ
    feature_scale: float  # max |ψ| (for scale)


@torch.no_grad()
def equivariance_check(encoder, spec: SirenSpec, weights: Tensor, *, seed: int = 0, res: int = 64) -> EquivarianceCheck:
    """Permute a target's hidden neurons at random: raw weights change a lot, the function (render) and the
    invariant features ψ do not."""

    w = weights.reshape(1, -1)
    if w.shape[1] != spec.num_params:
        raise StudioError(f"expected one INR of {spec.num_params} weights, got {tuple(weights.shape)}")
    gen = torch.Generator().manual_seed(seed)
    perms = random_permutations(spec, 1, generator=gen)
    wp = WeightSpace.from_flat(spec, w).permute(perms).to_flat()
    imgs = render_images(spec, torch.cat([w, wp]), res, clamp=False)
    encoder.eval()
    f = encoder(torch.cat([w, wp]))
    return EquivarianceCheck(w[0], wp[0], imgs.clamp(0, 1), float((w - wp).pow(2).mean().sqrt()),
                             float((imgs[0] - imgs[1]).abs().max()), float((f[0] - f[1]).abs().max()),
                             float(f.abs().max()))
