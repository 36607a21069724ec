"""Benchmark: seconds for 16 MNIST samples × 50 DDIM steps on this machine, rendering included.

    python bench/sample.py [--checkpoint checkpoints/mnist/diffusion] [--paper]

Prints the wall time of `generate` (encode targets, 50 DDIM steps, render 28×28), the denoiser's achieved GFLOP/s
against a torch matmul peak measured in the same run, and with --paper the time of the `paper` preset (12 × 2048
transformer, random weights) for the same job, for the ratio. Without a checkpoint, a randomly initialised `cpu` preset
stands in (the timing does not depend on the weights).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.nets.denoiser import build_denoiser, get_preset  # noqa: E402
from equigen_core.generation.diffusion import DiffusionConfig, WeightDiffusion  # noqa: E402
from equigen_core.nets.encoder import EncoderConfig, WeightEncoder  # noqa: E402
from equigen_core.generation.fewshot import FewShotModel, generate  # noqa: E402
from equigen_core.weightspace.inr import PRESETS, siren_init  # noqa: E402
from peak import matmul_peak  # noqa: E402  (bench/peak.py; the script's folder is on sys.path)
from equigen_core.weightspace.weights import NormStats  # noqa: E402


def stand_in(preset: str) -> FewShotModel:
    spec = PRESETS["mnist"]
    enc = WeightEncoder(spec, EncoderConfig()).eval()
    flat = siren_init(spec, 64)
    enc.set_input_scale(flat)
    wn, fn = NormStats.fit(flat + 0.01 * torch.randn_like(flat)), NormStats(torch.zeros(128), torch.ones(128))
    net = build_denoiser(spec, get_preset(preset)).eval()
    return FewShotModel(spec, enc, net, WeightDiffusion(DiffusionConfig(), weight_norm=wn, encoder=enc), fn)


def time_generate(model: FewShotModel, reps: int = 3) -> float:
    targets = siren_init(model.spec, 10)
    generate(model, targets, 16, steps=50, seed=0)  # warm-up
    t0 = time.perf_counter()
    for r in range(reps):
        generate(model, targets, 16, steps=50, seed=r)
    return (time.perf_counter() - t0) / reps


def denoiser_flops(net, p: int, n: int = 16) -> float:
    """Matmul FLOPs of one denoiser call on n samples (2 · MACs of every Linear, attention ignored)."""
    macs = sum(m.in_features * m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear))
    return 2.0 * macs * n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--paper", action="store_true", help="also time the paper preset (slow on a CPU)")
    args = ap.parse_args()
    print(f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")
    peak = matmul_peak()
    print(f"torch matmul peak (2048² fp32): {peak:.1f} GFLOP/s")
    model = FewShotModel.load(args.checkpoint) if args.checkpoint else stand_in("cpu")
    label = str(args.checkpoint) if args.checkpoint else "cpu preset (random weights)"
    sec = time_generate(model)
    gf = denoiser_flops(model.denoiser, model.spec.num_params) * 50 / sec / 1e9
    print(f"{label}: 16 samples × 50 DDIM steps, rendering included: {sec:.3f} s (goal ≤ 0.5 s); denoiser "
          f"{gf:.1f} GFLOP/s = {100 * gf / peak:.1f} % of matmul peak")
    if args.paper:
        paper = stand_in("paper")
        psec = time_generate(paper, reps=1)
        print(f"paper preset (12 × 2048 transformer): {psec:.2f} s, {psec / sec:.0f}× the shipped model")


if __name__ == "__main__":
    main()
