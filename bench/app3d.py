"""Benchmark: the app's 3D mode on CPU from the shipped checkpoints: load, the target thumbnails, and one Generate
click per start (the span of the targets — the default —, the augmented targets, and noise), with what the readouts
say about the samples.

    python bench/app3d.py [--root checkpoints/shapes] [--steps 50] [--n 8] [--t0 50] [--gamma 0.5] [--guidance 0]
                           [--temperature 1.0]

Every knob defaults to the tab's (presets.SHAPES); noise runs at γ = 0.3.

Runs the 3D Generate callback itself (previews, final 64³ renders, readouts, GLBs and the first sample's turntable
included; the browser's own drawing is not), unpaced.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from equigen_core.presets import SHAPES  # noqa: E402
from equigen_core.service.studio import Studio  # noqa: E402
from equigen_studio.callbacks3d import STARTS, Callbacks3D  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="checkpoints/shapes")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--t0", type=int, default=SHAPES.t0)
    ap.add_argument("--gamma", type=float, default=SHAPES.gamma)
    ap.add_argument("--guidance", type=float, default=SHAPES.guidance, help="λ_g (the tab's default)")
    ap.add_argument("--temperature", type=float, default=SHAPES.temperature, help="τ (the tab's default)")
    args = ap.parse_args()
    t = time.perf_counter()
    cb = Callbacks3D(Studio.load(args.root, classifier=None), frame_interval=0.0)
    cat = cb.default_category()
    print(f"load: {time.perf_counter() - t:.1f} s; checkpoints {cb.checkpoints()}, held-out category {cat}")
    t = time.perf_counter()
    cb.show_candidates(cat)
    print(f"target thumbnails (first time; cached after): {time.perf_counter() - t:.1f} s")
    for start, t0, gamma in [(STARTS[2], args.t0, args.gamma), (STARTS[1], args.t0, args.gamma), (STARTS[0], 0, 0.3)]:
        t = time.perf_counter()
        frames, last = 0, None
        for last in cb.generate(cb.default_checkpoint(), cat, "0-9", gamma, args.guidance, args.steps, args.n,
                                0, args.temperature, start, t0):
            frames += 1
        cb.show_first(last[-1])  # the chained event: first sample's turntable + GLB for the viewer
        print(f"\n{start}: {time.perf_counter() - t:.1f} s, {frames - 1} previews\n  {last[1]}")
        for row in last[2]:
            print(f"  sample {row[0]}: nearest gallery shape {row[2]}, Chamfer×10³ to nearest target {row[3]}, "
                  f"{row[4]} faces")


if __name__ == "__main__":
    main()
