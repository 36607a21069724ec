"""Procedural 3D shapes with exact occupancy: a ShapeNet-like family built from primitives (no download).

    shapes = make_shapes("airplane", 100, seed=0)     # ShapeSet: 100 airplanes, deterministic per (category, seed)
    occ = shapes.occupancy(points)                     # (100, N) bool for points (N, 3) or (100, N, 3) in [-1, 1]³
    pts, occ = shapes.training_points(4096)  # half near the surface, half uniform → (100, 4096, 3), (100, 4096)

Every shape is a union of primitives — boxes, ellipsoids, cylinders and cone frustums, axis-aligned — with randomised
proportions and optional parts (engines, armrests, spoilers, …), so a category has real variety; occupancy is evaluated
exactly from the primitives. Axes: y up, z forward (nose / front at +z). Each shape is scaled so its bounding box fits
[-0.9, 0.9]³ (longest side 1.8), centred at the origin, as ShapeNet models are normalised to the unit cube.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from equigen_core.data.types import DataError

BOX, ELLIPSOID, CYLINDER, FRUSTUM = 0, 1, 2, 3
EXTENT = 0.9  # half of the longest side after normalisation

# A primitive row: kind, centre (3), half-extents (3), axis (0 x / 1 y / 2 z; cylinders and frustums), taper (frustum:
# radius at the +axis end over the radius at the −axis end). → 9 floats
ROW = 9


@dataclass
class ShapeSet:
    """B shapes of one or more categories: primitives (B, M, 9) padded with kind = -1, and labels (B,)."""

    prims: Tensor  # (B, M, 9) float32
    labels: Tensor  # (B,) long, index into class_names
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, idx: Tensor) -> "ShapeSet":
        return ShapeSet(self.prims[idx], self.labels[idx], self.class_names)

    def occupancy(self, points: Tensor) -> Tensor:
        """Inside-test of points (N, 3) shared by all shapes, or (B, N, 3) per shape → (B, N) bool."""
        return occupancy(self.prims, points)

    def training_points(self, n: int, *, near_share: float = 0.5, sigma: float = 0.02, seed: int = 0
                        ) -> tuple[Tensor, Tensor]:
        """n points per shape, `near_share` of them near the surface (surface samples + N(0, σ²)), the rest uniform
        in [-1, 1]³, with exact occupancy labels → (B, n, 3), (B, n) float {0, 1}."""
        g = torch.Generator().manual_seed(seed)
        b = len(self)
        n_near = int(round(n * near_share))
        near = surface_samples(self.prims, n_near, generator=g) + sigma * torch.randn(b, n_near, 3, generator=g)
        uniform = torch.rand(b, n - n_near, 3, generator=g) * 2 - 1
        pts = torch.cat([near.clamp(-1, 1), uniform], dim=1)
        return pts, self.occupancy(pts).float()


def concat(sets: list[ShapeSet]) -> ShapeSet:
    m = max(s.prims.shape[1] for s in sets)
    prims = torch.cat([torch.nn.functional.pad(s.prims, (0, 0, 0, m - s.prims.shape[1]), value=-1.0) for s in sets])
    names = sets[0].class_names
    if any(s.class_names != names for s in sets):
        raise DataError("shape sets with different class lists cannot be concatenated")
    return ShapeSet(prims, torch.cat([s.labels for s in sets]), names)


# ----------------------------------------------------------------------------------------------------------------------
# Exact occupancy and surface sampling


def occupancy(prims: Tensor, points: Tensor, budget: int = 1 << 22) -> Tensor:
    """prims (B, M, 9), points (N, 3) or (B, N, 3) → (B, N) bool: inside any primitive. Works in chunks of shapes
    and points so no intermediate holds more than `budget` (shape, point, primitive) triples."""
    b, m = prims.shape[:2]
    if points.dim() == 2:
        points = points.unsqueeze(0).expand(b, -1, -1)
    out = torch.empty(b, points.shape[1], dtype=torch.bool)
    per = max(1, budget // max(1, m))  # (shape, point) pairs per chunk
    bs = max(1, min(b, per // max(1, points.shape[1])))
    for i in range(0, b, bs):
        ns = max(1, per // (min(bs, b - i)))
        for j in range(0, points.shape[1], ns):
            out[i : i + bs, j : j + ns] = _inside(prims[i : i + bs], points[i : i + bs, j : j + ns]).any(dim=2)
    return out


def _inside(prims: Tensor, pts: Tensor) -> Tensor:
    """(B, M, 9), (B, N, 3) → (B, N, M) bool."""
    kind = prims[..., 0].unsqueeze(1)  # (B, 1, M)
    c, h = prims[..., 1:4].unsqueeze(1), prims[..., 4:7].unsqueeze(1).clamp_min(1e-6)  # (B, 1, M, 3)
    axis = prims[..., 7].long().clamp(0, 2).unsqueeze(1)  # (B, 1, M)
    taper = prims[..., 8].unsqueeze(1)
    d = (pts.unsqueeze(2) - c) / h  # (B, N, M, 3) normalised offsets
    box = (d.abs() <= 1).all(dim=-1)
    ell = d.pow(2).sum(-1) <= 1
    along = d.gather(-1, axis.unsqueeze(-1).expand(*d.shape[:-1], 1)).squeeze(-1)  # (B, N, M) offset on the axis
    radial = d.pow(2).sum(-1) - along.pow(2)  # squared normalised distance from the axis
    cyl = (along.abs() <= 1) & (radial <= 1)
    scale = 1 + (taper - 1) * (along + 1) / 2  # 1 at the −axis end, taper at the +axis end
    fru = (along.abs() <= 1) & (radial <= scale.pow(2))
    res = torch.where(kind == BOX, box, torch.where(kind == ELLIPSOID, ell, torch.where(kind == CYLINDER, cyl, fru)))
    return res & (kind >= 0)


def surface_samples(prims: Tensor, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """n points per shape on the surfaces of its primitives (chosen in proportion to an area estimate; points inside
    other primitives are kept — their noisy neighbours are labelled exactly anyway) → (B, n, 3)."""
    b, m, _ = prims.shape
    valid = prims[..., 0] >= 0
    h = prims[..., 4:7].clamp_min(1e-6)
    area = (h[..., 0] * h[..., 1] + h[..., 1] * h[..., 2] + h[..., 0] * h[..., 2]) * valid  # (B, M) rough
    which = torch.multinomial(area / area.sum(1, keepdim=True), n, replacement=True, generator=generator)  # (B, n)
    p = torch.gather(prims, 1, which.unsqueeze(-1).expand(-1, -1, ROW))  # (B, n, 9)
    kind, c, hh, axis, taper = p[..., 0], p[..., 1:4], p[..., 4:7], p[..., 7].long().clamp(0, 2), p[..., 8]
    # a random direction, pushed onto the unit box / sphere / cylinder in normalised coordinates
    u = torch.randn(b, n, 3, generator=generator)
    sphere = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    cube = u / u.abs().amax(dim=-1, keepdim=True).clamp_min(1e-9)
    along = torch.rand(b, n, generator=generator) * 2 - 1
    ang = torch.rand(b, n, generator=generator) * 2 * math.pi
    cap = torch.rand(b, n, generator=generator) < 0.25  # a quarter of the samples on the end caps
    r = torch.where(cap, torch.rand(b, n, generator=generator).sqrt(), torch.ones(b, n))
    along = torch.where(cap, torch.sign(along), along)
    scale = torch.where(kind == FRUSTUM, 1 + (taper - 1) * (along + 1) / 2, torch.ones_like(along))
    e1, e2 = r * scale * torch.cos(ang), r * scale * torch.sin(ang)
    cyl = torch.zeros(b, n, 3)
    cyl.scatter_(-1, axis.unsqueeze(-1), along.unsqueeze(-1))
    other1, other2 = (axis + 1) % 3, (axis + 2) % 3
    cyl.scatter_(-1, other1.unsqueeze(-1), e1.unsqueeze(-1))
    cyl.scatter_(-1, other2.unsqueeze(-1), e2.unsqueeze(-1))
    k = kind.unsqueeze(-1)
    unit = torch.where(k == BOX, cube, torch.where(k == ELLIPSOID, sphere, cyl))
    return c + unit * hh


# ----------------------------------------------------------------------------------------------------------------------
# The categories: each a function (rng) → list of primitive rows (before normalisation)


class _Rng:
    def __init__(self, g: torch.Generator):
        self.g = g

    def u(self, a: float, b: float) -> float:
        return a + (b - a) * float(torch.rand((), generator=self.g))

    def coin(self, p: float = 0.5) -> bool:
        return float(torch.rand((), generator=self.g)) < p

    def choice(self, options):
        return options[int(torch.randint(0, len(options), (), generator=self.g))]


def _p(kind, c, h, axis=0, taper=1.0) -> list[float]:
    return [float(kind), *map(float, c), *map(float, h), float(axis), float(taper)]


def _airplane(r: _Rng) -> list:
    length, rad = r.u(0.7, 0.95), r.u(0.05, 0.09)
    parts = [_p(CYLINDER, (0, 0, 0), (rad, rad, length), axis=2),
             _p(ELLIPSOID, (0, 0, length), (rad, rad, r.u(0.1, 0.25)))]  # nose
    span, chord, wz = r.u(0.6, 0.95), r.u(0.12, 0.25), r.u(-0.15, 0.15)
    wy = r.choice([-0.6, 0.0, 0.6]) * rad  # low, mid or high wing
    parts.append(_p(BOX, (0, wy, wz), (span, r.u(0.02, 0.035), chord)))
    tail_z = -length + r.u(0.05, 0.12)
    parts.append(_p(BOX, (0, 0, tail_z), (span * r.u(0.25, 0.4), 0.02, chord * r.u(0.4, 0.6))))  # stabiliser
    fin_h = r.u(0.12, 0.25)
    parts.append(_p(BOX, (0, rad + fin_h, tail_z), (0.02, fin_h, chord * r.u(0.4, 0.7))))  # vertical fin
    engines = r.choice([0, 2, 2, 4])
    for i in range(engines):
        x = span * (0.35 if i < 2 else 0.7) * (1 if i % 2 == 0 else -1)
        parts.append(_p(CYLINDER, (x, wy - 0.06, wz + 0.05), (0.035, 0.035, r.u(0.08, 0.14)), axis=2))
    return parts


def _car(r: _Rng) -> list:
    L, W, H = r.u(0.6, 0.95), r.u(0.28, 0.45), r.u(0.08, 0.2)
    wheel_r, clearance = r.u(0.09, 0.14), r.u(0.02, 0.06)
    body_y = wheel_r + clearance + H - 0.05
    parts = [_p(BOX, (0, body_y, 0), (W, H, L))]
    cab_l, cab_h, cab_z = L * r.u(0.25, 0.65), r.u(0.06, 0.18), r.u(-0.35, 0.25) * L
    shape = r.choice([BOX, ELLIPSOID])
    parts.append(_p(shape, (0, body_y + H + cab_h * (0.9 if shape == BOX else 0.2), cab_z), (W * r.u(0.8, 0.95),
                                                                                              cab_h, cab_l)))
    wz = L * r.u(0.6, 0.78)
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(_p(CYLINDER, (sx * (W - 0.03), wheel_r, sz * wz), (0.05, wheel_r, wheel_r), axis=0))
    if r.coin(0.3):  # spoiler
        parts.append(_p(BOX, (0, body_y + H + 0.06, -L + 0.05), (W * 0.9, 0.01, 0.05)))
    return parts


def _chair(r: _Rng) -> list:
    w, d, seat_y, t = r.u(0.35, 0.5), r.u(0.35, 0.5), r.u(0.0, 0.15), r.u(0.03, 0.06)
    leg = r.u(0.025, 0.05)
    parts = [_p(BOX, (0, seat_y, 0), (w, t, d))]
    floor = -r.u(0.45, 0.7)
    leg_h = (seat_y - floor) / 2
    if r.coin(0.8):
        kind = r.choice([BOX, CYLINDER])
        for sx in (-1, 1):
            for sz in (-1, 1):
                parts.append(_p(kind, (sx * (w - leg), floor + leg_h, sz * (d - leg)), (leg, leg_h, leg), axis=1))
    else:  # pedestal + star base
        parts.append(_p(CYLINDER, (0, floor + leg_h, 0), (0.04, leg_h, 0.04), axis=1))
        parts.append(_p(CYLINDER, (0, floor + 0.02, 0), (w * 0.8, 0.02, w * 0.8), axis=1))
    back_h = r.u(0.3, 0.6)
    parts.append(_p(BOX, (0, seat_y + back_h, -d + t), (w, back_h, t * r.u(0.8, 1.2))))
    if r.coin(0.4):  # armrests
        for sx in (-1, 1):
            parts.append(_p(BOX, (sx * (w - 0.02), seat_y + 0.15, 0), (0.025, 0.02, d * 0.8)))
            parts.append(_p(BOX, (sx * (w - 0.02), seat_y + 0.075, d * 0.6), (0.02, 0.075, 0.02)))
    return parts


def _table(r: _Rng) -> list:
    top_y, t = r.u(0.2, 0.45), r.u(0.03, 0.06)
    floor = -r.u(0.35, 0.6)
    leg_h = (top_y - floor) / 2
    parts = []
    if r.coin(0.6):  # rectangular top, four legs
        w, d, leg = r.u(0.6, 0.95), r.u(0.35, 0.7), r.u(0.025, 0.06)
        parts.append(_p(BOX, (0, top_y, 0), (w, t, d)))
        for sx in (-1, 1):
            for sz in (-1, 1):
                parts.append(_p(BOX, (sx * (w - leg - 0.02), floor + leg_h, sz * (d - leg - 0.02)),
                                (leg, leg_h, leg)))
        if r.coin(0.4):  # a lower shelf
            parts.append(_p(BOX, (0, floor + leg_h * 0.5, 0), (w * 0.9, 0.02, d * 0.9)))
    else:  # round top, pedestal
        rad = r.u(0.45, 0.8)
        parts.append(_p(CYLINDER, (0, top_y, 0), (rad, t, rad), axis=1))
        parts.append(_p(CYLINDER, (0, floor + leg_h, 0), (r.u(0.04, 0.08),) * 3, axis=1))
        parts[-1][5] = leg_h  # half-height of the pedestal along y
        parts.append(_p(FRUSTUM, (0, floor + 0.04, 0), (rad * 0.5, 0.04, rad * 0.5), axis=1, taper=0.4))
    return parts


def _lamp(r: _Rng) -> list:
    floor, top = -r.u(0.7, 0.9), r.u(0.2, 0.6)
    base_r = r.u(0.15, 0.3)
    parts = [_p(r.choice([CYLINDER, FRUSTUM]), (0, floor + 0.03, 0), (base_r, 0.03, base_r), axis=1,
                taper=r.u(0.5, 1.0))]
    pole_h = (top - floor) / 2
    parts.append(_p(CYLINDER, (0, floor + pole_h, 0), (0.025, pole_h, 0.025), axis=1))
    shade_h, shade_r = r.u(0.12, 0.25), r.u(0.18, 0.35)
    if r.coin(0.7):
        parts.append(_p(FRUSTUM, (0, top, 0), (shade_r, shade_h, shade_r), axis=1, taper=r.u(0.4, 0.8)))
    else:
        parts.append(_p(ELLIPSOID, (0, top, 0), (shade_r, shade_h, shade_r)))
    if r.coin(0.3):  # a bulb finial on top
        parts.append(_p(ELLIPSOID, (0, top + shade_h + 0.04, 0), (0.04, 0.04, 0.04)))
    return parts


def _bottle(r: _Rng) -> list:
    body_r, body_h = r.u(0.12, 0.4), r.u(0.25, 0.6)
    floor = -0.8
    kind = r.choice([CYLINDER, CYLINDER, BOX, FRUSTUM])  # round, square or tapered body
    parts = [_p(kind, (0, floor + body_h, 0), (body_r, body_h, body_r * r.u(0.6, 1.0) if kind == BOX else body_r),
                axis=1, taper=r.u(0.6, 0.9))]
    shoulder = floor + 2 * body_h
    sh_h = r.u(0.05, 0.25)
    parts.append(_p(r.choice([ELLIPSOID, FRUSTUM]), (0, shoulder, 0), (body_r, sh_h, body_r), axis=1,
                    taper=r.u(0.2, 0.4)))
    neck_r, neck_h = r.u(0.04, 0.12), r.u(0.05, 0.3)
    parts.append(_p(CYLINDER, (0, shoulder + sh_h + neck_h, 0), (neck_r, neck_h, neck_r), axis=1))
    parts.append(_p(CYLINDER, (0, shoulder + sh_h + 2 * neck_h + 0.02, 0), (neck_r * 1.2, 0.03, neck_r * 1.2),
                    axis=1))
    if r.coin(0.3):  # a handle on the side
        parts.append(_p(BOX, (body_r + 0.04, floor + body_h * 1.2, 0), (0.03, body_h * 0.5, 0.03)))
    return parts


CATEGORIES: dict[str, Callable[[_Rng], list]] = {"airplane": _airplane, "car": _car, "chair": _chair,
                                                  "table": _table, "lamp": _lamp, "bottle": _bottle}


def _normalise(rows: Tensor) -> Tensor:
    """Scale and centre one shape's primitives (M, 9) so its bounding box's longest side is 2·EXTENT."""
    c, h = rows[:, 1:4], rows[:, 4:7]
    lo, hi = (c - h).amin(0), (c + h).amax(0)
    mid, s = (lo + hi) / 2, 2 * EXTENT / float((hi - lo).max())
    out = rows.clone()
    out[:, 1:4] = (c - mid) * s
    out[:, 4:7] = h * s
    return out


def make_shapes(category: str, n: int, *, seed: int = 0, class_names: list[str] | None = None) -> ShapeSet:
    """n shapes of a category, deterministic per (category, seed): shape i is the same for any n."""
    if category not in CATEGORIES:
        raise DataError(f"unknown shape category {category!r}; expected one of {list(CATEGORIES)}")
    if n < 1:
        raise DataError(f"need n ≥ 1 shapes, got {n}")
    names = class_names or list(CATEGORIES)
    base = int(hashlib.sha256(f"{category}:{seed}".encode()).hexdigest()[:8], 16)
    rows = []
    for i in range(n):
        r = _Rng(torch.Generator().manual_seed(base + i))
        rows.append(_normalise(torch.tensor(CATEGORIES[category](r), dtype=torch.float32)))
    m = max(len(x) for x in rows)
    prims = torch.full((n, m, ROW), -1.0)
    for i, x in enumerate(rows):
        prims[i, : len(x)] = x
    return ShapeSet(prims, torch.full((n,), names.index(category), dtype=torch.long), names)


def load_shapes(categories: list[str] | None = None, per_category: int = 100, *, seed: int = 0) -> ShapeSet:
    """Several categories at once (labels index CATEGORIES' order, whatever subset is asked for)."""
    cats = categories or list(CATEGORIES)
    return concat([make_shapes(c, per_category, seed=seed) for c in cats])
