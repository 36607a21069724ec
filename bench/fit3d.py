"""Benchmark: occupancy INRs fitted per second — batched (fit.fit_shapes, hand-written backward, one pool) against a
per-INR loop (one nn.Module per shape, autograd, Adam), same points, steps and learning rate.

    python bench/fit3d.py --n 16 --steps 200 --points 4096
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.data.shapes import load_shapes  # noqa: E402
from equigen_core.weightspace.fit import FitConfig, fit_shapes, occupancy_iou  # noqa: E402
from equigen_core.weightspace.inr import PRESETS, SirenModule, siren_init, unflatten  # noqa: E402


def per_inr_loop(spec, shapes, steps: int, points: int, lr: float) -> tuple[torch.Tensor, float]:
    pts, occ = shapes.training_points(points, seed=0)
    init = siren_init(spec, 1, generator=torch.Generator().manual_seed(0))
    out, t0 = [], time.perf_counter()
    for i in range(len(shapes)):
        m = SirenModule(spec)
        ws, bs = unflatten(spec, init)
        with torch.no_grad():
            for layer, w, b in zip(m.seq, ws, bs):
                layer.weight.copy_(w[0])
                layer.bias.copy_(b[0])
        opt = torch.optim.Adam(m.parameters(), lr=lr)
        for _ in range(steps):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(m(pts[i])[:, 0], occ[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
        out.append(torch.cat([torch.cat([layer.weight.flatten(), layer.bias]) for layer in m.seq]).detach())
    return torch.stack(out), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16, help="shapes (spread over the six categories)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--points", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    spec = PRESETS["shape3d"]
    shapes = load_shapes(per_category=max(1, args.n // 6)).select(torch.arange(args.n))
    cfg = FitConfig(loss="bce", target_psnr=None, max_steps=args.steps, lr=args.lr, pool=16)
    r = fit_shapes(spec, shapes, cfg, points=args.points, progress=False)
    w_loop, t_loop = per_inr_loop(spec, shapes, args.steps, args.points, args.lr)
    iou_b = occupancy_iou(spec, r.weights, shapes, res=64)
    iou_l = occupancy_iou(spec, w_loop, shapes, res=64)
    print(f"{len(shapes)} shapes, {args.steps} steps, {args.points} points, SIREN {spec.hidden} ω0={spec.omega0}")
    print(f"batched : {r.seconds:7.1f} s = {len(shapes) / r.seconds:.3f} shapes/s, IoU at 64³ {iou_b.mean():.3f}")
    print(f"per INR : {t_loop:7.1f} s = {len(shapes) / t_loop:.3f} shapes/s, IoU at 64³ {iou_l.mean():.3f}")
    print(f"speed-up: {t_loop / r.seconds:.2f}×")


if __name__ == "__main__":
    main()
