"""Meshes you already have → normalised meshes → occupancy of query points (for fitting 3D INRs).

    meshes = load_meshes("ShapeNetCore.v2", categories=["02691156"], limit=50)   # or any folder of meshes
    occ = meshes.occupancy(points)               # (B, N) bool, points (N, 3) or (B, N, 3) in [-1, 1]³
    pts, occ = meshes.training_points(4096)      # half near the surface, half uniform (the ShapeSet interface)

Folders: ShapeNet-style `<root>/<category>/<id>/…/model*.obj` (a `models/model_normalized.obj` is preferred when an id
has several files), a folder of category subfolders holding mesh files, or a flat folder of mesh files (one category:
the folder's name). Formats: obj, off, ply, stl, glb/gltf (read with trimesh). Every mesh is centred and scaled so its
bounding box's longest side is 1.8 (fits [-0.9, 0.9]³), like the procedural shapes.

Occupancy uses open3d's RaycastingScene (`pip install open3d-cpu`; on Debian it needs `apt-get install libusb-1.0-0`),
far faster than the fallback, a generalised winding number computed in torch (no extra dependency). Non-watertight
meshes get a warning: inside / outside is then ill-defined and the fitted INR may have holes or blobs.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from equigen_core.data.types import DataError, balanced_subset
from equigen_core.weightspace.render import sample_surface

MESH_EXTS = (".obj", ".off", ".ply", ".stl", ".glb", ".gltf")
MAX_MESH_BYTES = 200 * 2**20  # refuse files above 200 MB
EXTENT = 0.9


@dataclass
class Mesh:
    vertices: np.ndarray  # (V, 3) float32, normalised to [-0.9, 0.9]³
    faces: np.ndarray  # (F, 3) int64
    path: str
    watertight: bool


def find_mesh_files(root: str | Path, categories: list[str] | None = None) -> list[tuple[str, Path]]:
    """→ [(category, mesh path)], sorted, one mesh per ShapeNet model id."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory of meshes")
    out: list[tuple[str, Path]] = []
    flat = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in MESH_EXTS)
    if flat:
        cat = root.name
        if categories is None or cat in categories:
            out += [(cat, p) for p in flat]
    for cat_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if categories is not None and cat_dir.name not in categories:
            continue
        direct = sorted(p for p in cat_dir.iterdir() if p.is_file() and p.suffix.lower() in MESH_EXTS)
        out += [(cat_dir.name, p) for p in direct]
        for model_dir in sorted(p for p in cat_dir.iterdir() if p.is_dir()):  # ShapeNet: <category>/<id>/...
            files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.suffix.lower() in MESH_EXTS)
            if files:
                preferred = [p for p in files if p.stem.startswith("model")]
                out.append((cat_dir.name, (preferred or files)[0]))
    if not out:
        raise DataError(f"{root}: no mesh files ({', '.join(MESH_EXTS)})"
                        + (f" in categories {categories}" if categories else ""))
    return out


def normalise(vertices: np.ndarray) -> np.ndarray:
    lo, hi = vertices.min(0), vertices.max(0)
    size = float((hi - lo).max())
    if not np.isfinite(size) or size <= 0:
        raise DataError("degenerate mesh: its bounding box has no extent")
    return ((vertices - (lo + hi) / 2) * (2 * EXTENT / size)).astype(np.float32)


def load_mesh(path: str | Path) -> Mesh:
    """Read one mesh file (a scene's meshes are merged), normalise it, and check it is usable."""
    import trimesh

    path = Path(path)
    if path.suffix.lower() not in MESH_EXTS:
        raise DataError(f"{path}: not a mesh file (expected one of {', '.join(MESH_EXTS)})")
    if path.stat().st_size > MAX_MESH_BYTES:
        raise DataError(f"{path}: {path.stat().st_size / 2**20:.0f} MB is over the {MAX_MESH_BYTES // 2**20} MB limit")
    try:
        tm = trimesh.load(path, force="mesh", process=True)
    except Exception as e:  # trimesh raises many types for bad files
        raise DataError(f"{path}: could not be read as a mesh ({type(e).__name__}: {e})") from e
    if not isinstance(tm, trimesh.Trimesh) or len(tm.faces) == 0:
        raise DataError(f"{path}: contains no triangles")
    return Mesh(normalise(np.asarray(tm.vertices, dtype=np.float64)), np.asarray(tm.faces, dtype=np.int64),
                str(path), bool(tm.is_watertight))


