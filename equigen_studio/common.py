"""What the 2D and 3D callbacks share: picking targets from the candidate gallery (TargetPicker: the gallery, clicks
that toggle a target with the K ≤ 32 bound, typed selections, the class a page opens on); sampling (SamplingCallbacks:
one Sampling per click from the widgets, the streamed and paced live frames, the stop path, the target column of the
readouts); the knobs' sliders (bounds from presets.BOUNDS); the γ list of a sweep and its progress; and the checkpoint
a page opens on. Each domain's pictures come from service.studio (Domain.preview)."""
from __future__ import annotations

import hashlib
import re
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Generator, Iterable, Iterator

import gradio as gr
import torch

from equigen_core import presets
from equigen_core.presets import Sampling
from equigen_core.service import studio as core
from equigen_core.service.export import export_state_dicts
from equigen_core.service.jobs import Done
from equigen_core.service.shipped import shipped_result
from equigen_core.service.studio import MAX_TARGETS, StudioError
from equigen_core.service.walk import walk_stream
from equigen_core.storage.checkpoint import CheckpointError
from equigen_core.weightspace.render import grid_image
from equigen_studio.errors import errors


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


def knob_slider(knob: str, value, *, step, label: str, **kw) -> gr.Slider:
    """A slider for one sampler knob: its range is presets.BOUNDS (what Sampling.check enforces and the CLI says),
    read when the page is built."""
    lo, hi = presets.BOUNDS[knob]
    return gr.Slider(lo, hi, value=value, step=step, label=label, **kw)


def parse_gammas(text: str) -> list[float]:
    """"0, 0.5, 1" → [0.0, 0.5, 1.0]: the γ values of a sweep (each is checked against its bound by the sweep)."""
    try:
        gammas = [float(g) for g in (text or "").replace(" ", "").split(",") if g]
    except ValueError as e:
        raise StudioError(f"γ values {text!r}: give numbers separated by commas") from e
    if not gammas:
        raise StudioError("give at least one γ value, e.g. 0, 0.5, 1")
    return gammas


def progress_to(progress) -> Callable[[int, int, str], None]:
    """A library progress callback (done, total, what) → a gr.Progress."""
    return lambda i, total, what: progress(i / max(total, 1), desc=what)


def sweep_note(s: Sampling, *, seed, k: int, n: int, set_level: bool = False, with_gamma: bool = False,
               varies: str = "only γ varies") -> str:
    """The line a sweep shows above its verdict: the Generate tab's settings it ran with, and what varied."""
    how = {"span": f"span sampler (t0 = {s.t0})", "noise": "from noise",
           "augment": f"refine from augmented targets (t0 = {s.t0})"}[s.sampler]
    gamma = f", γ = {s.gamma:g}" if with_gamma else ""
    return (f"Swept with the Generate tab's settings — {how}{gamma}, λ_g = {s.guidance:g}, τ = {s.temperature:g}, "
            f"{s.steps} DDIM steps, seed {int(seed)}, K = {k}{', set-level' if set_level else ''}, {int(n)} samples "
            f"per point; {varies}.")


def target_column(idx: list[int], target_index) -> list[int | str]:
    """Each sample's target as a gallery index, or "set" for a set-level sample (conditioned on the targets' mean)."""
    return ["set" if int(t) < 0 else int(idx[int(t)]) for t in target_index]


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


def parse_selection(text: str, available: int) -> list[int]:
    """"0, 3, 5-7" → [0, 3, 5, 6, 7]; indices into the candidate gallery."""
    out: list[int] = []
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise StudioError(f"selection {text!r}: use gallery indices like '0,1,2' or '0-9'")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        out.extend(range(a, b + 1))
    bad = [i for i in out if i >= available]
    if bad:
        raise StudioError(f"selection {text!r}: index {bad[0]} is out of range; the gallery has {available} "
                          f"candidates (0–{available - 1})")
    return sorted(set(out))


def format_selection(idx: list[int]) -> str:
    return ",".join(str(i) for i in sorted(set(idx)))


def class_choices(studio) -> list[tuple[str, str]]:
    """(label, value) pairs for a class dropdown: the label present in the gallery, with its name when it has one
    ("2: triangles"; MNIST's classes are their own names)."""
    names = studio.domain.class_names
    return [(names[c] if names[c] == str(c) else f"{c}: {names[c]}", str(c)) for c in studio.classes()]


