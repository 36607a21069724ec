"""What only shapes need in the app, as plain functions over the library (no Gradio here): meshes (GLB), turntables,
Chamfer readouts and the 3D trade-off. Candidates and streamed sampling are service.studio's, for every domain
(Studio.candidates, generate_stream); the names below for them are kept for the 3D tab and older callers.

    studio = Studio.load("checkpoints/shapes", classifier=None)      # shape gallery + occupancy diffusion models
    w, thumbs = shape_candidates(studio, 0)                          # targets of the held-out category (airplane)
    for item in generate_stream_3d(studio.model("diffusion_airplane"), w[:10], n=8, steps=50):
        ...                                                          # ShapeFrame (low-res x̂0 views), then Done
    final = finish_samples(studio.spec, item.value.weights, "out/")  # views, GLB files, empty flags

Shapes are occupancy INRs (3→…→1 logits, inside > 0). Every picture comes from the GL-free ray caster over an
occupancy grid (render.raycast_views), so nothing here needs OpenGL; the turntable tries pyrender first.
Readouts replace the 2D classifier by a nearest-neighbour one in Chamfer distance: the category of the nearest
gallery shape, and the distance to the nearest target (a copy scores ≈ 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence

import torch
from torch import Tensor

from equigen_core.data import DataError
from equigen_core.data.meshes import MESH_EXTS, MeshSet, load_mesh
from equigen_core.domains.shapes import ShapeDomain
from equigen_core.evaluation.metrics import chamfer_matrix, normalize_clouds
from equigen_core.evaluation.protocol import interpolate_shots
from equigen_core.evaluation.protocol3d import (
    SetContext,
    clouds_from_grids,
    clouds_from_weights,
    fresh_shapes,
    is_empty,
    score_grids,
    shape_grids,
)
from equigen_core.evaluation.runner import trend_verdict
from equigen_core.generation.fewshot import FewShotModel
from equigen_core.generation.span import span_starts
from equigen_core.presets import Sampling
from equigen_core.service.jobs import Done
from equigen_core.service.studio import (  # noqa: F401
    Frame,
    Studio,
    StudioError,
    augmented_starts,
    check_request,
    generate_stream,
    sample,
    sampling_of,
)
from equigen_core.weightspace.fit import OCCUPANCY_POINTS, OCCUPANCY_ROUNDS, fit_shapes
from equigen_core.weightspace.inr import SirenSpec
from equigen_core.weightspace.render import (
    grid_to_mesh,
    occupancy_grids,
    raycast_views,
    shape_views,
    turntable_gif,
    write_glb,
)

PREVIEW_RES, PREVIEW_SIZE = ShapeDomain.live_res, ShapeDomain.live_size  # the live x̂0 previews: 24³ grid, 96 px
FINAL_RES, VIEW_SIZE = ShapeDomain.final_res, ShapeDomain.final_size  # final samples and thumbnails: 64³ (as the
# metrics; marching cubes → GLB), 128 px
READOUT_RES, READOUT_POINTS = 40, 1024  # clouds for the app's Chamfer readouts (the protocol uses 64³ / 2,048)


def is_3d(spec: SirenSpec) -> bool:
    return spec.in_dim == 3 and spec.out_dim == 1


def _check_3d(studio: Studio) -> None:
    if not is_3d(studio.spec):
        raise StudioError(f"{studio.root}: not a shape gallery (INR spec {studio.spec}); load checkpoints/shapes")


def category_names(studio: Studio) -> list[str]:
    """The names the gallery's labels index (domains.shapes: data.shapes.CATEGORIES for procedural zoos)."""
    return list(studio.domain.class_names)


def category_index(studio: Studio, category: str | int) -> int:
    return studio.class_index(category)


def categories(studio: Studio) -> list[str]:
    """Names of the categories the gallery has shapes of."""
    names = category_names(studio)
    return [names[c] for c in studio.classes()]


