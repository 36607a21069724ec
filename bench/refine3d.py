"""EquiGen refine in 3D at several γ: does the app's γ (0.3) change what the protocol measured at γ = 0?

    python bench/refine3d.py --checkpoint runs/s3dm/diffusion --zoo runs/s3dm/zoo [--seeds 0 1] [--gammas 0 0.3]

The same shots, exact augmentations, reference and metrics as `evaluate shapes` (evaluation.protocol3d), for
EquiGen refine from t0 only, at each γ; prints MMD ×10³, COV, 1-NNA, novelty and the floater share.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.data.shapes import CATEGORIES  # noqa: E402
from equigen_core.data.zoo import load_zoo  # noqa: E402
from equigen_core.domains.shapes import ShapeDomain  # noqa: E402
from equigen_core.evaluation.protocol3d import (clouds_from_shapes, clouds_from_weights, reference_terms,  # noqa: E402
                                                report_3d, shape_sets, shots_3d)
from equigen_core.generation.fewshot import FewShotModel, refine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--zoo", type=Path, required=True)
    ap.add_argument("--category", default="airplane")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--gammas", type=float, nargs="+", default=[0.0, 0.3])
    ap.add_argument("--t0", type=int, default=200)
    ap.add_argument("--n", type=int, default=32)
    a = ap.parse_args()
    zoo, model = load_zoo(a.zoo), FewShotModel.load(a.checkpoint)
    cat = list(CATEGORIES).index(a.category)
    ref = clouds_from_shapes(ShapeDomain.of(zoo).reference_shapes(zoo, cat))
    d_rr = reference_terms(ref)[0]
    for seed in a.seeds:  # the protocol's draws: shots, then the picks and augmentations from one generator
        shots = shots_3d(zoo, cat, 10, seed=seed)
        shot_clouds = clouds_from_weights(zoo.spec, shots)
        to_shots = reference_terms(ref, shot_clouds)[1]
        g = torch.Generator().manual_seed(seed)
        starts = ShapeDomain.exact_augment(zoo.spec, shots[torch.randint(0, len(shots), (a.n,), generator=g)], g)
        for gamma in a.gammas:
            w = refine(model, starts, start_t=a.t0, gamma=gamma, guidance=0.0, steps=50, seed=seed,
                       temperature=1.0).weights
            clouds, parts = shape_sets(zoo.spec, w)
            r = report_3d("refine", clouds, shot_clouds, ref, d_rr=d_rr, ref_to_shots=to_shots, parts=parts)
            print(f"seed {seed}, t0 = {a.t0}, γ = {gamma}: MMD×10³ {r.mmd:.2f}, COV {r.cov:.2f}, 1-NNA {r.nna:.2f}, "
                  f"novelty {r.novelty:.2f}, floaters {r.multi:.2f}", flush=True)


if __name__ == "__main__":
    main()
