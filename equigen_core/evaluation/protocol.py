"""The few-shot protocol's pieces: drawing the shots, the cheap baselines (copies, weight noise, interpolation,
exact augmentations), the image report (accuracy beside aligned novelty, FD / PRDC, diversity, speckle) and held-in
accuracy. The runner is evaluation.runner; the image frontier (`evaluate`) and the 3D protocol (`evaluate_3d`) are
evaluation.frontier and evaluation.protocol3d.

Accuracy is never reported without aligned novelty next to it (docs/RESULTS.md): a copy of a shot is recognisably of the
class, so accuracy alone rewards copying.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from equigen_core.domains.images import ImageDomain
from equigen_core.evaluation.metrics import (
    background_speckle,
    diversity,
    frechet_distance,
    median_distance,
    novelty_ratio,
    off_stroke_ink,
    prdc,
    real_shot_distances,
    unique_rows,
    vendi_score,
)
from equigen_core.generation.fewshot import generate
from equigen_core.weightspace.inr import SirenSpec, render_images


@dataclass
class SampleReport:
    name: str
    n: int
    accuracy: float  # share classified as the target class
    novelty: float
    aligned_novelty: float
    diversity: float
    fd: float  # Fréchet distance in the project classifier's features (not FID)
    precision: float
    recall: float
    density: float
    coverage: float
    speckle: float  # mean |pixel| ×100 in the 4-px border ring (metrics.background_speckle)
    vendi: float = float("nan")  # Vendi score, pixel RBF kernel, the protocol's bandwidth (metrics.vendi_score)
    off_stroke: float = float("nan")  # mean ink ×100 outside each image's main stroke (metrics.off_stroke_ink)
    unique: int = 0  # distinct samples left for PRDC / FD after dropping exact duplicates

    def row(self) -> str:
        return (f"| {self.name} | {self.accuracy:.2f} | {self.aligned_novelty:.2f} | {self.novelty:.2f} | "
                f"{self.diversity:.3f} | {self.fd:.1f} | {self.precision:.2f} | {self.recall:.2f} | "
                f"{self.density:.2f} | {self.coverage:.2f} | {self.speckle:.2f} |")

    def to_dict(self) -> dict:
        return asdict(self)


HEADER = ("| samples | accuracy | aligned novelty | novelty | diversity | FD | precision | recall | density | "
          "coverage | speckle |\n|---|---|---|---|---|---|---|---|---|---|---|")


@dataclass
class Reference:
    """What every set of a protocol seed is scored against, computed once: the real images of the class, their
    classifier features, their distances to the shots (the novelty denominators) and the Vendi bandwidth."""

    images: Tensor  # (R, C, 28, 28)
    features: Tensor  # (R, D)
    shot_distances: tuple[Tensor, Tensor]  # (R,) plain, (R,) aligned
    bandwidth: float

    @classmethod
    @torch.no_grad()
    def of(cls, real: Tensor, shots: Tensor, classifier, bandwidth: float | None = None) -> "Reference":
        classifier.eval()
        return cls(real, classifier.features(real), real_shot_distances(real, shots),
                   median_distance(real) if bandwidth is None else bandwidth)


@torch.no_grad()
def report(name: str, images: Tensor, cls: int, shots: Tensor, real: Tensor | Reference, classifier, *,
           bandwidth: float | None = None, seed: int = 0) -> SampleReport:
    """images (B, 1, 28, 28) samples; shots (K, 1, 28, 28) the shot renders; real (R, 1, 28, 28) real images of the
    class that are not shots (novelty denominators, FD / PRDC reference) — or their Reference, built once per set of
    shots when many sets are scored against them.

    Protocol v2: exact duplicates among the samples are dropped and at most R distinct samples (a seeded draw) enter
    FD / PRDC, so copies cannot inflate density or recall and every set meets the reference at matched size; the
    Vendi score uses `bandwidth` (default: the real images' median pairwise distance; a protocol passes one for all
    its sets)."""
    ref = real if isinstance(real, Reference) else Reference.of(real, shots, classifier, bandwidth)
    acc = float((classifier.predict(images) == cls).float().mean())
    nov = novelty_ratio(images, shots, None, real_distances=ref.shot_distances)
    classifier.eval()
    fs, fr = classifier.features(images), ref.features
    keep = unique_rows(fs)
    if len(keep) > len(fr):
        keep = keep[torch.randperm(len(keep), generator=torch.Generator().manual_seed(seed))[: len(fr)]]
    fs_u = fs[keep]
    pr = prdc(fr, fs_u, k=5) if len(fs_u) > 1 else {"precision": 0.0, "recall": 0.0, "density": 0.0,
                                                    "coverage": 0.0}
    fd = frechet_distance(fr, fs_u) if len(fs_u) > 2 else float("nan")
    return SampleReport(name, len(images), acc, nov.novelty, nov.aligned_novelty, diversity(images), fd, **pr,
                        speckle=background_speckle(images), vendi=vendi_score(images, ref.bandwidth),
                        off_stroke=float(off_stroke_ink(images).mean()), unique=len(keep))


def cheap_baselines(spec: SirenSpec, shot_weights: Tensor, n: int, *, seed: int = 0) -> dict[str, Tensor]:
    """Baselines with no learning (docs/RESULTS.md) at their default knobs: copies, weight noise, interpolation, exact
    augmentations, interp+aug. → {name: weights (n, P)}."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, len(shot_weights), (n,), generator=g)
    interp = interpolate_shots(shot_weights, n, g)
    return {"copies of the shots": shot_weights[pick],
            "weight noise σ=0.2": noise_shots(shot_weights, n, 0.2, g),
            "interpolation of two shots": interp,
            "exact augmentations": augment_shots(spec, shot_weights[pick], 1.0, g),
            "interpolation + augmentation": augment_shots(spec, interp, 1.0, g)}