# ----------------------------------------------------------------------------------------------------------------------
# Pictures


def grids(spec: SirenSpec, weights: Tensor, res: int) -> Tensor:
    """Occupancy logits of B INRs on a res³ grid → (B, res, res, res), as shown: floaters filtered out when
    ShapeDomain.floater_filter is on (each shape's largest piece)."""

    return occupancy_grids(spec, weights, res, largest=ShapeDomain.floater_filter)


def views(spec: SirenSpec, weights: Tensor, *, res: int = FINAL_RES, size: int = VIEW_SIZE) -> Tensor:
    """Shaded ray-cast views of B occupancy INRs → (B, 3, size, size) in [0, 1] (white where nothing is hit), as
    shown (see `grids`)."""

    return shape_views(spec, weights, res=res, size=size, largest=ShapeDomain.floater_filter)


def shape_candidates(studio: Studio, category: str | int, uploads: dict | None = None) -> tuple[Tensor, Tensor]:
    """Gallery INRs of one category, then a session's fitted mesh uploads → (weights (M, P), thumbnails
    (M, 3, S, S)); Studio.candidates, for shapes."""
    _check_3d(studio)
    return studio.candidates(category, uploads)


# ----------------------------------------------------------------------------------------------------------------------
# Targets from uploaded meshes

MAX_MESH_UPLOADS = 8
MAX_MESH_UPLOAD_BYTES = 20 * 2**20  # 20 MB per file


def meshes_from_files(paths: Sequence[str | Path]):
    """Uploaded mesh files → data.meshes.MeshSet (normalised to [-0.9, 0.9]³); checked by extension, size (≤ 20 MB),
    count (≤ 8) and content (trimesh must find triangles). Not watertight: accepted, its inside is then guessed by
    the occupancy test (open3d, or the winding number)."""

    if not paths:
        raise StudioError("no meshes uploaded")
    if len(paths) > MAX_MESH_UPLOADS:
        raise StudioError(f"{len(paths)} meshes uploaded; at most {MAX_MESH_UPLOADS} at a time")
    meshes = []
    for p in map(Path, paths):
        if p.suffix.lower() not in MESH_EXTS:
            raise StudioError(f"{p.name}: not a mesh file; upload one of {', '.join(MESH_EXTS)}")
        if p.stat().st_size > MAX_MESH_UPLOAD_BYTES:
            raise StudioError(f"{p.name}: {p.stat().st_size / 2**20:.1f} MB; at most "
                              f"{MAX_MESH_UPLOAD_BYTES // 2**20} MB per mesh")
        try:
            meshes.append(load_mesh(p))
        except DataError as e:
            raise StudioError(f"{p.name}: {e}") from e
    return MeshSet(meshes, torch.zeros(len(meshes), dtype=torch.long), ["upload"])


def fit_mesh_targets(studio: Studio, meshes, *, on_progress: Callable[[int, int, float], None] | None = None
                     ) -> Tensor:
    """Fit one occupancy INR per mesh with the gallery's recipe (its fit config, points and rounds) from its shared
    init, so the targets are aligned with the training zoo → weights (K, P). on_progress(done, total, mean PSNR)."""

    _check_3d(studio)
    meta = studio.gallery.meta
    init = studio.fit_init

    def cb(p):
        if on_progress is not None:
            on_progress(p.done, p.total, float(p.mean_psnr_done))

    return fit_shapes(studio.spec, meshes, studio.fit_config(), points=int(meta.get("points", OCCUPANCY_POINTS)),
                      rounds=int(meta.get("rounds", OCCUPANCY_ROUNDS)), progress=False, callback=cb,
                      init_weights=None if init is None else init.reshape(1, -1)).weights


# ----------------------------------------------------------------------------------------------------------------------
# Generation, streamed (service.studio.generate_stream, which pictures each domain its own way)

ShapeFrame = Frame  # its pictures are `.views` (= `.images`)


