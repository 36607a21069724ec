"""Rendering. 2D: INR images → tiled grids and PNG files. 3D: occupancy INRs → a value grid → marching cubes → mesh
(GLB for gr.Model3D), surface point clouds for the metrics, and shaded views / turntable GIFs.

Views come from a GL-free ray caster over the occupancy grid (torch grid_sample; works everywhere). `turntable_gif`
tries pyrender offscreen (EGL) first when asked and falls back to the ray caster when GL is unavailable."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from equigen_core.storage.atomic import atomic_path, atomic_write_bytes
from equigen_core.weightspace.inr import make_grid, siren_forward


def tile(images: Tensor, ncol: int | None = None, pad: int = 1) -> np.ndarray:
    """(B, C, H, W) in [0, 1] → one uint8 grid image (H', W') or (H', W', 3)."""
    b, c, h, w = images.shape
    ncol = ncol or math.ceil(math.sqrt(b))
    nrow = math.ceil(b / ncol)
    grid = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad) * 0.5
    for i in range(b):
        r, q = divmod(i, ncol)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = images[i]
    arr = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


def grid_image(images: Tensor, ncol: int | None = None, scale: int = 1):
    """(B, C, H, W) in [0, 1] → a PIL image of the tiled grid, upscaled `scale`× with nearest neighbour (crisp
    pixels in a browser, which would otherwise smooth a 28-px render)."""

    img = Image.fromarray(tile(images.detach().cpu(), ncol))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_grid(images: Tensor, path: str | Path, ncol: int | None = None, scale: int = 3) -> Path:
    """Write a PNG grid of images (B, C, H, W), upscaled `scale`× with nearest neighbour."""
    img = grid_image(images, ncol, scale)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return Path(path)


# ----------------------------------------------------------------------------------------------------------------------
# 3D: occupancy grid → mesh / points / views


def occupancy_grid(spec, flat: Tensor, res: int = 64, *, chunk_points: int = 1 << 15) -> Tensor:
    """Occupancy logits of B 3D INRs on a res³ grid of cell centres in [-1, 1]³ → (B, res, res, res) indexed
    [z, y, x] (make_grid's order)."""

    if spec.in_dim != 3 or spec.out_dim != 1:
        raise ValueError(f"occupancy_grid needs a 3→…→1 INR, got {spec}")
    coords = make_grid(res, 3, device=flat.device)  # (R³, 3)
    out = torch.cat([siren_forward(spec, flat, coords[i : i + chunk_points])[..., 0]
                     for i in range(0, len(coords), chunk_points)], dim=1)  # (B, R³)
    return out.view(-1, res, res, res)


@torch.no_grad()
def occupancy_grids(spec, weights: Tensor, res: int, *, largest: bool = False) -> Tensor:
    """Occupancy logits of B INRs on a res³ grid, 16 INRs at a time → (B, res, res, res). largest: keep only each
    shape's largest connected piece (`largest_piece`: floaters removed)."""
    g = torch.cat([occupancy_grid(spec, weights[i : i + 16], res) for i in range(0, len(weights), 16)])
    return largest_piece(g) if largest else g


def largest_piece(grids: Tensor) -> Tensor:
    """Value grids (B, R, R, R), inside > 0 → the same grids with every inside voxel outside the largest connected
    (6-connected) piece set just outside (−1e-3): the floater filter. Empty or one-piece grids come back unchanged."""
    from scipy import ndimage

    out = grids.clone()
    for b, g in enumerate(grids):
        labels, n = ndimage.label((g > 0).cpu().numpy())
        if n > 1:
            sizes = np.bincount(labels.ravel())[1:]  # (n,) voxels per piece
            drop = torch.from_numpy((labels > 0) & (labels != 1 + int(sizes.argmax()))).to(g.device)
            out[b][drop] = -1e-3
    return out


@torch.no_grad()
def shape_views(spec, weights: Tensor, *, res: int = 64, size: int = 128, largest: bool = False) -> Tensor:
    """Shaded ray-cast views of B occupancy INRs → (B, 3, size, size) in [0, 1] (white where nothing is hit);
    largest: floaters removed first (`largest_piece`)."""
    g = occupancy_grids(spec, weights, res, largest=largest)
    return torch.cat([raycast_views(g[i : i + 8], size=size) for i in range(0, len(g), 8)])


def grid_to_mesh(grid: Tensor, level: float = 0.0):
    """Marching cubes on one value grid (R, R, R) [z, y, x] → (vertices (V, 3) xyz in [-1, 1], faces (F, 3)), or
    None when the level set is empty."""
    from skimage.measure import marching_cubes

    g = grid.detach().cpu().float().numpy()
    if not (g.min() < level < g.max()):
        return None
    r = g.shape[0]
    padded = np.pad(g, 1, constant_values=min(float(g.min()), level - 1.0))  # closed surfaces at the border
    verts, faces, _, _ = marching_cubes(padded, level=level)
    verts = (verts - 1 + 0.5) / r * 2 - 1  # voxel index → cell-centre coordinate
    return verts[:, ::-1].copy(), faces[:, ::-1].copy()  # zyx → xyz, and keep outward winding after the flip


def write_glb(mesh, path: str | Path) -> Path:
    """Write (vertices, faces) as a binary glTF (for gr.Model3D), atomically."""
    import trimesh

    verts, faces = mesh
    tm = trimesh.Trimesh(vertices=verts, faces=faces, process=False)
    tm.visual = trimesh.visual.ColorVisuals(tm, face_colors=np.tile([70, 100, 160, 255], (len(faces), 1)))
    return atomic_write_bytes(path, tm.export(file_type="glb"))


def sample_surface(mesh, n: int = 2048, *, seed: int = 0) -> Tensor:
    """n points uniformly on a mesh's surface (area-weighted triangles, uniform barycentrics) → (n, 3)."""
    verts, faces = (torch.as_tensor(np.ascontiguousarray(a)) for a in mesh)
    tri = verts.float()[faces.long()]  # (F, 3, 3)
    area = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).norm(dim=1) / 2
    g = torch.Generator().manual_seed(seed)
    idx = torch.multinomial(area / area.sum(), n, replacement=True, generator=g)
    u, v = torch.rand(n, 1, generator=g), torch.rand(n, 1, generator=g)
    flip = (u + v) > 1
    u, v = torch.where(flip, 1 - u, u), torch.where(flip, 1 - v, v)
    t = tri[idx]
    return t[:, 0] + u * (t[:, 1] - t[:, 0]) + v * (t[:, 2] - t[:, 0])


