"""Protocol v2 for shapes: K shots of a held-out category → samples → MMD / COV / 1-NNA, novelty, floaters.

    result = evaluate_3d(model, zoo, category=0, k=10, n=64, seeds=(0, 1, 2, 3, 4))

Shots: K INRs of the category from the zoo's training split (seeded draw). Reference: per seed, n *fresh* procedural
shapes of the category (the family is generated, not scarce: `fresh_shapes` takes the generator's next shapes after
the zoo's), as exact geometry, and a second disjoint fresh set of n is scored like samples: the real-vs-real ceiling.
Every set has n members and is turned into point clouds the same way: occupancy on a 64³ grid → marching cubes →
2,048 points on the surface (PointFlow / HyperDiffusion conventions: each cloud centred and scaled, Chamfer on squared
L2). Empty samples are counted apart and left out of MMD / COV / novelty (in 1-NNA they count as told apart).
Novelty in Chamfer distance: the median distance of samples to their nearest shot over the same for the reference
shapes (≈ 1 = as new as unseen shapes of the category; copies score well below 1, not 0, as their clouds are other
random points of the same surfaces). Floaters: the share of samples in more than one piece of ≥ 1 % of their volume;
every metric is also given after a largest-piece floater filter (render.largest_piece), the `_f` columns (the app
applies it only when ShapeDomain.floater_filter is on; it is off).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import Tensor

from equigen_core.data.shapes import CATEGORIES, make_shapes
from equigen_core.domains.shapes import ShapeDomain
from equigen_core.evaluation.frontier import run_meta
from equigen_core.evaluation.metrics import chamfer_matrix, metrics_from_distances, normalize_clouds, shape_set_metrics
from equigen_core.evaluation.protocol import draw_shots, interpolate_shots
from equigen_core.evaluation.runner import Step, run_protocol, summarize, t_halfwidth
from equigen_core.generation.fewshot import sample
from equigen_core.generation.span import span_starts
from equigen_core.presets import Sampling
from equigen_core.training.stage3 import FinetuneConfig, finetune
from equigen_core.weightspace.fit import FitConfig, fit_shapes
from equigen_core.weightspace.inr import make_grid
from equigen_core.weightspace.render import grid_to_mesh, largest_piece, occupancy_grids, sample_surface


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


def is_empty(clouds: Tensor) -> Tensor:
    """Which clouds (B, N, 3) stand for an empty shape (clouds_from_grids gives those all zeros) → (B,) bool."""
    return clouds.abs().amax(dim=(1, 2)) == 0


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
    empty = float(is_empty(clouds).float().mean())
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
# the same after the floater filter (render.largest_piece: each shape's largest piece)
FILTERED_3D = ("mmd_f", "cov_f", "nna_f", "novelty_f")
REAL = "real shapes (a second fresh set)"
REAL_INRS = "INRs of real shapes (the second set, fitted)"


@dataclass(frozen=True)
class SetContext:
    """What every set of one seed is scored against: the reference clouds (normalised), their own Chamfer matrix,
    the shots' clouds (normalised) and the reference's median Chamfer distance to its nearest shot."""

    ref: Tensor  # (R, N, 3)
    d_rr: Tensor  # (R, R)
    shots: Tensor  # (K, N, 3)
    ref_to_shots: float

    @classmethod
    def of(cls, ref_clouds: Tensor, shot_clouds: Tensor) -> "SetContext":
        r, s = normalize_clouds(ref_clouds), normalize_clouds(shot_clouds)
        return cls(r, chamfer_matrix(r), s, float(chamfer_matrix(r, s).min(1).values.median()))


@dataclass
class SetDistances:
    """The Chamfer matrices of one set of sample clouds against a SetContext (empty samples dropped)."""

    d_gr: Tensor  # (G', R) samples × reference
    d_gg: Tensor  # (G', G') samples × samples
    d_gs: Tensor  # (G', K) samples × shots
    empty: int  # how many samples were empty (all-zero clouds)

    @classmethod
    def of(cls, clouds: Tensor, ctx: SetContext) -> "SetDistances":
        empty = is_empty(clouds)
        g = normalize_clouds(clouds[~empty])
        if len(g) == 0:
            return cls(torch.zeros(0, len(ctx.ref)), torch.zeros(0, 0), torch.zeros(0, len(ctx.shots)), len(clouds))
        return cls(chamfer_matrix(g, ctx.ref), chamfer_matrix(g), chamfer_matrix(g, ctx.shots), int(empty.sum()))

    def updated(self, rows: Tensor, kept: Tensor, ctx: SetContext) -> "SetDistances":
        """The same set after the non-empty samples at `rows` (indices into the kept samples) were redrawn; kept: every
        non-empty sample's cloud as it is now (G', N, 3). Only the changed rows and columns are recomputed."""
        if len(rows) == 0:
            return self
        g = normalize_clouds(kept)
        c = g[rows]
        d_gr, d_gg, d_gs = self.d_gr.clone(), self.d_gg.clone(), self.d_gs.clone()
        d_gr[rows], d_gs[rows] = chamfer_matrix(c, ctx.ref), chamfer_matrix(c, ctx.shots)
        cross = chamfer_matrix(c, g)  # (r, G')
        d_gg[rows] = cross
        d_gg[:, rows] = cross.T
        return SetDistances(d_gr, d_gg, d_gs, self.empty)

    def metrics(self, ctx: SetContext) -> dict[str, float]:
        """MMD (×10³) / COV / 1-NNA / novelty (see `set_metrics`)."""
        if len(self.d_gr) == 0:
            return {"mmd": float("nan"), "cov": 0.0, "nna": 1.0, "novelty": float("nan")}
        m = metrics_from_distances(self.d_gr, self.d_gg, ctx.d_rr, told_apart=self.empty)
        return {"mmd": 1000 * m.mmd, "cov": m.cov, "nna": m.nna,
                "novelty": float(self.d_gs.min(1).values.median() / ctx.ref_to_shots)}


def set_metrics(clouds: Tensor, ctx: SetContext) -> dict[str, float]:
    """MMD (×10³) / COV / 1-NNA / novelty of sample clouds (G, N, 3) with the empty ones (all-zero clouds) set apart:
    MMD, COV and novelty use the non-empty samples only; in 1-NNA an empty sample counts as told apart (correctly
    classified) and is nobody's neighbour. With equal G and R a perfect sampler's 1-NNA is 0.5."""
    return SetDistances.of(clouds, ctx).metrics(ctx)


def score_grids(grids: Tensor, ctx: SetContext, *, n_points: int = 2048, seed: int = 0) -> dict[str, float]:
    """Every protocol-v2 metric of one set of value grids (B, R, R, R), inside > 0: METRICS_3D as drawn (empty:
    share with no surface; multi: share in more than one piece of ≥ PIECE_SHARE) and FILTERED_3D after the
    floater filter (only the samples the filter changes are redrawn and re-measured)."""
    parts = count_parts(grids, min_share=PIECE_SHARE)
    clouds = clouds_from_grids(grids, n_points, seed=seed)
    empty = is_empty(clouds)
    dist = SetDistances.of(clouds, ctx)
    kept = (~empty).nonzero().squeeze(1)  # sample index of each non-empty sample
    rows = (count_parts(grids[kept]) > 1).nonzero().squeeze(1)  # the ones the filter changes (any second piece)
    now = clouds[kept].clone()
    for r in rows.tolist():
        i = int(kept[r])
        now[r] = clouds_from_grids(largest_piece(grids[i : i + 1]), n_points, seed=seed + i)[0]
    filtered = dist.updated(rows, now, ctx).metrics(ctx)
    return {**dist.metrics(ctx), "empty": float(empty.float().mean()), "multi": float((parts > 1).float().mean()),
            **{f"{k}_f": v for k, v in filtered.items()}}


def fresh_shapes(zoo, category: int, count: int):
    """`count` procedural shapes of `category` that are not in the zoo (the generator's next indices after the
    zoo's per-category count, same seed) → data.shapes.ShapeSet. ValueError for a zoo not built from procedural
    shapes."""
    info = zoo.meta.get("shapes")
    if not info:
        raise ValueError("protocol v2 draws fresh reference shapes from the procedural family; this zoo was not built "
                         "from procedural shapes (no meta['shapes'])")
    names = list(CATEGORIES)
    start = int(info["per_category"])
    made = make_shapes(names[category], start + count, seed=int(info["seed"]))
    return made.select(torch.arange(start, start + count))


def evaluate_3d(model, zoo, *, category: int, k: int = 10, n: int = 64, seeds=(0, 1, 2, 3, 4),
                samplings: dict[str, Sampling] | None = None, adapt_steps: int = 0, n_points: int = 2048,
                res: int = 64, fit_reference: bool = False, only: Sequence[str] | None = None,
                progress: bool = True, command: str = "") -> dict:
    """Protocol v2 for shapes. Per seed: K shots from the zoo's training split; a reference of n fresh procedural
    shapes of the category and a second, disjoint fresh set of n scored as if it were samples (the real-vs-real
    ceiling); then baselines (copies, interpolation of two shots, exact augmentations, and for every span sampler
    what it starts from, with no model) and each sampler of `samplings` (name → presets.Sampling; default: the
    domain's default and from noise), each n samples. adapt_steps > 0: the from-noise lever — the model adapted to
    each seed's shots by stage 3 for that many steps, once on the shots and once on their span (Dirichlet mixtures
    of 3 shots, FinetuneConfig.mix: equal CPU time), each sampled from noise. Metrics: METRICS_3D and FILTERED_3D
    (score_grids) → {"meta", "points", "summary", ...} as the image frontier (evaluation.runner), with t-based 95 %
    intervals over seeds in the summary. fit_reference: also the second fresh set fitted as INRs from the zoo's
    shared init with the zoo's recipe (what a generator that drew real shapes as INRs would score: the INR ceiling).
    only: run just the rows of these method names (the per-seed reference is still drawn)."""
    spec = zoo.spec
    default = ShapeDomain.default_sampling()
    samplings = samplings or {"EquiGen (default)": default,
                              "EquiGen (from noise)": default.replace(sampler="noise", gamma=0.3)}
    blocks = fresh_shapes(zoo, category, 2 * n * len(seeds))
    t_start = time.perf_counter()

    def plan(seed, status):
        g = torch.Generator().manual_seed(seed)
        i = list(seeds).index(seed)
        ref_grids = shape_grids(blocks.select(torch.arange(2 * i * n, (2 * i + 1) * n)), res)
        real_grids = shape_grids(blocks.select(torch.arange((2 * i + 1) * n, (2 * i + 2) * n)), res)
        shots = shots_3d(zoo, category, k, seed=seed)
        ctx = SetContext.of(clouds_from_grids(ref_grids, n_points),
                            clouds_from_weights(spec, shots, n=n_points, res=res))

        def step(method, family, make, knob="", value=None) -> Step | None:
            if only is not None and method not in only:
                return None
            return Step(method, family, knob, value, lambda: score_grids(
                make() if method == REAL else occupancy_grids(spec, make(), res), ctx, n_points=n_points))

        yield step(REAL, "reference", lambda: real_grids)
        if fit_reference:
            yield step(REAL_INRS, "reference", lambda: fit_shapes(
                spec, blocks.select(torch.arange((2 * i + 1) * n, (2 * i + 2) * n)), FitConfig(**fit_cfg),
                points=int(zoo.meta.get("points", 2048)), rounds=int(zoo.meta.get("rounds", 50)), seed=seed,
                init_weights=None if zoo.init is None else zoo.init.reshape(1, -1), progress=False).weights)
        pick = shots[torch.randint(0, len(shots), (n,), generator=g)]
        yield step("copies of the shots", "baseline", lambda: pick)
        yield step("interpolation of two shots", "baseline", lambda: interpolate_shots(shots, n, g))
        yield step("exact augmentations", "baseline", lambda: ShapeDomain.exact_augment(spec, pick, g))
        for key in dict.fromkeys((s.gamma, s.mix, s.augment) for s in samplings.values() if s.sampler == "span"):
            gamma, mix, aug = key
            yield step(f"mixing + augmentation (γ={gamma:g}, mix={mix}, augment={aug:g})", "baseline",
                       lambda gamma=gamma, mix=mix, aug=aug: span_starts(
                           spec, shots, n, gamma=gamma, mix=mix, augment=aug,
                           generator=torch.Generator().manual_seed(seed))[0])
        for name, s in samplings.items():
            yield step(name, "equigen", lambda s=s: sample(model, shots, n, s, seed=seed).weights)
        noise = next((s for s in samplings.values() if s.sampler == "noise"), default.replace(sampler="noise"))
        for what, mix in (("the shots", 1), ("their span", 3)) if adapt_steps else ():
            status(f"stage-3 adaptation on {what}")
            cfg = FinetuneConfig(steps=adapt_steps, eval_every=max(1, adapt_steps // 12), seed=seed, mix=mix)
            ft = finetune(model.path, shots, zoo, cfg, progress=False)
            tuned = dataclasses.replace(model, denoiser=ft.model)
            yield step(f"EquiGen adapted on {what} (from noise)", "equigen",
                       lambda tuned=tuned: sample(tuned, shots, n, noise, seed=seed).weights)

    n_span = len({(s.gamma, s.mix, s.augment) for s in samplings.values() if s.sampler == "span"})
    per_seed = 4 + fit_reference + n_span + len(samplings) + 2 * (adapt_steps > 0)
    per_seed = per_seed if only is None else len(only)
    fit_cfg = {k: (tuple(v) if isinstance(v, list) else v) for k, v in zoo.meta.get("fit", {}).items()}
    points = run_protocol(lambda seed, status: (st for st in plan(seed, status) if st is not None), seeds,
                          per_seed=per_seed, desc="3D protocol v2", progress=progress)
    seconds = round(time.perf_counter() - t_start, 1)
    meta = {**run_meta(command), "protocol": 2, "category": category, "k": k, "n": n, "seconds": seconds,
            "samplings": {name: s.to_dict() for name, s in samplings.items()}}
    return {"meta": meta, "category": category, "k": k, "n": n, "seeds": list(seeds), "reference_shapes": n,
            "seconds": seconds, "points": [asdict(p) for p in points], "summary": summarize(points)}


def checks_3d(data: dict, method: str, *, filtered: bool) -> list[tuple[str, bool, str]]:
    """The shape protocol's bar for one method of an evaluate_3d result, as drawn or after the floater filter →
    (criterion, met, the figures) per line: MMD at or below interpolation's, COV at or above it, 1-NNA ≤ 0.75, the
    floater share within 0.10 of the real shapes', novelty above the copies' by more than the paired 95 % interval,
    and which cheap baselines are ahead on MMD and COV at once (paired over seeds, beyond the interval)."""
    by: dict[tuple[str, int], dict] = {(p["method"], p["seed"]): p["metrics"] for p in data["points"]}
    seeds = sorted({s for m, s in by if m == method})
    sfx = "_f" if filtered else ""

    def vals(m: str, k: str) -> list[float]:
        return [by[(m, s)][k] for s in seeds if (m, s) in by]

    def paired(k: str, other: str) -> tuple[float, float]:
        d = [a - b for a, b in zip(vals(method, k), vals(other, k))]
        return sum(d) / len(d), t_halfwidth(d)

    mean = {k: sum(vals(method, k)) / len(seeds) for k in ("mmd" + sfx, "cov" + sfx, "nna" + sfx, "novelty" + sfx)}
    interp = "interpolation of two shots"
    d_mmd, ci_mmd = paired("mmd" + sfx, interp)
    d_cov, ci_cov = paired("cov" + sfx, interp)
    d_nov, ci_nov = paired("novelty" + sfx, "copies of the shots")
    real = sum(vals(REAL, "multi")) / len(seeds)
    shown = 0.0 if filtered else sum(vals(method, "multi")) / len(seeds)  # the filter leaves one piece per sample
    ahead = [b for b in dict.fromkeys(m for m, _ in by) if b != method and b.startswith(
        ("copies", "interpolation", "exact", "mixing")) and _beyond(paired("mmd" + sfx, b), below=False)
        and _beyond(paired("cov" + sfx, b), below=True)]
    return [
        ("MMD at or below interpolation's", d_mmd <= 0, f"{mean['mmd' + sfx]:.2f}; paired difference "
                                                         f"{d_mmd:+.2f} ± {ci_mmd:.2f}"),
        ("COV at or above interpolation's", d_cov >= 0, f"{mean['cov' + sfx]:.2f}; paired difference "
                                                        f"{d_cov:+.2f} ± {ci_cov:.2f}"),
        ("1-NNA ≤ 0.75", mean["nna" + sfx] <= 0.75, f"{mean['nna' + sfx]:.2f}"),
        ("floaters within 0.10 of the real shapes'", abs(shown - real) <= 0.10,
         f"{shown:.2f} against {real:.2f}" + (" (the filter leaves every shape in one piece)" if filtered else "")),
        ("novelty above the copies' by more than the interval", d_nov > ci_nov,
         f"{mean['novelty' + sfx]:.2f}; paired difference {d_nov:+.2f} ± {ci_nov:.2f}"),
        ("no cheap baseline ahead on MMD and COV at once", not ahead, ", ".join(ahead) or "none"),
    ]


def _beyond(diff: tuple[float, float], *, below: bool) -> bool:
    """A paired difference (mean, 95 % half-width) of method − baseline is beyond its interval: below 0 (the
    baseline is ahead on a higher-is-better metric) or above it (ahead on a lower-is-better one)."""
    d, ci = diff
    return d < -ci if below else d > ci