def noise_shots(shots: Tensor, n: int, sigma: float, g: torch.Generator) -> Tensor:
    """Random shots plus Gaussian noise of σ × (each weight's std over the shots) → (n, P)."""
    pick = torch.randint(0, len(shots), (n,), generator=g)
    return shots[pick] + sigma * shots.std(0, keepdim=True) * torch.randn((n, shots.shape[1]), generator=g)


def interpolate_shots(shots: Tensor, n: int, g: torch.Generator) -> Tensor:
    """λ·w_i + (1 − λ)·w_j for random pairs of distinct shots, λ ~ U(0, 1) → (n, P)."""
    k = len(shots)
    pick = torch.randint(0, k, (n,), generator=g)
    other = (pick + torch.randint(1, max(2, k), (n,), generator=g)) % k
    lam = torch.rand(n, 1, generator=g)
    return lam * shots[pick] + (1 - lam) * shots[other]


def augment_shots(spec: SirenSpec, weights: Tensor, scale: float, g: torch.Generator) -> Tensor:
    """Exact INR augmentations only (rotation, scale, shift, contrast, brightness × scale): the image domain's."""

    return ImageDomain.exact_augment(spec, weights, g, scale)


def render(spec: SirenSpec, weights: Tensor) -> Tensor:
    return render_images(spec, weights, 28)


def protocol_data(zoo, cls: int, k: int, *, seed: int = 0):
    """Shots: k INRs of class `cls` from the zoo's training split (seeded draw; a gallery of held-out INRs only: from
    all of the class); real: the domain's real examples of the class (domains.images: MNIST's held-out digits, or the
    renders of the zoo's held-out INRs), minus any a shot was fitted to. → (shot weights (k, P), shot renders, real
    images)."""

    shots = draw_shots(zoo, cls, k, seed=seed)
    real = ImageDomain.of(zoo).real_images(zoo, cls, exclude_index=shots.index)
    return shots.weights, render(zoo.spec, shots.weights), real


def draw_shots(zoo, cls: int, k: int, *, seed: int = 0):
    """K INRs of class `cls` (2D) or category (3D), a seeded draw from the zoo's training split — or from all of the
    class when the split is short (a gallery holds held-out INRs only) → the Zoo of the shots."""
    pool = zoo.train().select(zoo.train().labels == cls)
    if len(pool) < k:
        pool = zoo.select(zoo.labels == cls)
    if len(pool) < k:
        raise ValueError(f"the zoo has {len(pool)} INRs of class {cls}; k={k} needs more")
    return pool.select(torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:k])


def held_in_accuracy(model, zoo, classifier, *, classes=range(9), per_class: int = 10, seed: int = 0,
                     steps: int = 50, temperature: float = 1.0) -> float:
    """Conditional accuracy on base classes: one sample per held-out INR of each class (γ = 0), classified."""

    test = zoo.test()
    ws, ys = [], []
    for c in classes:
        sel = test.select(test.labels == c)
        ws.append(sel.weights[:per_class])
        ys.append(sel.labels[:per_class])
    w, y = torch.cat(ws), torch.cat(ys)
    out = generate(model, w, len(w), gamma=0.0, guidance=0.0, steps=steps, seed=seed, temperature=temperature)
    return float((classifier.predict(out.images) == y).float().mean())
