"""Benchmark: pushing past copies — stage-3 adaptation variants and the SDEdit refinement on the few-shot protocol.

    python bench/push.py --zoo runs/mnist/zoo --seeds 0 1 2 --n 128

For each seed's K = 10 shots of the held-out digit, adapt the base model in several ways (FinetuneConfig: steps,
exact augmentations of the shots or none, replay of base classes or none, early stopping on two held-aside shots or
none), sample per target at γ ∈ {0, 0.3} and from the set-level condition (mean ψ of the shots) at γ ∈ {0.3, 1}
(τ = 0.8), and refine exact augmentations of the shots from t0 ∈ {150, 300}; prints
accuracy, aligned novelty, diversity, FD and speckle (× the real images') as mean ± std over seeds.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.nets.classifier import default_classifier_path, load_classifier  # noqa: E402
from equigen_core.data.zoo import load_zoo  # noqa: E402
from equigen_core.evaluation.protocol import augment_shots, protocol_data, report  # noqa: E402
from equigen_core.generation.fewshot import FewShotModel, generate, refine  # noqa: E402
from equigen_core.training.stage3 import FinetuneConfig, finetune  # noqa: E402

ADAPT = {  # name → FinetuneConfig overrides
    "stage 3 as shipped (aug, replay, early stop)": dict(steps=300, eval_every=25),
    "aug + replay, no early stop, 300 steps": dict(steps=300, holdout=0),
    "aug + replay, no early stop, 800 steps": dict(steps=800, holdout=0),
    "aug, no replay, no early stop, 300 steps": dict(steps=300, holdout=0, replay=0.0),
    "plain (no aug, replay or early stop), 300 steps": dict(steps=300, holdout=0, replay=0.0, augment=None),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default="runs/mnist/zoo")
    ap.add_argument("--checkpoint", default="checkpoints/mnist/diffusion")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--cls", type=int, default=9)
    ap.add_argument("--temperature", type=float, default=0.8)
    args = ap.parse_args()
    clf = load_classifier(default_classifier_path())
    zoo = load_zoo(args.zoo)
    base = FewShotModel.load(args.checkpoint)
    results: dict[str, list] = {}
    t_start = time.perf_counter()
    for seed in args.seeds:
        shots, shot_img, real = protocol_data(zoo, args.cls, 10, seed=seed)
        real_speckle = report("", real, args.cls, shot_img, real, clf).speckle
        g = torch.Generator().manual_seed(seed)
        starts = augment_shots(zoo.spec, shots[torch.randint(0, 10, (args.n,), generator=g)], 1.0, g)

        def record(name, images):
            r = report("", images, args.cls, shot_img, real, clf)
            results.setdefault(name, []).append([r.accuracy, r.aligned_novelty, r.diversity, r.fd,
                                                 r.speckle / real_speckle])

        for name, kw in ADAPT.items():
            ad = finetune(args.checkpoint, shots, zoo, FinetuneConfig(seed=seed, **kw), progress=False)
            model = dataclasses.replace(base, denoiser=ad.model)
            for mode, gamma in (("per-target", 0.0), ("per-target", 0.3), ("set", 0.3), ("set", 1.0)):
                record(f"{name}, {mode} γ={gamma:g}", generate(model, shots, args.n, gamma=gamma, seed=seed,
                                                                mode=mode, temperature=args.temperature).images)
            for t0 in (150, 300):
                record(f"{name}, refine t0={t0}", refine(model, starts, start_t=t0, seed=seed,
                                                         temperature=args.temperature).images)
        print(f"seed {seed} done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    print(f"{'adaptation, sampler':64s} accuracy    aligned nov  diversity     FD           speckle×real")
    for name, rows in results.items():
        t = torch.tensor(rows)
        m, s = t.mean(0).tolist(), t.std(0, unbiased=False).tolist()
        print(f"{name:64s} {m[0]:.2f}±{s[0]:.2f}   {m[1]:.2f}±{s[1]:.2f}    {m[2]:.3f}±{s[2]:.3f}  "
              f"{m[3]:6.1f}±{s[3]:5.1f}  {m[4]:.1f}±{s[4]:.1f}")


if __name__ == "__main__":
    main()
