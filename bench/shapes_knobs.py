"""Choose the 3D sampler's knobs on the validation category (protocol v2 for shapes), never on the test category.

    python bench/shapes_knobs.py --checkpoint runs/s3dv/ckpt/diffusion --zoo runs/s3dv/zoo --category chair \
        --seeds 0 1 2 --json docs/data/shapes_v2_validation_chair.json

Runs evaluation.protocol3d.evaluate_3d with a grid of span samplers (γ × t0) beside the augment sampler, and prints every row (mean ± t-interval over seeds, as drawn and after the floater filter) and the rule's
choice: the learned sampler with the highest filtered COV among those whose filtered MMD is at or below interpolation's
(ties: the lower filtered MMD).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from equigen_core.commands.measure import print_3d_summary  # noqa: E402
from equigen_core.data.zoo import load_zoo  # noqa: E402
from equigen_core.domains.shapes import ShapeDomain  # noqa: E402
from equigen_core.generation.fewshot import FewShotModel  # noqa: E402
from equigen_core.evaluation.protocol3d import evaluate_3d  # noqa: E402
from equigen_core.presets import SHAPES  # noqa: E402


def choose(summary: list[dict]) -> dict | None:
    """The rule above, on summary rows → the chosen row (None when no learned row passes)."""
    interp = next(r for r in summary if r["method"] == "interpolation of two shots")["mean"]["mmd_f"]
    ok = [r for r in summary if r["family"] == "equigen" and r["mean"]["mmd_f"] <= interp]
    return max(ok, key=lambda r: (r["mean"]["cov_f"], -r["mean"]["mmd_f"]), default=None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--zoo", type=Path, required=True)
    ap.add_argument("--category", default="chair")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--gammas", type=float, nargs="+", default=[0.5, 1.0])
    ap.add_argument("--t0s", type=int, nargs="+", default=[50, 200])
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    zoo = load_zoo(a.zoo)
    category = ShapeDomain.of(zoo).index(a.category)
    base = SHAPES.replace(sampler="span")
    samplings = {f"EquiGen span (γ={g:g}, t0={t})": base.replace(gamma=g, t0=t) for g in a.gammas for t in a.t0s}
    samplings["EquiGen augment (γ=1, t0=200)"] = base.replace(sampler="augment", gamma=1.0, t0=200)
    res = evaluate_3d(FewShotModel.load(a.checkpoint), zoo, category=category, n=a.n, seeds=tuple(a.seeds),
                      samplings=samplings, command="python " + " ".join(sys.argv))
    print_3d_summary(res["summary"])
    best = choose(res["summary"])
    print("chosen:", best["method"] if best else "none passes (filtered MMD above interpolation's everywhere)")
    res["meta"].update(chosen=best["method"] if best else None, validation=True, category_name=a.category,
                       checkpoint=str(a.checkpoint))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