def sample_shapes(model: FewShotModel, targets: Tensor, *, n: int, sampling: Sampling | None = None, seed: int = 0,
                  mode: Literal["per-target", "set"] = "per-target", on_step=None, **knobs):
    """n occupancy INRs from K targets (service.studio.sample: one Sampling, the shape domain's defaults, then
    `sampling`, then the knobs given) → fewshot.GenerationResult."""
    return sample(model, targets, n=n, sampling=sampling, seed=seed, mode=mode, on_step=on_step, **knobs)


def check_request_3d(k: int, n: int) -> None:
    """What a 3D request may ask: the studio's K bound and at most 32 shapes."""
    check_request(k, n)
    if n > 32:
        raise StudioError(f"at most 32 shapes per run in 3D, got {n}")


def generate_stream_3d(model: FewShotModel, targets: Tensor, *, n: int = 8, previews: int = 10,
                       **knobs) -> Iterator[Frame | Done]:
    """service.studio.generate_stream for a shape model, with the 3D tab's bound (n ≤ 32): about `previews` frames
    of low-resolution views, then Done(GenerationResult)."""
    if not is_3d(model.spec):
        raise StudioError(f"{model.path}: a {model.spec.in_dim}D model; pick a shape (3D) checkpoint")
    check_request_3d(len(targets), n)
    yield from generate_stream(model, targets, n=n, previews=previews, **knobs)


@dataclass
class ShapeSamples:
    views: Tensor  # (n, 3, S, S) ray-cast views of the FINAL_RES³ occupancy
    glbs: list[Path | None]  # one GLB per sample (None: no surface at all)
    faces: list[int]  # triangles per mesh (0: empty)


@torch.no_grad()
def finish_samples(spec: SirenSpec, weights: Tensor, out_dir: str | Path, *, res: int = FINAL_RES,
                   size: int = VIEW_SIZE) -> ShapeSamples:
    """Final samples → views, and marching cubes → sample_{i}.glb under out_dir."""

    out_dir = Path(out_dir)
    g = grids(spec, weights, res)
    v = torch.cat([raycast_views(g[i : i + 8], size=size) for i in range(0, len(g), 8)])
    glbs, faces = [], []
    for i, grid in enumerate(g):
        mesh = grid_to_mesh(grid, 0.0)
        glbs.append(write_glb(mesh, out_dir / f"sample_{i:02d}.glb") if mesh is not None else None)
        faces.append(0 if mesh is None else len(mesh[1]))
    return ShapeSamples(v, glbs, faces)


def turntable(spec: SirenSpec, weights: Tensor, path: str | Path, *, res: int = FINAL_RES, frames: int = 24,
              size: int = 160, use_gl: bool = True) -> tuple[Path, str]:
    """A turntable GIF of one occupancy INR (P,) → (path, renderer used: "pyrender" or "raycast")."""

    return turntable_gif(grids(spec, weights.reshape(1, -1), res)[0], path, frames=frames, size=size, use_gl=use_gl)


# ----------------------------------------------------------------------------------------------------------------------
# Readouts: nearest neighbours in Chamfer distance


def clouds(spec: SirenSpec, weights: Tensor, *, res: int = READOUT_RES, n: int = READOUT_POINTS) -> Tensor:
    """Surface point clouds (B, n, 3), normalised (centred, unit ball); an empty shape gives zeros."""

    return normalize_clouds(clouds_from_weights(spec, weights, res=res, n=n))


def gallery_clouds(studio: Studio) -> Tensor:
    if "clouds" not in studio.cache:
        studio.cache["clouds"] = clouds(studio.spec, studio.gallery.weights)
    return studio.cache["clouds"]


@dataclass
class ShapeReadout:
    category: str | None  # the category of the nearest gallery shape (None: no surface)
    nearest_target: float  # Chamfer ×10³ to the nearest target (≈ 0: a copy)
    empty: bool


