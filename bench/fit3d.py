"""Benchmark: fitting occupancy INRs — the batched fitter (fit.fit_shapes: hand-written backward, a pool of shapes,
one Adam run) against a per-shape loop (one nn.Module per shape, autograd, torch.optim.Adam) on the same recipe: the
same labelled points per round, the same points per step, steps and lr schedule. Prints seconds, shapes/s and IoU at
64³ per category for both, and the speed-up.

    python bench/fit3d.py --per 4                       # the shipped recipe (fit.OCCUPANCY_FIT) on 24 shapes
    python bench/fit3d.py --per 4 --steps 800 --batch-points 0 --lr 1e-3 --lr-final none --rounds 20 --loop-shapes 0
                                                        # the earlier recipe (800 full-batch steps), batched only
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.data.shapes import load_shapes  # noqa: E402
from equigen_core.weightspace.fit import (OCCUPANCY_FIT, OCCUPANCY_POINTS, OCCUPANCY_ROUNDS, fit_shapes,  # noqa: E402
                                          occupancy_iou, shared_init)
from equigen_core.weightspace.inr import PRESETS, SirenModule, unflatten  # noqa: E402


def per_shape_loop(spec, shapes, cfg, points: int, rounds: int, seed: int = 0) -> tuple[torch.Tensor, float]:
    """The same recipe, one shape at a time with autograd: → (weights (B, P), seconds)."""
    init = shared_init(spec, cfg.seed)
    g = torch.Generator().manual_seed(seed * 7919 + 1)
    rounds_pts = [shapes.training_points(points, seed=seed * 1009 + r) for r in range(rounds)]
    out, t0 = [], time.perf_counter()
    for i in range(len(shapes)):
        m = SirenModule(spec)
        ws, bs = unflatten(spec, init)
        with torch.no_grad():
            for layer, w, b in zip(m.seq, ws, bs):
                layer.weight.copy_(w[0])
                layer.bias.copy_(b[0])
        opt = torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
        step = 0
        for r, (pts, occ) in enumerate(rounds_pts):
            for _ in range(cfg.max_steps // rounds + (1 if r < cfg.max_steps % rounds else 0)):
                p, o = pts[i], occ[i]
                if 0 < cfg.batch_points < points:
                    pick = torch.randint(0, points, (cfg.batch_points,), generator=g)
                    p, o = p[pick], o[pick]
                if cfg.lr_final is not None:
                    for group in opt.param_groups:
                        group["lr"] = cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (
                            1 + math.cos(math.pi * step / cfg.max_steps))
                loss = torch.nn.functional.binary_cross_entropy_with_logits(m(p)[:, 0], o)
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
        out.append(torch.cat([torch.cat([layer.weight.flatten(), layer.bias]) for layer in m.seq]).detach())
    return torch.stack(out), time.perf_counter() - t0


def iou_text(spec, weights, shapes) -> str:
    iou = occupancy_iou(spec, weights, shapes, res=64)
    names = shapes.class_names
    per = ", ".join(f"{names[c]} {float(iou[shapes.labels == c].mean()):.3f}" for c in shapes.labels.unique().tolist())
    return f"IoU at 64³ mean {float(iou.mean()):.3f}, min {float(iou.min()):.3f} ({per})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per", type=int, default=4, help="shapes per category (six categories)")
    ap.add_argument("--steps", type=int, default=OCCUPANCY_FIT.max_steps)
    ap.add_argument("--points", type=int, default=OCCUPANCY_POINTS, help="labelled points per shape and round")
    ap.add_argument("--rounds", type=int, default=OCCUPANCY_ROUNDS)
    ap.add_argument("--batch-points", type=int, default=OCCUPANCY_FIT.batch_points, help="points per step (0: all)")
    ap.add_argument("--lr", type=float, default=OCCUPANCY_FIT.lr)
    ap.add_argument("--lr-final", default=str(OCCUPANCY_FIT.lr_final), help="cosine to this lr; 'none': constant")
    ap.add_argument("--pool", type=int, default=OCCUPANCY_FIT.pool)
    ap.add_argument("--loop-shapes", type=int, default=6,
                    help="shapes the per-shape loop fits (one per category; its time is scaled to all); 0: skip it")
    args = ap.parse_args()
    spec = PRESETS["shape3d"]
    cfg = replace(OCCUPANCY_FIT, max_steps=args.steps, batch_points=args.batch_points, lr=args.lr, pool=args.pool,
                  lr_final=None if args.lr_final.lower() == "none" else float(args.lr_final))
    shapes = load_shapes(per_category=args.per, seed=0)
    n = len(shapes)
    print(f"{n} shapes, {cfg.max_steps} steps × {cfg.batch_points or args.points} points, {args.rounds} rounds of "
          f"{args.points}, lr {cfg.lr:g} → {cfg.lr_final}, pool {cfg.pool}; SIREN {spec.hidden} ω0={spec.omega0}; "
          f"{torch.get_num_threads()} torch threads")
    r = fit_shapes(spec, shapes, cfg, points=args.points, rounds=args.rounds, progress=False)
    print(f"batched       : {r.seconds:7.1f} s = {n / r.seconds:.3f} shapes/s; {iou_text(spec, r.weights, shapes)}")
    if args.loop_shapes:
        one_each = torch.stack([torch.nonzero(shapes.labels == c)[0, 0] for c in shapes.labels.unique()])
        sub = shapes.select(one_each[: args.loop_shapes])
        w_loop, t_loop = per_shape_loop(spec, sub, cfg, args.points, args.rounds)
        per = t_loop / len(sub)
        print(f"per-shape loop: {per * n:7.1f} s = {1 / per:.3f} shapes/s (timed on {len(sub)} shapes, one per "
              f"category); {iou_text(spec, w_loop, sub)}")
        print(f"speed-up      : {per * n / r.seconds:.2f}×")


if __name__ == "__main__":
    main()
