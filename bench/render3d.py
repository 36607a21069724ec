"""Benchmark: one 3D sample from weights to a viewer file — occupancy grid (INR evaluated on res³ points), marching
cubes, GLB — and one ray-cast view, in milliseconds.

    python bench/render3d.py --res 64
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.data.shapes import make_shapes  # noqa: E402
from equigen_core.weightspace.fit import FitConfig, fit_shapes  # noqa: E402
from equigen_core.weightspace.inr import PRESETS  # noqa: E402
from equigen_core.weightspace.render import grid_to_mesh, occupancy_grid, raycast_views, write_glb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    spec = PRESETS["shape3d"]
    w = fit_shapes(spec, make_shapes("chair", 1), FitConfig(loss="bce", target_psnr=None, max_steps=200, lr=1e-3),
                   progress=False).weights
    times = {"grid": [], "marching cubes": [], "glb": [], "view 160 px": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            t = time.perf_counter()
            g = occupancy_grid(spec, w, args.res)[0]
            times["grid"].append(time.perf_counter() - t)
            t = time.perf_counter()
            mesh = grid_to_mesh(g)
            times["marching cubes"].append(time.perf_counter() - t)
            t = time.perf_counter()
            write_glb(mesh, Path(tmp) / "a.glb")
            times["glb"].append(time.perf_counter() - t)
            t = time.perf_counter()
            raycast_views(g[None], size=160)
            times["view 160 px"].append(time.perf_counter() - t)
    total = 0.0
    for k, v in times.items():
        ms = 1000 * sorted(v)[len(v) // 2]
        total += ms if k != "view 160 px" else 0
        print(f"{k:15s} {ms:8.1f} ms (median of {args.repeats})")
    print(f"grid + marching cubes + GLB at {args.res}³: {total:.1f} ms; mesh {len(mesh[0])} vertices; "
          f"torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
