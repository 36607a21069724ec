"""Offline metrics. 2D: classifier accuracy of renders, the midpoint (alignment) test, and — in later issues —
Fréchet distance / PRDC in the project classifier's features and novelty ratios."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from equigen_core.weightspace.inr import SirenSpec, render_images


@torch.no_grad()
def render_accuracy(spec: SirenSpec, flat: Tensor, labels: Tensor, classifier, res: int = 28) -> float:
    """Share of INRs whose render the classifier assigns to `labels`."""
    return float((classifier.predict(render_images(spec, flat, res)) == labels).float().mean())


@dataclass
class MidpointResult:
    accuracy: float  # share of same-class weight midpoints still classified as the class
    endpoint_accuracy: float  # the same for the INRs themselves (the ceiling)
    n_pairs: int
    speckle: float = float("nan")  # background_speckle of the midpoint renders


@torch.no_grad()
def midpoint_test(spec: SirenSpec, flat: Tensor, labels: Tensor, classifier, *, n_pairs: int = 1000,
                  seed: int = 0) -> MidpointResult:
    """Alignment of a zoo: the weight midpoint (w_i + w_j) / 2 of two random same-class INRs renders as that class
    only if their weights are aligned (same neuron order / basin). Pairs are drawn uniformly within classes."""
    gen = torch.Generator().manual_seed(seed)
    a_idx, b_idx = [], []
    classes = labels.unique()
    by_class = [(labels == c).nonzero().squeeze(1) for c in classes]  # (members of each class), once
    for k in range(n_pairs):
        members = by_class[k % len(classes)]
        if len(members) < 2:
            continue
        i, j = members[torch.randperm(len(members), generator=gen)[:2]]
        a_idx.append(i)
        b_idx.append(j)
    a, b = torch.stack(a_idx), torch.stack(b_idx)
    mid = render_images(spec, 0.5 * (flat[a] + flat[b]), 28)  # (pairs, 1, 28, 28)
    acc = float((classifier.predict(mid) == labels[a]).float().mean())
    ends = render_accuracy(spec, torch.cat([flat[a], flat[b]]), torch.cat([labels[a], labels[b]]), classifier)
    return MidpointResult(acc, ends, len(a), background_speckle(mid))


# ----------------------------------------------------------------------------------------------------------------------
# Sample quality and novelty (images (B, 1, H, W) in [0, 1]; distances are pixel RMS at 28×28)


def _flat28(x: Tensor) -> Tensor:
    if x.shape[-1] != 28:
        x = torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x.reshape(len(x), -1)


def rms_distances(a: Tensor, b: Tensor) -> Tensor:
    """Pixel RMS distance between every image of a (A, C, H, W) and b (B, C, H, W) → (A, B)."""
    fa, fb = _flat28(a), _flat28(b)
    # the direct kernel, not the matrix-product shortcut: identical images are then at distance exactly 0 on every
    # machine (the shortcut's ||a||² + ||b||² − 2a·b leaves rounding noise that depends on the BLAS)
    return torch.cdist(fa, fb, compute_mode="donot_use_mm_for_euclid_dist") / fa.shape[1] ** 0.5


def diversity(images: Tensor) -> float:
    """Mean pairwise pixel RMS distance, self-pairs excluded."""
    d = rms_distances(images, images)
    n = len(images)
    return float(d.sum() / (n * (n - 1))) if n > 1 else 0.0


def affine_variants(images: Tensor, *, angles=(-15, -7.5, 0, 7.5, 15), scales=(0.9, 1.0, 1.1),
                    shifts=(-2, -1, 0, 1, 2)) -> Tensor:
    """Every image under a grid of rotations (deg), scales and pixel shifts → (B, V, C, H, W)."""

    b, c, h, w = images.shape
    mats, identity = [], []
    for a in angles:
        for s in scales:
            for dx in shifts:
                for dy in shifts:
                    if (a, s, dx, dy) == (0, 1, 0, 0):
                        identity.append(len(mats))
                    r = math.radians(a)
                    mats.append([[math.cos(r) / s, -math.sin(r) / s, 2 * dx / w],
                                 [math.sin(r) / s, math.cos(r) / s, 2 * dy / h]])
    theta = torch.tensor(mats, dtype=images.dtype)  # (V, 2, 3)
    v = len(theta)
    grid = F.affine_grid(theta.repeat(b, 1, 1), (b * v, c, h, w), align_corners=False)
    out = F.grid_sample(images.repeat_interleave(v, 0), grid, align_corners=False, padding_mode="zeros")
    out = out.view(b, v, c, h, w).clone()
    out[:, identity] = images.unsqueeze(1)  # the identity is the image itself, not a resampling (copies: distance 0)
    return out


CONTRAST_RANGE = (0.75, 1.33)  # the contrasts the aligned distance may apply to a shot (brightness is free)


def nearest_shot_distance(samples: Tensor, shots: Tensor, *, aligned: bool = False) -> Tensor:
    """Distance of each sample to its nearest shot (B,); aligned: each shot first moved by the best rotation / scale /
    shift from a small grid and given the best brightness and contrast (a·v + b, a within CONTRAST_RANGE, b free, in
    closed form), so tilted, shifted, fainter or brighter copies count as copies."""
    if not aligned:
        return rms_distances(samples, shots).min(dim=1).values
    variants = affine_variants(shots).flatten(0, 1)  # (K·V, C, H, W)
    s, v = _flat28(samples).double(), _flat28(variants).double()
    s, v = s - s.mean(1, keepdim=True), v - v.mean(1, keepdim=True)  # brightness b absorbs the means
    ss, vv = s.pow(2).sum(1), v.pow(2).sum(1).clamp_min(1e-12)  # (B,), (V,)
    out = torch.empty(len(s), dtype=torch.float64)
    for i in range(0, len(s), 64):  # (64, V) at a time
        c = s[i:i + 64] @ v.T
        a = (c / vv).clamp(*CONTRAST_RANGE)
        res = ss[i:i + 64, None] - 2 * a * c + a.pow(2) * vv
        out[i:i + 64] = res.clamp_min(0).min(1).values
    fitted = (out / s.shape[1]).sqrt().float()
    # the plain distance to the moved shots too: a copy is then at exactly 0 on every machine (no rounding residue)
    return torch.minimum(fitted, rms_distances(samples, variants).min(dim=1).values)


@dataclass
class NoveltyResult:
    novelty: float  # median nearest-shot distance of samples / the same for real held-out images of the class
    aligned_novelty: float
    sample_median: float
    real_median: float


def novelty_ratio(samples: Tensor, shots: Tensor, real: Tensor | None,
                  real_distances: tuple[Tensor, Tensor] | None = None) -> NoveltyResult:
    """0 = copies of the shots; ≈ 1 = as far from the shots as real unseen images of the class (docs/RESULTS.md).
    real_distances: the real images' (plain, aligned) nearest-shot distances, when a protocol scores many sets
    against the same real images and shots (they are the same for all of them); real is then not read."""
    if real_distances is None:
        real_distances = real_shot_distances(real, shots)
    r, ra = real_distances
    s, sa = nearest_shot_distance(samples, shots), nearest_shot_distance(samples, shots, aligned=True)
    if float(r.median()) == 0 or float(ra.median()) == 0:
        raise ValueError("the real images' median distance to the shots is 0 (they are copies of the shots); the "
                         "novelty ratio needs real images of the class that are not shots")
    return NoveltyResult(float(s.median() / r.median()), float(sa.median() / ra.median()), float(s.median()),
                         float(r.median()))


def real_shot_distances(real: Tensor, shots: Tensor) -> tuple[Tensor, Tensor]:
    """The novelty ratio's denominators: each real image's plain and aligned distance to its nearest shot."""
    return nearest_shot_distance(real, shots), nearest_shot_distance(real, shots, aligned=True)


def background_speckle(images: Tensor, border: int = 4) -> float:
    """Mean |pixel| (×100) in the outer `border`-pixel ring of 28×28 renders: MNIST digits sit in the central 20×20
    box, so anything here is background speckle (or an INR's extrapolation brought into view by a shift). Colour
    images: every channel's ring."""
    x = _flat28(images).view(len(images), -1, 28, 28)  # (B, C, 28, 28)
    ring = torch.ones(28, 28, dtype=torch.bool)
    ring[border:-border, border:-border] = False
    return float(x[:, :, ring].abs().mean()) * 100


def off_stroke_ink(images: Tensor, *, threshold: float = 0.25, grow: int = 2) -> Tensor:
    """Ink outside each image's main connected stroke, per image (B,) ×100: the mean |pixel| over the pixels that are
    not within `grow` px of the largest 8-connected component of pixels > threshold. A clean digit is one stroke, so
    this counts detached blobs, speckle and faint haze wherever they sit (unlike the border ring, which mostly
    measures where a 9's tail ends). Colour images: the channel mean."""
    from scipy import ndimage

    x = _flat28(images).view(len(images), -1, 28, 28).mean(1).clamp(0, 1).numpy()  # (B, 28, 28)
    out = np.zeros(len(x))
    grow_struct = np.ones((2 * grow + 1, 2 * grow + 1), dtype=bool)
    for i, img in enumerate(x):
        lab, n = ndimage.label(img > threshold, structure=np.ones((3, 3)))
        if n == 0:  # no stroke at all: every bit of ink is off-stroke
            out[i] = img.mean() * 100
            continue
        sizes = np.bincount(lab.ravel())[1:]
        main = ndimage.binary_dilation(lab == (1 + int(sizes.argmax())), structure=grow_struct)
        out[i] = img[~main].sum() / img.size * 100
    return torch.from_numpy(out).float()


def vendi_score(images: Tensor, bandwidth: float) -> float:
    """The Vendi score (Friedman & Dieng 2023) of a set under a Gaussian kernel on pixel RMS distance,
    k(x, y) = exp(−d(x, y)² / (2 h²)): exp of the entropy of the eigenvalues of K / n, the effective number of
    distinct images. Copies of 10 shots score at most 10 however many there are; pass one bandwidth h for every set
    of a protocol (the real images' median pairwise distance) so the scores compare."""
    d = rms_distances(images, images).double()
    k = torch.exp(-d.pow(2) / (2 * bandwidth ** 2))
    lam = torch.linalg.eigvalsh(k / len(images)).clamp_min(0)
    lam = lam[lam > 1e-12]
    return float(torch.exp(-(lam * lam.log()).sum()))


def median_distance(images: Tensor) -> float:
    """Median pairwise pixel RMS distance, self-pairs excluded (the Vendi bandwidth of a protocol)."""
    d = rms_distances(images, images)
    return float(d[~torch.eye(len(d), dtype=torch.bool)].median())


def unique_rows(x: Tensor, tol: float = 1e-6) -> Tensor:
    """Indices of the rows of x (B, D) left after dropping (near-)exact duplicates of an earlier row."""
    d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
    dup = (d <= tol).triu(1).any(0)  # row j duplicates some earlier row i < j
    return (~dup).nonzero().squeeze(1)


def frechet_distance(f1: Tensor, f2: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (B, D) ("FD": in our classifier's features)."""
    from scipy import linalg

    a, b = f1.double().numpy(), f2.double().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    covmean = covmean.real
    return max(0.0, float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)))  # ≥ 0 up to rounding


def prdc(real: Tensor, fake: Tensor, k: int = 5) -> dict[str, float]:
    """Precision, recall, density, coverage (Naeem et al. 2020) of fake vs real features (B, D). With fewer than
    k + 1 points in a set, k shrinks to what the smaller set allows (a small image zoo's held-out class)."""
    k = max(1, min(k, len(real) - 1, len(fake) - 1))

    def kth(x):
        d = torch.cdist(x, x)
        return d.kthvalue(k + 1, dim=1).values  # k-th neighbour, self excluded

    r_rad, f_rad = kth(real), kth(fake)
    d_rf = torch.cdist(real, fake)  # (R, F)
    precision = (d_rf <= r_rad[:, None]).any(0).float().mean()
    recall = (d_rf <= f_rad[None, :]).any(1).float().mean()
    density = (d_rf <= r_rad[:, None]).float().sum(0).mean() / k
    coverage = (d_rf.min(1).values <= r_rad).float().mean()
    return {"precision": float(precision), "recall": float(recall), "density": float(density),
            "coverage": float(coverage)}


# ----------------------------------------------------------------------------------------------------------------------
# 3D: point-cloud metrics (PointFlow / HyperDiffusion conventions: 2,048 points per shape, each cloud centred and
# scaled, Chamfer distance on squared L2)


def normalize_clouds(clouds: Tensor) -> Tensor:
    """Centre every cloud (B, N, 3) on its mean and scale it into the unit ball (max norm 1)."""
    c = clouds - clouds.mean(dim=1, keepdim=True)
    return c / c.norm(dim=-1).amax(dim=1).clamp_min(1e-9)[:, None, None]


def chamfer_matrix(a: Tensor, b: Tensor | None = None) -> Tensor:
    """Chamfer distance (squared L2; mean nearest-neighbour term each way, summed) between every cloud of a (A, N, 3)
    and b (B, M, 3) → (A, B). b None: a against itself (the matrix is symmetric). Nearest neighbours come from one
    k-d tree per cloud (scipy), each queried once with every point of the other set (all CPU cores): exact, and far
    cheaper than all N × M distances per pair."""
    from scipy.spatial import cKDTree

    sym = b is None
    an = a.detach().double().cpu().numpy()
    bn = an if sym else b.detach().double().cpu().numpy()

    def one_way(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """mean over x's points of the squared distance to the nearest point of each y cloud → (len(x), len(y))."""
        pts = x.reshape(-1, 3)
        cols = [cKDTree(c).query(pts, k=1, workers=-1)[0].reshape(len(x), -1) for c in y]  # each (len(x), N)
        return np.stack([(d ** 2).mean(1) for d in cols], 1)

    ab = one_way(an, bn)  # (A, B): a's points to b's clouds
    out = ab + ab.T if sym else ab + one_way(bn, an).T
    return torch.from_numpy(out).float()


def chamfer_distance(a: Tensor, b: Tensor) -> Tensor:
    """Chamfer distance between paired clouds a[i] and b[i] (B, N, 3) → (B,)."""
    d = torch.cdist(a, b).pow(2)
    return d.min(dim=2).values.mean(1) + d.min(dim=1).values.mean(1)


@dataclass
class ShapeSetMetrics:
    mmd: float  # mean over reference shapes of the Chamfer distance to the nearest generated shape (lower is better)
    cov: float  # share of reference shapes that are the nearest reference of some generated shape (higher is better)
    nna: float  # 1-NN classifier accuracy, generated vs reference, leave-one-out (50 % is ideal)


def shape_set_metrics(generated: Tensor, reference: Tensor, *, normalize: bool = True,
                      d_rr: Tensor | None = None) -> ShapeSetMetrics:
    """MMD-CD, COV-CD and 1-NNA-CD of generated clouds (G, N, 3) against reference clouds (R, N, 3). d_rr: the
    reference's own Chamfer matrix (R, R), when a protocol scores many sets against one reference (it is the same
    for all of them)."""
    g, r = (normalize_clouds(generated), normalize_clouds(reference)) if normalize else (generated, reference)
    return metrics_from_distances(chamfer_matrix(g, r), chamfer_matrix(g), chamfer_matrix(r) if d_rr is None else d_rr)


def metrics_from_distances(d_gr: Tensor, d_gg: Tensor, d_rr: Tensor, *, told_apart: int = 0) -> ShapeSetMetrics:
    """MMD / COV / 1-NNA from the Chamfer matrices of G generated and R reference clouds: (G, R), (G, G), (R, R).
    told_apart: samples left out of the matrices that count as correctly classified in 1-NNA (empty samples)."""
    n_g, n_r = d_gr.shape
    mmd = float(d_gr.min(dim=0).values.mean())
    cov = float(d_gr.argmin(dim=1).unique().numel() / n_r)
    full = torch.cat([torch.cat([d_gg, d_gr], 1), torch.cat([d_gr.T, d_rr], 1)], 0)  # (G+R, G+R)
    full.fill_diagonal_(float("inf"))
    labels = torch.cat([torch.zeros(n_g), torch.ones(n_r)])
    right = float((labels[full.argmin(dim=1)] == labels).float().sum())
    return ShapeSetMetrics(mmd, cov, (right + told_apart) / (n_g + n_r + told_apart))