class TargetPicker:
    """The Generate tab's target picking, the same for every domain: subclasses give `_studio()` (the loaded
    service.studio.Studio) and `_checkpoint(name)` (a loaded model). Event signatures: (selection, class, uploads);
    `uploads` is a session's fitted uploads (images) or None (the 3D tab has none)."""

    def _candidates(self, cls, uploads=None):
        return self._studio().candidates(cls, uploads)

    @staticmethod
    def _scale(imgs, px: int) -> int:
        """Nearest-neighbour upscale so a thumbnail is about `px` pixels wide (28-px renders: crisp pixels)."""
        return max(1, px // imgs.shape[-1])

    def _gallery_items(self, imgs, uploads, n):
        n_up = 0 if uploads is None else len(uploads["weights"])
        return [(grid_image(imgs[i:i + 1], 1, self._scale(imgs, 112)), f"#{i}" + (" (upload)" if i >= n - n_up else ""))
                for i in range(n)]

    def _selection_view(self, idx, imgs):
        """(summary markdown, thumbnails of the selected targets) — the gallery itself highlights only one item."""

        md = f"**K = {len(idx)}** selected of {len(imgs)} candidates: {format_selection(idx) or '—'}"
        return md, [(grid_image(imgs[i:i + 1], 1, self._scale(imgs, 56)), f"#{i}") for i in sorted(idx)]

    @errors
    def show_candidates(self, cls, uploads=None):
        """→ (gallery items, selection text, summary, thumbnails of the selected targets); the first 10 selected."""
        w, imgs = self._candidates(cls, uploads)
        k = list(range(min(10, len(w))))
        return self._gallery_items(imgs, uploads, len(w)), format_selection(k), *self._selection_view(k, imgs)

    @errors
    def toggle(self, selection, cls, uploads, evt: gr.SelectData):
        """Click on a candidate: add it to / remove it from the selection."""
        w, imgs = self._candidates(cls, uploads)
        idx = toggled(parse_selection(selection, len(w)), int(evt.index))
        return format_selection(idx), *self._selection_view(idx, imgs)

    @errors
    def set_selection(self, selection, cls, uploads=None):
        w, imgs = self._candidates(cls, uploads)
        idx = [i for i in parse_selection(selection, 10**6) if i < len(w)]  # "0-9" on a smaller gallery: all
        return format_selection(idx), *self._selection_view(idx, imgs)

    def _with_uploads(self, cls, uploads: dict, added: int):
        """After fitting `added` uploads: → (uploads, gallery items, selection of the new ones, summary, thumbnails)."""
        w, imgs = self._candidates(cls, uploads)
        sel = list(range(len(w) - added, len(w)))
        return uploads, self._gallery_items(imgs, uploads, len(w)), format_selection(sel), *self._selection_view(sel,
                                                                                                               imgs)

    def _targets(self, cls, selection, uploads=None):
        w, _ = self._candidates(cls, uploads)
        return w[parse_selection(selection, len(w))]

    def default_class(self, checkpoint: str | None) -> int:
        """The class the checkpoint was adapted to, else the one its base training held out, else the first."""
        classes = self._studio().classes()
        try:
            cfg = self._checkpoint(checkpoint).config if checkpoint else {}
        except (CheckpointError, ValueError):
            cfg = {}
        train = cfg.get("train", {})
        if train.get("test_class") in classes:  # trained with a validation class too: the test class
            return train["test_class"]
        held = [c for c in classes if c not in (train.get("classes") or classes)]
        return held[0] if held else classes[0]


def _number(x, kind=float):
    return None if x is None or x == "" else kind(x)


class SamplingCallbacks(TargetPicker):
    """Generate for every domain: one Sampling per click (the domain's defaults, then the widgets' knobs, checked
    once), live frames streamed and paced, and one stop path. Subclasses give `frame_interval` and the outputs."""

    frame_interval: float = 0.03
    outputs: int = 5  # the Generate event's outputs: (picture, status, ...)

    @staticmethod
    def sampling(model, *, sampler=None, gamma=None, guidance=None, steps=None, temperature=None,
                 t0=None) -> Sampling:
        """Widget values (None: the domain's default) → one checked Sampling (StudioError naming a bad knob)."""
        return core.sampling_of(model.spec, sampler=sampler, gamma=_number(gamma), guidance=_number(guidance),
                                steps=_number(steps, int), temperature=_number(temperature), t0=_number(t0, int))

    def _stream(self, model, targets, sampling: Sampling, *, n: int, seed: int, set_level: bool,
                picture: Callable, caption: str = "current x̂0", **kw) -> Generator[tuple, None, object]:
        """Yield (picture of each live frame, its status, skips) and return the GenerationResult, or None when the
        run was stopped (the worker saw the stop flag: Done(None))."""
        stream_ = core.generate_stream(model, targets, n=n, sampling=sampling, seed=seed,
                                       mode="set" if set_level else "per-target", **kw)
        for item in paced(stream_, self.frame_interval):
            if isinstance(item, Done):
                return item.value
            yield (picture(item.images), f"DDIM step {item.step}/{item.total}: {caption}",
                   *(gr.skip(),) * (self.outputs - 2))
        return None

    def _cached_map(self, key: tuple, last, uploads, make):
        """A feature map (t-SNE) once per checkpoint, encoder, class, targets, uploads and samples: the map the page
        draws at load is the same for every visitor who has not changed them, so it is computed once."""
        h = hashlib.sha1(repr(key).encode())
        for part in (last and last.get("weights"), uploads and uploads.get("weights")):
            if part is not None:
                h.update(part.contiguous().numpy().tobytes())
        cache = self.__dict__.setdefault("_maps", OrderedDict())
        k = h.hexdigest()
        if k not in cache:
            cache[k] = make()
            while len(cache) > 16:
                cache.popitem(last=False)
        cache.move_to_end(k)
        return cache[k]

    def _once(self, key: str, make):
        """make() once per callbacks object (one per server), then its result again."""
        cache = self.__dict__.setdefault("_made_once", {})
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def _shipped(self, kind: str):
        """The shipped model's measured result for this domain (service.shipped: docs/data beside the checkout) →
        (result, path), or None."""
        studio = getattr(self, "studio", None)
        return shipped_result(kind, studio.root) if studio is not None else None

    @errors
    def pick_from_map(self, picked, cls, uploads=None):
        """Candidate indices picked on the feature map (a box or lasso selection: "3,5,7") → the targets."""
        w, imgs = self._candidates(cls, uploads)
        idx = [i for i in parse_selection(picked, 10**6) if i < len(w)]
        if not idx:
            raise StudioError("no targets picked: select stars or dots of the targets' class on the map")
        if len(idx) > MAX_TARGETS:
            raise StudioError(f"{len(idx)} points picked; at most {MAX_TARGETS} targets")
        return format_selection(idx), *self._selection_view(idx, imgs)

    @errors
    def export(self, last):
        """The last samples as a zip of SIREN state dicts (service.export: one `sample_NN.pth` per INR + spec.json)."""
        if not last:
            raise StudioError("generate samples first")
        folder = Path(tempfile.mkdtemp(prefix="equigen_export_"))
        return str(export_state_dicts(folder / "samples_state_dicts.zip", last["spec"], last["weights"]))

    def _walk(self, model, w, a, b, points, seed, sampling: Sampling, labels: Callable) -> Generator[tuple, None, None]:
        """The walk between candidates a and b (service.walk): yield (the strip so far: raw path on top, refined
        below; the markdown of each point's label) as each point is refined. labels(weights (m, P)) → m strings."""
        a, b = int(a), int(b)
        for i in (a, b):
            if not 0 <= i < len(w):
                raise StudioError(f"candidate index must be in 0–{len(w) - 1}, got {i}")
        dom = self._studio().domain
        raw = names_raw = None
        done, names_ref = [], []
        for item in walk_stream(model, w[a], w[b], points=int(points), sampling=sampling, seed=int(seed)):
            walk = item.value if isinstance(item, Done) else item.walk
            if raw is None:  # the raw path is known at once: pictured and labelled once
                raw, names_raw = dom.preview(model.spec, walk.raw), labels(walk.raw)
            new = walk.refined[len(done):]  # only the points refined since the last frame
            done.append(dom.preview(model.spec, new))
            names_ref += labels(new)
            pics = torch.cat(done)
            blank = torch.zeros((len(raw) - len(pics), *raw.shape[1:]))
            strip = grid_image(torch.cat([raw, pics, blank]), len(raw), self._scale(raw, 84))
            md = (f"Walk from candidate #{a} to #{b}: top, the straight line in weight space; below, each point "
                  f"refined from t0 = {sampling.t0} (λ_g = {sampling.guidance:g}, {sampling.steps} DDIM steps)."
                  "\n\n| α | " + " | ".join(f"{x:.2f}" for x in walk.alphas) + " |\n|---|"
                  + "---|" * len(walk.alphas) + "\n| raw | " + " | ".join(names_raw) + " |\n| refined | "
                  + " | ".join(names_ref + ["…"] * (len(walk.alphas) - len(names_ref))) + " |")
            yield strip, md

    def _stopped(self) -> tuple:
        """What a stopped run shows: the last frame stays, the status says so; nothing else changes."""
        return (gr.skip(), "Stopped before the last DDIM step: no samples were kept.",
                *(gr.skip(),) * (self.outputs - 2))
