"""Benchmark: how fast the app streams live x̂0 grids (goal ≥ 10 updates/s for 16 samples at 28×28 on CPU), and
how long the page's first grid takes (loading the shipped checkpoints + one generation).

    python bench/app_stream.py [--root checkpoints/mnist] [--steps 50] [--n 16]

Runs the Generate tab's callback itself (grid rendering and PIL conversion included; the browser's own drawing is
not), unpaced and with the app's default pacing of one frame per 0.03 s.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from equigen_studio.callbacks import Callbacks  # noqa: E402
from equigen_core.service.studio import Studio  # noqa: E402


def run(cb: Callbacks, args) -> tuple[int, float]:
    t0 = time.perf_counter()
    updates = sum(1 for _ in cb.generate(cb.default_checkpoint(), "9", "0-9", 0.3, 0.1, args.steps, args.n, 0, 28,
                                         1.0, None, None))
    return updates, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="checkpoints/mnist")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--n", type=int, default=16)
    args = ap.parse_args()
    t0 = time.perf_counter()
    studio = Studio.load(args.root)
    cb = Callbacks(studio, "runs/studio", frame_interval=0.0)
    studio.model(cb.default_checkpoint())
    t_load = time.perf_counter() - t0
    u, dt = run(cb, args)
    print(f"load shipped checkpoints: {t_load:.2f} s; first generation: {dt:.2f} s → first grid after "
          f"{t_load + dt:.2f} s")
    for interval in (0.0, 0.03):
        cb.frame_interval = interval
        u, dt = run(cb, args)
        print(f"frame interval {interval:.2f} s: {u} updates in {dt:.2f} s = {u / dt:.1f} updates/s "
              f"({args.n} samples, {args.steps} DDIM steps)")


if __name__ == "__main__":
    main()
