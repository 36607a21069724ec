"""The few-shot protocol in 3D: K shots of a held-out shape category → samples → MMD / COV / 1-NNA and novelty.

    result = evaluate_3d(model, zoo, category=0, k=10, n=32, gammas=(0, 0.3, 0.6), seeds=(0,))

Shots: K INRs of the held-out category from the zoo's training split (seeded draw). Reference: the category's
held-out (test split) shapes, as exact geometry (data.zoo.zoo_shapes) — never shots. Every set is turned into point
clouds the same way: occupancy on a 64³ grid → marching cubes → 2,048 points on the surface (PointFlow /
HyperDiffusion conventions: each cloud centred and scaled, Chamfer on squared L2). Novelty in Chamfer distance: the
median distance of samples to their nearest shot over the same for the reference shapes (≈ 1 = as new as unseen shapes
of the category; copies score near 0 — not exactly, as their clouds are other random points of the same surfaces).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from equigen_core.domains.shapes import ShapeDomain
from equigen_core.evaluation.frontier import run_meta
from equigen_core.evaluation.metrics import chamfer_matrix, normalize_clouds, shape_set_metrics
from equigen_core.evaluation.protocol import draw_shots, interpolate_shots
from equigen_core.evaluation.runner import Step, run_protocol, summarize
from equigen_core.generation.fewshot import generate, refine
from equigen_core.presets import SHAPES
from equigen_core.weightspace.inr import make_grid
from equigen_core.weightspace.render import grid_to_mesh, occupancy_grids, sample_surface


def shots_3d(zoo, category: int, k: int, *, seed: int = 0) -> Tensor:
    """K INR weights of `category` (evaluate.draw_shots: the training split, or all of the category if short)."""

    return draw_shots(zoo, category, k, seed=seed).weights


def clouds_from_grids(grids: Tensor, n: int = 2048, *, seed: int = 0) -> Tensor:
    """Occupancy value grids (B, R, R, R) (inside > 0) → surface point clouds (B, n, 3); an empty grid gives a
    cloud of zeros (it then matches nothing)."""

    out = []
    for i, g in enumerate(grids):
        mesh = grid_to_mesh(g, 0.0)
        out.append(sample_surface(mesh, n, seed=seed + i) if mesh is not None else torch.zeros(n, 3))
    return torch.stack(out)


def clouds_from_weights(spec, weights: Tensor, *, res: int = 64, n: int = 2048, seed: int = 0) -> Tensor:
    return clouds_from_grids(occupancy_grids(spec, weights, res), n, seed=seed)


def shape_sets(spec, weights: Tensor, *, res: int = 64, n: int = 2048, seed: int = 0) -> tuple[Tensor, Tensor]:
    """B occupancy INRs → (surface clouds (B, n, 3), connected parts of each shape's res³ occupancy (B,) long)."""

    grids = occupancy_grids(spec, weights, res)
    return clouds_from_grids(grids, n, seed=seed), count_parts(grids, min_share=PIECE_SHARE)


# a piece of a sample counts toward the floater share when it holds ≥ 1 % of the sample's inside voxels: the stray
# voxels every fitted INR has do not, a detached wing or a blob beside the shape does
PIECE_SHARE = 0.01


def count_parts(grids: Tensor, *, min_share: float = 0.0) -> Tensor:
    """Connected components (6-connected voxels) of each occupancy grid (B, R, R, R), inside > 0 → (B,) long: 1 for
    one solid, more when floaters or broken pieces are there, 0 when empty. min_share: count only the pieces holding
    at least this share of the grid's inside voxels (0: every piece, down to a stray voxel)."""
    from scipy import ndimage

    out = []
    for g in grids:
        labels, n = ndimage.label((g > 0).numpy())
        if n and min_share > 0:
            sizes = ndimage.sum_labels(labels > 0, labels, index=range(1, n + 1))  # (n,) voxels per piece
            n = int((sizes >= min_share * sizes.sum()).sum())
        out.append(n)
    return torch.tensor(out, dtype=torch.long)


def shape_grids(shapes, res: int = 64) -> Tensor:
    """Exact occupancy of a shape set on a res³ grid as value grids (B, R, R, R): +1 inside, −1 outside."""

    return shapes.occupancy(make_grid(res, 3)).float().view(-1, res, res, res) * 2 - 1


def clouds_from_shapes(shapes, *, res: int = 64, n: int = 2048, seed: int = 0) -> Tensor:
    return clouds_from_grids(shape_grids(shapes, res), n, seed=seed)


@dataclass
class Report3D:
    name: str
    n: int
    mmd: float  # ×10³ (Chamfer on squared L2 of normalised clouds)
    cov: float
    nna: float
    novelty: float  # Chamfer novelty ratio (0 = copies of the shots)
    empty: float  # share of samples with no surface at all
    multi: float = float("nan")  # share of samples in more than one connected piece (floaters); nan: not counted


def report_3d(name: str, clouds: Tensor, shot_clouds: Tensor, ref_clouds: Tensor, *, d_rr: Tensor | None = None,
              ref_to_shots: float | None = None, parts: Tensor | None = None) -> Report3D:
    """The metrics of one set of sample clouds. d_rr (the reference's own Chamfer matrix) and ref_to_shots (the
    median Chamfer distance of the reference shapes to their nearest shot) are the same for every set scored against
    one reference and shots: pass them to compute them once (`reference_terms`). parts: each sample's connected
    pieces (count_parts), for the floater share."""
    m = shape_set_metrics(clouds, ref_clouds, d_rr=d_rr)
    c, s = normalize_clouds(clouds), normalize_clouds(shot_clouds)
    if ref_to_shots is None:
        ref_to_shots = reference_terms(ref_clouds, shot_clouds)[1]
    nov = float(chamfer_matrix(c, s).min(1).values.median() / ref_to_shots)
    empty = float((clouds.abs().amax(dim=(1, 2)) == 0).float().mean())
    multi = float("nan") if parts is None else float((parts > 1).float().mean())
    return Report3D(name, len(clouds), 1000 * m.mmd, m.cov, m.nna, nov, empty, multi)


def reference_terms(ref_clouds: Tensor, shot_clouds: Tensor | None = None) -> tuple[Tensor, float | None]:
    """What report_3d needs of the reference alone → (its Chamfer matrix (R, R), and with shots, the median Chamfer
    distance of the reference shapes to their nearest shot)."""
    r = normalize_clouds(ref_clouds)
    to_shots = None
    if shot_clouds is not None:
        to_shots = float(chamfer_matrix(r, normalize_clouds(shot_clouds)).min(1).values.median())
    return chamfer_matrix(r), to_shots


METRICS_3D = ("mmd", "cov", "nna", "novelty", "empty", "multi")


def evaluate_3d(model, zoo, *, category: int, k: int = 10, n: int = 32, gammas=(0.0, 0.3, 0.6), seeds=(0,),
                adapted=None, steps: int = SHAPES.steps, temperature: float = SHAPES.temperature,
                n_points: int = 2048, res: int = 64, refine_t0=(), progress: bool = True,
                label: str = "EquiGen (base)", command: str = "") -> dict:
    """Baselines (copies, interpolation, exact augmentations of the shots) and EquiGen at each γ (and the adapted
    model's, when given) against the category's held-out shapes, run by evaluation.runner → the same JSON as the
    image frontier: {"meta", "points", "summary"} (metrics METRICS_3D), plus "category", "k", "n", "seeds",
    "reference_shapes", "reference_multi" (the reference's own floater share), "seconds". refine_t0: also EquiGen
    refine (fewshot.refine: SDEdit from the exact augmentations of the shots) at each t0. label: the method name for
    `model` ("EquiGen (adapted)" when the only model given is an adapted one)."""

    spec = zoo.spec
    ref_shapes = ShapeDomain.of(zoo).reference_shapes(zoo, category)
    t_start = time.perf_counter()
    ref_grids = shape_grids(ref_shapes, res)
    ref = clouds_from_grids(ref_grids, n_points)
    # the floater share of the real held-out shapes: what 'multi' is for a category with detached parts
    ref_multi = float((count_parts(ref_grids, min_share=PIECE_SHARE) > 1).float().mean())
    d_rr = reference_terms(ref)[0]
    models = [(label, model)] + ([("EquiGen (adapted)", adapted)] if adapted is not None else [])

    def plan(seed, status):
        g = torch.Generator().manual_seed(seed)
        shots = shots_3d(zoo, category, k, seed=seed)
        shot_clouds = clouds_from_weights(spec, shots, n=n_points, res=res)
        to_shots = reference_terms(ref, shot_clouds)[1]  # per seed (the shots change); d_rr once for all seeds

        def step(method, family, knob, value, make) -> Step:
            def score():
                clouds, parts = shape_sets(spec, make(), n=n_points, res=res)
                rep = report_3d(method, clouds, shot_clouds, ref, d_rr=d_rr, ref_to_shots=to_shots, parts=parts)
                return {m: getattr(rep, m) for m in METRICS_3D}

            return Step(method, family, knob, value, score)

        pick = shots[torch.randint(0, len(shots), (n,), generator=g)]
        augmented = ShapeDomain.exact_augment(spec, pick, g)
        interpolated = interpolate_shots(shots, n, g)
        yield step("copies of the shots", "baseline", "", None, lambda: pick)
        yield step("interpolation of two shots", "baseline", "", None, lambda: interpolated)
        yield step("exact augmentations", "baseline", "", None, lambda: augmented)
        for name, m in models:
            for gamma in gammas:
                yield step(name, "equigen", "γ", float(gamma), lambda: generate(
                    m, shots, n, gamma=gamma, guidance=0.0, steps=steps, seed=seed, temperature=temperature).weights)
            for t0 in refine_t0:  # SDEdit from the augmented shots (the baseline above), conditioned on each one
                yield step(f"{name} refine", "equigen", "t0", int(t0), lambda: refine(
                    m, augmented, start_t=int(t0), guidance=0.0, steps=steps, seed=seed,
                    temperature=temperature).weights)

    per_seed = 3 + len(models) * (len(gammas) + len(refine_t0))
    points = run_protocol(plan, seeds, per_seed=per_seed, desc="3D protocol", progress=progress)
    seconds = round(time.perf_counter() - t_start, 1)
    meta = {**run_meta(command), "category": category, "k": k, "n": n, "seconds": seconds}
    return {"meta": meta, "category": category, "k": k, "n": n, "seeds": list(seeds),
            "reference_shapes": len(ref_shapes), "reference_multi": ref_multi, "seconds": seconds,
            "points": [asdict(p) for p in points],
            "summary": summarize(points)}
