"""Benchmark: one stage-2 recipe at a fixed number of steps, measured with the ablation protocol — the quick loop used
to choose the shipped recipe (docs/results_log.md, "A generator that generates").

    python bench/generator.py --zoo runs/mnist/zoo --encoder checkpoints/mnist/encoder --steps 2500 \\
        --space pca --pca-dim 256 --condition probe [--prediction v] [--augment 1.0] [--lambda-func 10] [--threads 1]

Trains the `cpu` denoiser preset on classes 0–7 for --steps (the lr schedule spans them), then prints one JSON line:
steps, training seconds, last loss, and `ablations._measure` — held-in conditional accuracy (20 held-out INRs per base
class, γ = 0), and on protocol v2 for the validation class 8 (K = 10 shots, seeds 0–2, 128 samples, no adaptation)
from noise at γ = 0.3 and with the span sampler: accuracy, aligned novelty, coverage, Vendi, off-stroke ink against
the INRs of real 8s, with 95 % intervals. `--threads 1` lets two runs share the 2 cores (compare them by steps, not
seconds).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.evaluation.ablations import AblationConfig, _measure  # noqa: E402
from equigen_core.nets.classifier import default_classifier_path, load_classifier  # noqa: E402
from equigen_core.data.zoo import load_zoo  # noqa: E402
from equigen_core.nets.denoiser import get_preset  # noqa: E402
from equigen_core.generation.fewshot import FewShotModel  # noqa: E402
from equigen_core.training.stage2 import DiffusionTrainConfig, diffusion_config, train_diffusion  # noqa: E402
from equigen_core.nets.models import load_encoder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default="runs/mnist/zoo")
    ap.add_argument("--encoder", default="checkpoints/mnist/encoder")
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--space", choices=["weights", "pca", "latent"], default="weights")
    ap.add_argument("--prediction", choices=["x0", "v", "eps"], default="x0")
    ap.add_argument("--pca-dim", type=int, default=256)
    ap.add_argument("--condition", choices=["features", "probe"], default="probe")
    ap.add_argument("--augment", type=float, default=0.0)
    ap.add_argument("--lambda-func", type=float, default=0.0)
    ap.add_argument("--lambda-eq", type=float, default=0.1)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=None, help="keep the checkpoint here (default: a temporary directory)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    zoo = load_zoo(args.zoo)
    enc = load_encoder(args.encoder, zoo.spec)
    ab = AblationConfig(temperature=args.temperature)
    cfg = DiffusionTrainConfig(steps=args.steps, save_every=0, space=args.space, pca_dim=args.pca_dim,
                               condition=args.condition, augment=args.augment, lambda_func=args.lambda_func,
                               lambda_eq=args.lambda_eq, classes=tuple(ab.base_classes(zoo)),
                               test_class=ab.test_class, validation_class=ab.cls)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or Path(tmp) / "diffusion")
        t0 = time.perf_counter()
        r = train_diffusion(zoo, enc, cfg, get_preset("cpu"), diffusion_config(cfg, prediction=args.prediction),
                            out=out, progress=False,
                            encoder_path=args.encoder)
        seconds = time.perf_counter() - t0
        model = FewShotModel.load(out, enc)
        m = _measure(out, model, zoo, load_classifier(default_classifier_path()), ab, {})
    knobs = {k: v for k, v in vars(args).items() if k not in ("out", "threads")}
    figures = {"steps_run": len(r.losses), "train_seconds": round(seconds),
               "loss_last": round(sum(r.losses[-50:]) / 50, 4), **{k: round(v, 4) for k, v in m.items()}}
    print(json.dumps({**knobs, **figures}))


if __name__ == "__main__":
    main()
