"""Benchmark: what the diffusion model is conditioned on, at equal CPU time — the stage-1 encoder's features alone
or with the INR's own values on a fixed N×N probe grid appended (EncoderConfig.probe_res, our addition).

    python bench/condition.py --zoo runs/mnist/zoo --encoder checkpoints/mnist/encoder --probe 7 --seconds 300

Trains the `cpu` denoiser preset for --seconds on classes 0–8 with the given encoder (its weights unchanged; only
probe_res is set), then prints the steps reached, the loss, and the held-in conditional accuracy (one sample per
held-out INR, 30 per class, γ = 0, 50 DDIM steps, the shipped classifier).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from equigen_core.nets.classifier import default_classifier_path, load_classifier  # noqa: E402
from equigen_core.data.zoo import load_zoo  # noqa: E402
from equigen_core.nets.denoiser import get_preset  # noqa: E402
from equigen_core.evaluation.protocol import held_in_accuracy  # noqa: E402
from equigen_core.generation.fewshot import FewShotModel  # noqa: E402
from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion  # noqa: E402
from equigen_core.nets.models import load_encoder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default="runs/mnist/zoo")
    ap.add_argument("--encoder", default="checkpoints/mnist/encoder")
    ap.add_argument("--probe", type=int, default=7, help="probe grid N (0: encoder features only)")
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--preset", default="cpu")
    args = ap.parse_args()
    zoo = load_zoo(args.zoo)
    enc = load_encoder(args.encoder, zoo.spec)
    enc.cfg = dataclasses.replace(enc.cfg, probe_res=args.probe)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "diffusion"
        r = train_diffusion(zoo, enc, DiffusionTrainConfig(max_seconds=args.seconds, save_every=0),
                            get_preset(args.preset), out=out, progress=False)
        acc = held_in_accuracy(FewShotModel.load(out, enc), zoo, load_classifier(default_classifier_path()),
                               per_class=30)
    k = min(50, len(r.losses))
    print(f"probe {args.probe}: {len(r.losses)} steps in {r.seconds:.0f} s, loss {sum(r.losses[:k]) / k:.3f} → "
          f"{sum(r.losses[-k:]) / k:.3f}, held-in accuracy {acc:.3f} (ψ has {enc.out_dim} entries)")


if __name__ == "__main__":
    main()
