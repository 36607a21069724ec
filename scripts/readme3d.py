"""The README's 3D pictures: what the app's 3D tab draws on its first click, as a grid and a turntable.

    PYTHONPATH=. python scripts/readme3d.py [--root checkpoints/shapes] [--out assets]

Uses the 3D tab's defaults: the held-out category's gallery shapes as targets (selection "0-9"), its default
checkpoint, the domain's default sampler and knobs (presets.SHAPES), 8 shapes, seed 0; and one row from noise with the
same knobs for comparison. Writes OUT/generated_shapes.png (rows: the first 8 targets, default samples, samples from
noise; ray-cast views of the 64³ occupancy as the app shows them), OUT/generated_shapes.txt
(its caption) and OUT/turntable_shape.gif (the first default sample).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.domains.shapes import ShapeDomain  # noqa: E402
from equigen_core.service import studio3d as core3d  # noqa: E402
from equigen_core.service.studio import Studio  # noqa: E402
from equigen_core.weightspace.render import save_grid  # noqa: E402
from equigen_studio.callbacks3d import Callbacks3D  # noqa: E402
from equigen_studio.common import parse_selection  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="checkpoints/shapes")
    ap.add_argument("--out", type=Path, default=Path("assets"))
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cb = Callbacks3D(Studio.load(a.root, classifier=None), frame_interval=0.0)
    cat = cb.default_category()
    model = cb.studio.model(cb.default_checkpoint())
    weights, _ = cb.studio.candidates(cat)
    targets = weights[parse_selection("0-9", len(weights))]
    s = ShapeDomain.default_sampling()
    drawn = core3d.sample_shapes(model, targets, n=a.n, seed=a.seed).weights
    noise = core3d.sample_shapes(model, targets, n=a.n, sampler="noise", gamma=0.3, seed=a.seed).weights
    rows = torch.cat([targets[: a.n], drawn, noise])
    a.out.mkdir(parents=True, exist_ok=True)
    save_grid(core3d.views(model.spec, rows, size=96), a.out / "generated_shapes.png", ncol=a.n, scale=1)
    path, renderer = core3d.turntable(model.spec, drawn[0], a.out / "turntable_shape.gif")
    shown = "largest piece only" if ShapeDomain.floater_filter else "as drawn, floaters and all"
    caption = (f"Rows: {min(a.n, len(targets))} of the {len(targets)} {cat} targets (gallery shapes the model was "
               f"not trained on); {a.n} samples of the default sampler ({s.sampler}, γ = {s.gamma:g}, t0 = {s.t0}, "
               f"λ_g = {s.guidance:g}, τ = {s.temperature:g}); {a.n} samples from noise (γ = 0.3, the same other "
               f"knobs). Checkpoint `{cb.default_checkpoint()}`, seed {a.seed}, 64³ occupancy, ray-cast, as the app "
               f"shows them ({shown}). Turntable: the first default sample ({renderer}). Command: "
               f"`PYTHONPATH=. python scripts/readme3d.py --root {a.root} --out {a.out}`.")
    (a.out / "generated_shapes.txt").write_text(caption + "\n")
    print(caption)
    print(f"wrote {a.out / 'generated_shapes.png'}, {path}")


if __name__ == "__main__":
    main()