def mesh_occupancy(mesh: Mesh, points: Tensor, backend: str = "auto") -> Tensor:
    """Inside-test of points (N, 3) for one mesh → (N,) bool. backend: "open3d", "winding" (the torch fallback) or
    "auto" (open3d when it imports)."""
    pts = points.detach().cpu().numpy().astype(np.float32)
    if backend in ("auto", "open3d"):
        try:
            import open3d as o3d
        except Exception as e:  # ImportError, or a missing system library (libusb-1.0-0)
            if backend == "open3d":
                raise DataError(f"open3d is not usable ({type(e).__name__}: {e}); pip install open3d-cpu, and on "
                                "Debian apt-get install libusb-1.0-0") from e
        else:
            scene = o3d.t.geometry.RaycastingScene()
            scene.add_triangles(o3d.core.Tensor(mesh.vertices), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
            occ = scene.compute_occupancy(o3d.core.Tensor(pts)).numpy()
            return torch.from_numpy(occ > 0.5)
    if backend not in ("auto", "winding"):
        raise DataError(f"unknown occupancy backend {backend!r}; expected 'auto', 'open3d' or 'winding'")
    return winding_occupancy(mesh, torch.from_numpy(pts))


def winding_occupancy(mesh: Mesh, points: Tensor, budget: int = 1 << 22) -> Tensor:
    """Inside-test by the generalised winding number (the sum of the solid angles the triangles subtend, over 4π;
    Van Oosterom & Strackee's formula), in torch: no extra dependency, and graceful on meshes with small holes.
    points (N, 3) → (N,) bool. Costs N × F work, so it is the fallback, not the default."""
    v = torch.from_numpy(mesh.vertices).double()
    tri = v[torch.from_numpy(mesh.faces)]  # (F, 3, 3)
    out = torch.empty(len(points), dtype=torch.bool)
    chunk = max(1, budget // max(1, len(tri)))
    for s in range(0, len(points), chunk):
        p = points[s : s + chunk].double()[:, None, None, :]  # (n, 1, 1, 3)
        r = tri[None] - p  # (n, F, 3, 3): A, B, C relative to the point
        a, b, c = r[:, :, 0], r[:, :, 1], r[:, :, 2]
        la, lb, lc = a.norm(dim=-1), b.norm(dim=-1), c.norm(dim=-1)
        det = (a * torch.linalg.cross(b, c)).sum(-1)
        den = la * lb * lc + (a * b).sum(-1) * lc + (a * c).sum(-1) * lb + (b * c).sum(-1) * la
        w = (2 * torch.atan2(det, den)).sum(-1) / (4 * torch.pi)  # (n,)
        out[s : s + chunk] = w.abs() > 0.5
    return out


@dataclass
class MeshSet:
    """Loaded meshes with labels: the interface of data.shapes.ShapeSet (occupancy, training_points, select)."""

    meshes: list[Mesh]
    labels: Tensor  # (B,) long, index into class_names
    class_names: list[str]
    backend: str = "auto"

    def __len__(self) -> int:
        return len(self.meshes)

    def select(self, idx: Tensor) -> "MeshSet":
        idx = idx.tolist()
        return MeshSet([self.meshes[i] for i in idx], self.labels[idx], self.class_names, self.backend)

    def occupancy(self, points: Tensor) -> Tensor:
        if points.dim() == 2:
            return torch.stack([mesh_occupancy(m, points, self.backend) for m in self.meshes])
        return torch.stack([mesh_occupancy(m, p, self.backend) for m, p in zip(self.meshes, points)])

    def training_points(self, n: int, *, near_share: float = 0.5, sigma: float = 0.02, seed: int = 0
                        ) -> tuple[Tensor, Tensor]:

        g = torch.Generator().manual_seed(seed)
        n_near = int(round(n * near_share))
        pts = []
        for i, m in enumerate(self.meshes):
            near = sample_surface((m.vertices, m.faces), n_near, seed=seed * 100_003 + i)
            near = near + sigma * torch.randn(n_near, 3, generator=g)
            pts.append(torch.cat([near.clamp(-1, 1), torch.rand(n - n_near, 3, generator=g) * 2 - 1]))
        pts = torch.stack(pts)
        return pts, self.occupancy(pts).float()


def load_meshes(root: str | Path, *, categories: list[str] | None = None, limit: int | None = None,
                backend: str = "auto") -> MeshSet:
    """Every mesh under root (at most `limit` in all, spread evenly over the categories: data.balanced_subset),
    normalised; warns once per non-watertight mesh."""

    found = find_mesh_files(root, categories)
    names = sorted({c for c, _ in found})
    keep = balanced_subset(torch.tensor([names.index(c) for c, _ in found], dtype=torch.long), limit)
    meshes, labels = [], []
    for cat, path in (found[i] for i in keep.tolist()):
        m = load_mesh(path)
        if not m.watertight:
            warnings.warn(f"{path}: the mesh is not watertight; its inside is ill-defined, so the occupancy (and "
                          "the INR fitted to it) may have holes or blobs", stacklevel=2)
        meshes.append(m)
        labels.append(names.index(cat))
    return MeshSet(meshes, torch.tensor(labels, dtype=torch.long), names, backend)
