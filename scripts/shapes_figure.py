"""The picture of generated shapes in docs/RESULTS.md: rows = the K shots, then samples of each sampler.

    python scripts/shapes_figure.py --checkpoint checkpoints/shapes/diffusion_airplane --zoo runs/shapes/zoo \
        --out docs/img/shapes_airplane_shipped.png
"""
import argparse
from pathlib import Path

import torch

from equigen_core.service import studio3d as core3d
from equigen_core.data.shapes import CATEGORIES
from equigen_core.data.zoo import load_zoo
from equigen_core.generation.fewshot import FewShotModel
from equigen_core.evaluation.protocol3d import shots_3d
from equigen_core.weightspace.render import save_grid


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--zoo", type=Path, required=True)
    ap.add_argument("--category", default="airplane")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--t0", type=int, nargs="+", default=[200, 400])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    model = FewShotModel.load(a.checkpoint)
    zoo = load_zoo(a.zoo)
    shots = shots_3d(zoo, list(CATEGORIES).index(a.category), a.k, seed=a.seed)
    rows = [shots, core3d.sample_shapes(model, shots, n=a.k, sampler="noise", gamma=0.3,
                                                 seed=a.seed).weights]
    rows += [core3d.sample_shapes(model, shots, n=a.k, sampler="augment", gamma=1.0, t0=t, seed=a.seed).weights
             for t in a.t0]
    views = core3d.views(model.spec, torch.cat(rows), size=96)
    save_grid(views, a.out, ncol=a.k, scale=1)
    caption = (f"Rows, top to bottom: the {a.k} {a.category} shots; {a.k} samples from noise (γ = 0.3); "
               + "; ".join(f"{a.k} samples of EquiGen refine from the augmented shots, t0 = {t}" for t in a.t0)
               + f". Checkpoint `{a.checkpoint}`, seed {a.seed}, 64³ marching cubes. Command: `PYTHONPATH=. python "
               f"scripts/shapes_figure.py --checkpoint {a.checkpoint} --zoo {a.zoo} --out {a.out}`.")
    a.out.with_suffix(".txt").write_text(caption + "\n")
    print(f"wrote {a.out} and its caption: {caption}")


if __name__ == "__main__":
    main()