@dataclass
class ShapeReadouts:
    rows: list[ShapeReadout]
    reference: float | None  # median Chamfer ×10³ of the category's other gallery shapes to the nearest target

    def summary(self, category: str) -> str:
        full = [r for r in self.rows if not r.empty]
        hits = sum(r.category == category for r in full)
        s = f"nearest gallery shape: {category} for {hits}/{len(self.rows)}"
        if len(full) < len(self.rows):
            s += f" ({len(self.rows) - len(full)} empty)"
        if full:
            med = sorted(r.nearest_target for r in full)[len(full) // 2]
            s += f"; median Chamfer×10³ to the nearest target {med:.1f}"
            if self.reference:
                s += f" (unseen {category}s of the gallery: {self.reference:.1f}; a copy: ≈ 0)"
        return s


@torch.no_grad()
def _is_one_of(weights: Tensor, targets: Tensor) -> Tensor:
    """(N,) bool: which rows of weights (N, P) equal a row of targets (K, P). Compared directly, not with the matmul
    form of torch.cdist, whose rounding at P ≈ 9k puts identical vectors ~1e-3 apart."""
    hit = torch.zeros(len(weights), dtype=torch.bool)
    for t in targets:  # one target at a time: N × P memory, not N × K × P
        hit |= (weights - t).abs().amax(-1) < 1e-6
    return hit


def shape_readouts(studio: Studio, weights: Tensor, targets: Tensor, category: str | int) -> ShapeReadouts:
    """Per sample: the category of its nearest gallery shape, and its Chamfer distance to the nearest target."""

    _check_3d(studio)
    c = category_index(studio, category)
    names = category_names(studio)
    cs, ct, cg = clouds(studio.spec, weights), clouds(studio.spec, targets), gallery_clouds(studio)
    empty = is_empty(cs).tolist()
    nearest = chamfer_matrix(cs, cg).argmin(1)
    d_t = chamfer_matrix(cs, ct).min(1).values * 1000
    # the category's gallery shapes that are not targets: how far unseen members are from the targets
    same = studio.gallery.labels == c
    is_target = _is_one_of(studio.gallery.weights, targets)
    others = cg[same & ~is_target]
    ref = float((chamfer_matrix(others, ct).min(1).values * 1000).median()) if len(others) else None
    rows = [ShapeReadout(None if e else names[int(studio.gallery.labels[j])], float(d), bool(e))
            for e, j, d in zip(empty, nearest, d_t)]
    return ShapeReadouts(rows, ref)


# ----------------------------------------------------------------------------------------------------------------------
# The γ sweep in 3D (Trade-off tab)


@dataclass
class Tradeoff3D:
    rows: list[dict]  # {"method", "knob", "value", and protocol3d.score_grids' metrics} per point
    reference: str  # what the metrics compare against
    verdict: str


def tradeoff_3d(studio: Studio, model: FewShotModel, targets: Tensor, category: str | int, *,
                gammas: Sequence[float] = (0.0, 0.3, 0.6, 1.0), n: int = 16, sampling: Sampling | None = None,
                seed: int = 0, refine_t0: Sequence[int] = (100, 200, 300), res: int = READOUT_RES,
                points: int = READOUT_POINTS, mode: Literal["per-target", "set"] = "per-target",
                on_progress: Callable[[int, int, str], None] | None = None, **knobs) -> Tradeoff3D:
    """Protocol v2's metrics (protocol3d.score_grids: MMD / COV / 1-NNA against as many shapes of the category as
    samples, empties apart, floaters counted, and each again after the floater filter) and Chamfer novelty for one
    sampler at each γ (and, for a sampler that starts from t0, at each t0 of `refine_t0`), beside the cheap baselines
    on the same targets — for the span sampler, also what it starts from. The sampler and every other knob are one
    Sampling (studio.sampling_of: the domain's defaults, `sampling`, then the knobs given — the app passes its
    Generate tab's): each row varies one knob."""

    _check_3d(studio)
    c = category_index(studio, category)
    name = category_names(studio)[c]
    if len(targets) < 2:
        raise StudioError("the trade-off needs at least 2 targets (a baseline interpolates between them)")
    if not gammas or any(g < 0 for g in gammas):
        raise StudioError(f"γ values must be ≥ 0, got {list(gammas)}")
    if studio.gallery.meta.get("shapes"):  # procedural: n fresh exact shapes of the category, never in the zoo
        ref = clouds_from_grids(shape_grids(fresh_shapes(studio.gallery, c, n), res), points)
        ref_text = f"{n} fresh procedural {name}s (exact geometry, not in the zoo)"
    else:
        same = studio.gallery.select(studio.gallery.labels == c)
        keep = ~_is_one_of(same.weights, targets)
        if int(keep.sum()) < 2:
            raise StudioError(f"the gallery has fewer than 2 {name} shapes that are not targets: deselect some")
        ref = clouds_from_weights(studio.spec, same.weights[keep], res=res, n=points)
        ref_text = f"the gallery's {int(keep.sum())} other {name} shapes"
    spec = model.spec
    ctx = SetContext.of(ref, clouds_from_weights(spec, targets, res=res, n=points))
    g = torch.Generator().manual_seed(seed)
    pick = targets[torch.randint(0, len(targets), (n,), generator=g)]
    s = sampling_of(model.spec, sampling, **knobs)
    method = {"noise": "EquiGen from noise", "augment": "EquiGen refine (SDEdit from augmented targets)",
              "span": "EquiGen span (mixtures + moves of the targets)"}[s.sampler]
    jobs = [(f"γ = {x:g}", method, "γ", float(x), lambda x=x: sample_shapes(
        model, targets, n=n, sampling=s, gamma=float(x), seed=seed, mode=mode).weights) for x in gammas]
    if s.sampler != "noise":  # a sampler that starts from t0: t0 is its second knob, swept at the sampling's γ
        jobs += [(f"t0 = {t}", method, "t0", int(t), lambda t=t: sample_shapes(
            model, targets, n=n, sampling=s, t0=int(t), seed=seed, mode=mode).weights) for t in refine_t0]
    jobs += [("baselines", "copies of the targets", "", None, lambda: pick),
             ("baselines", "interpolation of two targets", "", None, lambda: interpolate_shots(targets, n, g)),
             ("baselines", "exact augmentations", "", None, lambda: augmented_starts(spec, targets, n, seed=seed))]
    if s.sampler == "span":  # what the span sampler starts from, with no model
        jobs.append(("baselines", "mixing + augmentation (no model)", "", None, lambda: span_starts(
            spec, targets, n, gamma=s.gamma, mix=s.mix, augment=s.augment,
            generator=torch.Generator().manual_seed(seed))[0]))
    rows = []
    for i, (what, method, knob, value, make) in enumerate(jobs):
        if on_progress:
            on_progress(i, len(jobs), what)
        rows.append({"method": method, "knob": knob, "value": value,
                     **score_grids(occupancy_grids(spec, make(), res), ctx, n_points=points)})  # raw: both ways
    return Tradeoff3D(rows, ref_text, _verdict_3d([r for r in rows if r["knob"] == "γ"]))


def _verdict_3d(rows: list[dict]) -> str:
    return trend_verdict([{"mean": r} for r in rows], [("novelty", "novelty"), ("mmd", "MMD (higher is worse)"),
                                                         ("cov", "COV")],
                         agrees=lambda t: t["novelty"] == "rises" and t["mmd"] == "rises",
                         claim="the paper's claim that γ trades quality for diversity")


__all__ = ["ShapeFrame", "ShapeReadout", "ShapeReadouts", "ShapeSamples", "Tradeoff3D", "augmented_starts",
           "categories", "category_index", "category_names", "finish_samples", "generate_stream_3d", "is_3d",
           "sample_shapes", "shape_candidates", "shape_readouts", "tradeoff_3d", "turntable", "views", "Done"]
