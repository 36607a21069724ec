"""What the 2D and 3D callbacks share: frame pacing of streamed previews, the candidate toggle (with the K ≤ 32 bound)
and the checkpoint a page opens on."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Iterator

import gradio as gr

from equigen_core.service.jobs import Done
from equigen_core.service.studio import MAX_TARGETS


def paced(items: Iterable, interval: float) -> Iterator:
    """Pass a stream's items through, at most one preview frame per `interval` seconds (a Done passes at once): the
    CPU model samples 50 steps in ~0.2 s, too fast to watch."""
    last = time.perf_counter()
    for item in items:
        if not isinstance(item, Done):
            wait = interval - (time.perf_counter() - last)
            if wait > 0:
                time.sleep(wait)
            last = time.perf_counter()
        yield item


def toggled(idx: list[int], i: int) -> list[int]:
    """A click on candidate i: remove it from the selection, or add it (at most MAX_TARGETS targets)."""
    idx = [j for j in idx if j != i] if i in idx else idx + [i]
    if len(idx) > MAX_TARGETS:
        raise gr.Error(f"at most {MAX_TARGETS} targets")
    return idx


def default_checkpoint(names: list[str], *, prefer_base: bool) -> str | None:
    """The checkpoint a page opens on: the base model `diffusion` (2D: measured better than the adapted one,
    docs/RESULTS.md) or an adapted `diffusion_<class>` first (3D), else any."""
    base = [c for c in names if Path(c).name == "diffusion"]
    adapted = [c for c in names if Path(c).name.startswith("diffusion_")]
    order = base + adapted if prefer_base else adapted
    return (order or names or [None])[0]
