"""How learnable is a shape zoo's weight space? The figures behind "3D that generates" in docs/RESULTS.md.

    python bench/zoo3d_structure.py --zoo runs/s3d/zoo [--held airplane] [--res 48] [--per 24]

For a zoo of occupancy INRs it prints, on a res³ grid against the exact procedural shapes:
- the fit: IoU of the INRs themselves, per category (as zoo.json records it);
- the distance of the INRs from their shared init, ‖w − w0‖, beside ‖w0‖;
- the principal subspace of the base categories' training INRs (what `--space pca` diffuses in): IoU of the held-out
  category's INRs and of the base categories' test INRs after projecting them onto the top k directions;
- weight midpoints: IoU of the midpoint of two INRs of the held-out category against either shape.
A regular weight space reconstructs unseen INRs from few directions and keeps midpoints inside the category.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.data.shapes import CATEGORIES  # noqa: E402
from equigen_core.data.zoo import load_zoo, zoo_shapes  # noqa: E402
from equigen_core.weightspace.fit import occupancy_iou, shared_init  # noqa: E402
from equigen_core.weightspace.weights import PCAStats  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", type=Path, required=True)
    ap.add_argument("--held", default="airplane", help="the few-shot category (left out of the subspace)")
    ap.add_argument("--res", type=int, default=48)
    ap.add_argument("--per", type=int, default=24, help="INRs per group for the projections and midpoints")
    ap.add_argument("--ks", type=int, nargs="+", default=[64, 256])
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    zoo = load_zoo(a.zoo)
    shapes = zoo_shapes(zoo)
    spec, w = zoo.spec, zoo.weights
    held = list(CATEGORIES).index(a.held)
    w0 = zoo.init if zoo.init is not None else shared_init(spec, int(zoo.meta.get("fit", {}).get("seed", 0)))[0]
    fit = zoo.meta.get("fit", {})
    print(f"{a.zoo}: {len(zoo)} INRs, init {zoo.meta.get('init')}, {fit.get('max_steps')} steps at lr "
          f"{fit.get('lr')}")

    def iou(weights: torch.Tensor, idx: torch.Tensor) -> float:
        return float(occupancy_iou(spec, weights, shapes.select(idx), res=a.res).mean())

    groups = {"held-out category": (zoo.labels == held).nonzero().squeeze(1)[: a.per],
              "base test INRs": ((zoo.labels != held) & (zoo.split == 1)).nonzero().squeeze(1)[: a.per]}
    fitted = zoo.meta.get("iou", {})
    print(f"fit IoU at {fitted.get('res')}³ (zoo.json): mean {fitted.get('mean', float('nan')):.3f}, min "
          f"{fitted.get('min', float('nan')):.3f}; " + ", ".join(f"{k} {v:.3f}" for k, v in
                                                             fitted.get("per_category", {}).items()))
    print(f"‖w − w0‖ mean {float((w - w0).norm(dim=1).mean()):.2f}, ‖w0‖ {float(w0.norm()):.2f}")
    base_train = (zoo.labels != held) & (zoo.split == 0)
    for k in a.ks:
        pca = PCAStats.fit(w[base_train], min(k, int(base_train.sum())))
        cells = []
        for name, idx in groups.items():
            proj = pca.project(w[idx])
            resid = float(((proj - w[idx]).norm(dim=1) / (w[idx] - pca.mean).norm(dim=1)).mean())
            cells.append(f"{name} {iou(proj, idx):.3f} (fitted {iou(w[idx], idx):.3f}, residual {resid:.2f})")
        print(f"PCA-{pca.dim} of the base training INRs, IoU after projection: " + "; ".join(cells))
    idx = groups["held-out category"]
    half = len(idx) // 2
    first, second = idx[:half], idx[half : 2 * half]
    mid = 0.5 * (w[first] + w[second])
    print(f"midpoints of two {a.held}s: IoU {iou(mid, first):.3f} against the first, {iou(mid, second):.3f} against "
          "the second")


if __name__ == "__main__":
    main()
