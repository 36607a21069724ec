"""Benchmark: time to quality of batched INR fitting vs the DWSNets recipe, and achieved GFLOP/s.

    python bench/fit.py [--n 100] [--target 35] [--full]

Prints, for the same N real MNIST digits fitted to a PSNR target: seconds and INRs/s for our batched fit and for the
DWSNets recipe (one SIREN at a time, autograd, Adam lr 5e-4, ≤ 1k steps, stop at the target), their ratio, and our
achieved GFLOP/s against a torch matmul peak measured in the same run. --full also fits all 5,000 digits with the
`build-zoo` defaults and prints the wall time.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from equigen_core.data import load_mnist  # noqa: E402
from equigen_core.weightspace.fit import FitConfig, fit_images, psnr_from_mse  # noqa: E402
from equigen_core.weightspace.inr import PRESETS, SirenModule, images_to_targets, make_grid, siren_init  # noqa: E402
from peak import matmul_peak  # noqa: E402  (bench/peak.py; the script's folder is on sys.path)
from equigen_core.weightspace.weights import flat_to_state_dict  # noqa: E402


def flops_per_inr_step(spec, n_coords: int) -> float:
    """Matmul FLOPs of one forward + backward: forward 2·N·Σ d_in·d_out, weight grads the same, input grads the same
    except for the first layer (no gradient w.r.t. coordinates)."""
    macs = sum(o * i for o, i in spec.layer_shapes)
    first = spec.layer_shapes[0][0] * spec.layer_shapes[0][1]
    return 2 * n_coords * (3 * macs - first)


def dwsnets_recipe(spec, images, target: float, max_steps: int = 1000, lr: float = 5e-4):
    """One SIREN at a time, autograd + torch.optim.Adam, stop when PSNR ≥ target (checked every step)."""
    coords = make_grid(images.shape[-1])
    targets = images_to_targets(images)
    init = siren_init(spec, len(images), generator=torch.Generator().manual_seed(0))
    psnrs, steps = [], []
    t0 = time.perf_counter()
    for i in range(len(images)):
        model = SirenModule(spec)
        model.load_state_dict(flat_to_state_dict(spec, init[i]))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for s in range(max_steps):
            loss = ((model(coords) - targets[i]) ** 2).mean()
            if float(psnr_from_mse(loss.detach())) >= target:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
        psnrs.append(float(psnr_from_mse(loss.detach())))
        steps.append(s)
    return time.perf_counter() - t0, torch.tensor(psnrs), torch.tensor(steps, dtype=torch.float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="digits fitted by both methods")
    ap.add_argument("--target", type=float, default=35.0, help="PSNR target (dB)")
    ap.add_argument("--full", action="store_true", help="also fit all 5,000 digits with the build-zoo defaults")
    args = ap.parse_args()
    spec = PRESETS["mnist"]
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    peak = matmul_peak()
    print(f"torch matmul peak (2048² fp32): {peak:.1f} GFLOP/s")
    data = load_mnist(split="all")
    images = data.images[torch.arange(0, 5000, 5000 // args.n)[: args.n]]  # spread over all classes

    res = fit_images(spec, images, FitConfig(target_psnr=args.target, max_steps=1000), progress=False)
    ours = res.seconds
    gflops = flops_per_inr_step(spec, 784) * float(res.steps.sum()) / ours / 1e9
    print(f"ours (batched, pool 32, lr 3e-3, shared init): {ours:.2f} s for {args.n} INRs "
          f"({args.n / ours:.1f} INRs/s), mean PSNR {res.mean_psnr:.2f} dB, mean steps {res.steps.float().mean():.1f}, "
          f"{gflops:.1f} GFLOP/s = {100 * gflops / peak:.1f} % of matmul peak")
    ref_t, ref_psnr, ref_steps = dwsnets_recipe(spec, images, args.target)
    print(f"DWSNets recipe (one at a time, Adam 5e-4, ≤1k steps): {ref_t:.2f} s ({args.n / ref_t:.2f} INRs/s), "
          f"mean PSNR {ref_psnr.mean():.2f} dB, mean steps {ref_steps.mean():.0f}, "
          f"{int((ref_psnr < args.target).sum())} of {args.n} never reached {args.target} dB")
    print(f"speed-up (time to the same target on the same digits): {ref_t / ours:.1f}x")
    if args.full:
        cfg = FitConfig()
        res = fit_images(spec, data.images, cfg, progress=False)
        g = flops_per_inr_step(spec, 784) * float(res.steps.sum()) / res.seconds / 1e9
        print(f"full zoo (5,000 digits, build-zoo defaults: target {cfg.target_psnr} dB, lr {cfg.lr}, pool {cfg.pool}): "
              f"{res.seconds:.1f} s, mean PSNR {res.mean_psnr:.2f} dB (min {res.psnr.min():.2f}), "
              f"{5000 / res.seconds:.1f} INRs/s, {g:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
