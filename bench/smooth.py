"""Benchmark smooth augmentation (EQUIGEN §4.2): our batched solver against LKH (elkai) and fast-tsp.

    python bench/smooth.py                       # 1,000 stand-in INRs (random SIREN init + noise)
    python bench/smooth.py --zoo DIR --n 1000    # DIR/zoo.safetensors ("weights") + DIR/zoo.json ("spec")

Prints total TV before / after and seconds per solver; the references run on the first --ref-n INRs, and our TV is
compared with elkai's on that same subset.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as `python bench/smooth.py` from the repo

import torch  # noqa: E402

from equigen_core.weightspace.inr import PRESETS, SirenSpec, siren_init  # noqa: E402
from equigen_core.weightspace.smooth import (  # noqa: E402
                                             canonicalize,
                                             neuron_features,
                                             pairwise_l1,
                                             path_length,
                                             solve_with_elkai,
                                             solve_with_fast_tsp,
                                             total_variation,
                                             )
from equigen_core.weightspace.weights import WeightSpace  # noqa: E402


def load_weights(args) -> tuple[SirenSpec, torch.Tensor]:
    """→ (spec, (B, P) weights): from --zoo if given, else random SIREN init plus noise as a stand-in."""
    if args.zoo:
        from safetensors.torch import load_file
        zoo = Path(args.zoo)
        spec = SirenSpec.from_dict(json.loads((zoo / "zoo.json").read_text())["spec"])
        flat = load_file(str(zoo / "zoo.safetensors"))["weights"][: args.n].float()
        print(f"zoo {zoo}: {flat.shape[0]} INRs, spec {spec}")
        return spec, flat
    spec = PRESETS["mnist"]
    g = torch.Generator().manual_seed(args.seed)
    flat = siren_init(spec, args.n, generator=g)
    flat = flat + args.noise * torch.randn(flat.shape, generator=g)
    print(f"no --zoo given: using {args.n} stand-in INRs (SIREN init + N(0, {args.noise}²) noise), spec {spec}")
    return spec, flat


def reference_tv(solver, ws: WeightSpace) -> tuple[torch.Tensor, float]:
    """TV (B,) of the order `solver` finds for every hidden layer of `ws`, and its seconds."""
    tv, t0 = torch.zeros(ws.batch, dtype=torch.float64), time.perf_counter()
    for layer in range(len(ws.spec.hidden)):
        dist = pairwise_l1(neuron_features(ws, layer)).double()  # (B, N, N)
        tv += path_length(dist, solver(dist))
    return tv, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="INRs to canonicalise with our solver")
    ap.add_argument("--ref-n", type=int, default=200, help="INRs (the first ones) for the slower reference solvers")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=0.02, help="noise std added to the stand-in INRs")
    ap.add_argument("--zoo", type=str, default=None, help="folder with zoo.safetensors and zoo.json")
    ap.add_argument("--fast-tsp-seconds", type=float, default=0.05, help="fast-tsp time budget per problem")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default: torch's); 1 is often fastest on a busy machine")
    args = ap.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, "
          f"processor {platform.processor() or platform.machine()!r}")
    spec, flat = load_weights(args)
    n, ref_n = flat.shape[0], min(args.ref_n, flat.shape[0])
    print(f"{n} INRs × {len(spec.hidden)} hidden layers {spec.hidden} = {n * len(spec.hidden)} path problems")

    t0 = time.perf_counter()
    res = canonicalize(spec, flat)
    ours_s = time.perf_counter() - t0
    print(f"\n[ours]      all {n}: TV before {res.tv_before.sum():.2f}  after {res.tv_after.sum():.2f}  "
          f"({ours_s:.2f} s, {1e3 * ours_s / n:.2f} ms/INR)")

    if ref_n == 0:
        print("--ref-n 0: reference solvers skipped")
        return
    ws = WeightSpace.from_flat(spec, flat[:ref_n])
    before = total_variation(ws).sum().item()
    ours = res.tv_after[:ref_n].sum().item()
    print(f"\nsubset of the first {ref_n} INRs: TV before {before:.2f}")
    print(f"[ours]      TV after {ours:.2f}")
    for name, solver in (("elkai", solve_with_elkai),
                         ("fast-tsp", lambda d: solve_with_fast_tsp(d, seconds=args.fast_tsp_seconds))):
        try:
            tv, secs = reference_tv(solver, ws)
        except ImportError as e:
            print(f"[{name}] skipped: {e}")
            continue
        print(f"[{name:8s}]  TV after {tv.sum():.2f}  ({secs:.2f} s, {1e3 * secs / ref_n:.2f} ms/INR)  "
              f"ours / {name} = {100 * ours / tv.sum().item():.2f} %")


if __name__ == "__main__":
    main()
