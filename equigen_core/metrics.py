"""Offline metrics. 2D: classifier accuracy of renders, the midpoint (alignment) test, and — in later issues —
Fréchet distance / PRDC in the project classifier's features and novelty ratios."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from equigen_core.inr import SirenSpec, render_images


@torch.no_grad()
def render_accuracy(spec: SirenSpec, flat: Tensor, labels: Tensor, classifier, res: int = 28) -> float:
    """Share of INRs whose render the classifier assigns to `labels`."""
    return float((classifier.predict(render_images(spec, flat, res)) == labels).float().mean())


@dataclass
class MidpointResult:
    accuracy: float  # share of same-class weight midpoints still classified as the class
    endpoint_accuracy: float  # the same for the INRs themselves (the ceiling)
    n_pairs: int


@torch.no_grad()
def midpoint_test(spec: SirenSpec, flat: Tensor, labels: Tensor, classifier, *, n_pairs: int = 1000,
                  seed: int = 0) -> MidpointResult:
    """Alignment of a zoo: the weight midpoint (w_i + w_j) / 2 of two random same-class INRs renders as that class
    only if their weights are aligned (same neuron order / basin). Pairs are drawn uniformly within classes."""
    gen = torch.Generator().manual_seed(seed)
    a_idx, b_idx = [], []
    classes = labels.unique()
    for k in range(n_pairs):
        c = classes[k % len(classes)]
        members = (labels == c).nonzero().squeeze(1)
        if len(members) < 2:
            continue
        i, j = members[torch.randperm(len(members), generator=gen)[:2]]
        a_idx.append(i)
        b_idx.append(j)
    a, b = torch.stack(a_idx), torch.stack(b_idx)
    mid = 0.5 * (flat[a] + flat[b])
    acc = render_accuracy(spec, mid, labels[a], classifier)
    ends = render_accuracy(spec, torch.cat([flat[a], flat[b]]), torch.cat([labels[a], labels[b]]), classifier)
    return MidpointResult(acc, ends, len(a))
