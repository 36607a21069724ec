"""Benchmark: what the app's tabs cost on CPU with the shipped checkpoints — the Trade-off tab's shipped frontier at
load, the feature map (first time, then from the cache), the γ sweep with the Generate tab's defaults, and a walk
between two targets (2D and 3D).

    python bench/app_tabs.py [--root checkpoints/mnist] [--root3d checkpoints/shapes] [--points 8] [--points3d 5]

Runs the callbacks themselves (unpaced; the browser's own drawing is not timed).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from equigen_core.service.studio import Studio  # noqa: E402
from equigen_studio.callbacks import CHECKPOINT_ENCODER, Callbacks  # noqa: E402
from equigen_studio.callbacks3d import Callbacks3D  # noqa: E402


def timed(what: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{what}: {time.perf_counter() - t:.2f} s")
    return out


def quiet(*a, **k):
    pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="checkpoints/mnist")
    ap.add_argument("--root3d", default="checkpoints/shapes")
    ap.add_argument("--points", type=int, default=8)
    ap.add_argument("--points3d", type=int, default=5)
    a = ap.parse_args()
    cb = Callbacks(timed("load the 2D studio", lambda: Studio.load(a.root)), "runs/bench_tabs", frame_interval=0)
    ck, cls = cb.default_checkpoint(), str(cb.default_class(cb.default_checkpoint()))
    timed("Trade-off at load (shipped frontier from docs/data)", cb.shipped_tradeoff)
    *_, (grid, summary, rows, path, last) = timed("Generate (defaults, 16 samples)", lambda: list(
        cb.generate(ck, cls, "0-9", 1.0, 0.3, 50, 16, 0, 28, 0.8, None, None)))
    print("  ", summary)
    args = (CHECKPOINT_ENCODER, ck, cls, "0-9", None, None, last)
    timed("feature map, first time", lambda: cb.tsne(*args, progress=quiet))
    timed("feature map, again (cached)", lambda: cb.tsne(*args, progress=quiet))
    _, trows, verdict = timed("γ sweep, 7 γ × 32 samples with Generate's defaults", lambda: cb.tradeoff(
        ck, cls, "0-9", "0, 0.25, 0.5, 0.75, 1, 1.25, 1.5", 32, 0, None, None, progress=quiet))
    print("  ", verdict.splitlines()[-1])
    *_, (strip, md) = timed(f"walk, {a.points} points (2D)", lambda: list(
        cb.walk(ck, cls, "0-9", 0, 1, a.points, 0, None, None)))
    print("  ", md.splitlines()[-1])
    if Path(a.root3d).is_dir():
        cb3 = Callbacks3D(Studio.load(a.root3d, classifier=None), frame_interval=0)
        timed("3D Trade-off at load", cb3.shipped_tradeoff)
        *_, (strip, md) = timed(f"walk, {a.points3d} points (3D)", lambda: list(
            cb3.walk(cb3.default_checkpoint(), cb3.default_category(), "0-9", 0, 1, a.points3d, 0)))
        print("  ", md.splitlines()[-1])


if __name__ == "__main__":
    main()