def _rotation(azimuth: float, elevation: float) -> Tensor:
    """World → camera rotation for a camera orbiting the origin (y up): (3, 3)."""
    a, e = math.radians(azimuth), math.radians(elevation)
    ry = torch.tensor([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    rx = torch.tensor([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]])
    return rx @ ry


def raycast_views(grids: Tensor, *, size: int = 128, azimuth: float = 35.0, elevation: float = 25.0,
                  samples: int = 128, level: float = 0.0) -> Tensor:
    """Shaded orthographic views of occupancy grids (B, R, R, R) [z, y, x] (inside where value > level), a GL-free
    renderer: march every pixel's ray through the grid (trilinear sampling), take the first crossing, shade by the
    normal (central differences of the grid) with a Lambert light → (B, 3, size, size) in [0, 1]."""

    b = grids.shape[0]
    vol = grids.unsqueeze(1).float()  # (B, 1, R, R, R) for grid_sample
    rot = _rotation(azimuth, elevation)  # camera axes: x right, y up, z toward the viewer
    lin = torch.linspace(1.5, -1.5, size)
    ys, xs = torch.meshgrid(lin, -lin, indexing="ij")  # (size, size): image rows go down
    depth = torch.linspace(1.75, -1.75, samples)  # front to back along −z_cam
    cam = torch.stack([xs[..., None].expand(-1, -1, samples), ys[..., None].expand(-1, -1, samples),
                       depth.expand(size, size, -1)], dim=-1)  # (H, W, S, 3)
    world = cam @ rot  # camera → world (rot is orthonormal)
    grid_pts = world.view(1, size, size * samples, 1, 3).expand(b, -1, -1, -1, -1)  # xyz in [-1, 1] for grid_sample
    vals = F.grid_sample(vol, grid_pts, align_corners=False, padding_mode="border")
    vals = vals.view(b, size, size, samples)
    inside = vals > level
    inside &= (world.abs() <= 1).all(-1)[None]
    hit = inside.any(-1)  # (B, H, W)
    first = torch.where(hit, inside.float().argmax(-1), torch.full_like(hit, samples - 1, dtype=torch.long))
    pts = world[None].expand(b, -1, -1, -1, -1).gather(
        3, first[..., None, None].expand(-1, -1, -1, 1, 3)).squeeze(3)  # (B, H, W, 3) hit points
    # normals: gradient of the value grid at the hit points (values rise inward, so the normal is −∇)
    eps = 2.0 / grids.shape[-1]
    grad = []
    for k in range(3):
        off = torch.zeros(3)
        off[k] = eps
        p1 = (pts + off).view(b, size, size, 1, 3).permute(0, 3, 1, 2, 4)
        p0 = (pts - off).view(b, size, size, 1, 3).permute(0, 3, 1, 2, 4)
        d = (F.grid_sample(vol, p1, align_corners=False, padding_mode="border")
             - F.grid_sample(vol, p0, align_corners=False, padding_mode="border"))
        grad.append(d.view(b, size, size))
    normal = -torch.stack(grad, -1)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    light = torch.tensor([0.4, 0.8, 0.6]) @ rot  # a light from the upper left of the viewer, in world axes
    light = light / light.norm()
    view_dir = torch.tensor([0.0, 0.0, 1.0]) @ rot
    lambert = (normal * light).sum(-1).clamp_min(0)
    facing = (normal * view_dir).sum(-1).abs()
    shade = 0.25 + 0.55 * lambert + 0.2 * facing
    base = torch.tensor([0.55, 0.68, 0.86])
    img = torch.where(hit[..., None], shade[..., None] * base, torch.ones(3))  # white background
    return img.permute(0, 3, 1, 2).clamp(0, 1)


def turntable_frames(grid: Tensor, *, frames: int = 24, size: int = 128, elevation: float = 25.0,
                     level: float = 0.0) -> Tensor:
    """Views of one occupancy grid (R, R, R) all around → (frames, 3, size, size) (the ray caster)."""
    return torch.cat([raycast_views(grid[None], size=size, azimuth=360.0 * i / frames, elevation=elevation,
                                    level=level) for i in range(frames)])


def pyrender_frames(mesh, *, frames: int = 24, size: int = 256, elevation: float = 25.0) -> Tensor:
    """Turntable views of a mesh with pyrender offscreen (EGL) → (frames, 3, size, size). Raises RuntimeError when
    pyrender or an offscreen GL context is unavailable. The camera pose is given explicitly (pyrender 0.1.45 uses
    np.infty, gone in numpy 2, when it computes scene bounds itself)."""

    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        import pyrender
        import trimesh
    except Exception as e:  # ImportError, or OpenGL failing to load its platform
        raise RuntimeError(f"pyrender unavailable ({type(e).__name__}: {e}); pip install pyrender and the mesa EGL "
                           "libraries (Debian: libegl1 libgl1-mesa-dri), or use the ray caster") from e
    verts, faces = mesh
    tm = trimesh.Trimesh(vertices=verts, faces=faces, process=False)
    material = pyrender.MetallicRoughnessMaterial(baseColorFactor=(0.55, 0.68, 0.86, 1.0), metallicFactor=0.1)
    out = []
    try:
        renderer = pyrender.OffscreenRenderer(size, size)
    except Exception as e:
        raise RuntimeError(f"no offscreen GL context ({type(e).__name__}: {e})") from e
    try:
        for i in range(frames):
            scene = pyrender.Scene(bg_color=(1.0, 1.0, 1.0, 1.0), ambient_light=(0.3, 0.3, 0.3))
            scene.add(pyrender.Mesh.from_trimesh(tm, material=material, smooth=False))
            rot = _rotation(360.0 * i / frames, elevation).numpy()
            pose = np.eye(4)
            pose[:3, :3] = rot.T  # camera → world
            pose[:3, 3] = rot.T @ np.array([0.0, 0.0, 3.2])
            scene.add(pyrender.PerspectiveCamera(yfov=math.radians(40)), pose=pose)
            scene.add(pyrender.DirectionalLight(intensity=3.0), pose=pose)
            color, _ = renderer.render(scene)
            out.append(torch.from_numpy(color[..., :3].copy()).permute(2, 0, 1).float() / 255)
    finally:
        renderer.delete()
    return torch.stack(out)


def save_gif(frames: Tensor, path: str | Path, *, fps: int = 12) -> Path:
    """(T, 3, H, W) in [0, 1] → an endlessly looping GIF, written atomically."""

    imgs = [Image.fromarray((f.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()) for f in frames]
    path = Path(path)
    with atomic_path(path) as tmp:
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0)
    return path


def turntable_gif(grid: Tensor, path: str | Path, *, frames: int = 24, size: int = 160, use_gl: bool = True,
                  level: float = 0.0) -> tuple[Path, str]:
    """A turntable GIF of one occupancy grid (R, R, R): pyrender when `use_gl` and GL works, else the ray caster.
    → (path, the renderer used: "pyrender" or "raycast")."""
    if use_gl:
        mesh = grid_to_mesh(grid, level)
        if mesh is not None:
            try:
                return save_gif(pyrender_frames(mesh, frames=frames, size=size), path), "pyrender"
            except RuntimeError:
                pass
    return save_gif(turntable_frames(grid, frames=frames, size=size, level=level), path), "raycast"
