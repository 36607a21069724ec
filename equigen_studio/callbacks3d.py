"""Thin adapters for the 3D mode: widget values → one service.studio3d call → images, meshes, plots, tables.

Wired in equigen_studio/ui3d.py; target picking is common.TargetPicker's, as in 2D. The 3D studio
(checkpoints/shapes) is loaded once and read-only; the last samples of a user (their weights and GLB files) travel in
gr.State.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import gradio as gr

from equigen_core.domains.shapes import ShapeDomain
from equigen_core.service import studio3d as core3d
from equigen_core.service.access import AccessPolicy
from equigen_core.service.inspection import feature_map
from equigen_core.service.studio import Studio, StudioError
from equigen_core.weightspace.render import grid_image
from equigen_studio import figures
from equigen_studio.common import (
    SamplingCallbacks,
    default_checkpoint,
    parse_gammas,
    parse_selection,
    progress_to,
    sweep_note,
    target_column,
)
from equigen_studio.errors import errors as _errors

# the 3D tab's "Start from" choices (labels) and the fewshot sampler mode of each (presets.SAMPLERS)
STARTS = ["noise (EquiGen)", "the targets, augmented (EquiGen refine: SDEdit from t0)",
          "the span of the targets (mixtures + moves, from t0)"]
START_MODES = dict(zip(STARTS, ("noise", "augment", "span")))


def start_key(value) -> str | None:
    """A "Start from" choice (its label or its mode name; None: the domain's default) → the sampler mode."""
    if value is None or value == "":
        return None
    if value in START_MODES.values():
        return value
    if value in START_MODES:
        return START_MODES[value]
    raise StudioError(f"unknown start {value!r}; expected one of {STARTS}")


def start_label(sampler: str) -> str:
    return next(k for k, v in START_MODES.items() if v == sampler)


def _pil(views, ncol=None, scale=1):
    return grid_image(views, ncol, scale)


class Callbacks3D(SamplingCallbacks):
    def __init__(self, studio: Studio | None, *, frame_interval: float = 0.03, allow_paths: bool = False):
        self.studio = studio  # None: no shape checkpoints shipped / found (the 3D mode says so)
        self.frame_interval = frame_interval
        # checkpoints by name under the shape root only (any path with allow_paths: local use)
        self.access = AccessPolicy(checkpoints=(studio.root,) if studio else (), allow_paths=allow_paths)

    @property
    def available(self) -> bool:
        return self.studio is not None

    def _studio(self) -> Studio:
        if self.studio is None:
            raise StudioError("no 3D checkpoints loaded: build them with `python -m equigen_core train all --preset "
                              "cpu3d --out checkpoints/shapes`")
        return self.studio

    def _model(self, checkpoint):
        if not checkpoint:
            raise StudioError("no 3D diffusion checkpoint selected")
        return self._studio().model(self.access.checkpoint(checkpoint))

    _checkpoint = _model  # what TargetPicker.default_class reads

    def _candidates(self, cls, uploads=None):
        return core3d.shape_candidates(self._studio(), cls, uploads)

    @_errors
    def fit_uploads(self, files, category, uploads, progress=gr.Progress()):
        """Uploaded meshes → occupancy INRs fitted with the gallery's recipe, appended to the candidates (and
        selected)."""
        studio = self._studio()
        meshes = core3d.meshes_from_files([getattr(f, "name", f) for f in (files or [])])
        progress(0, desc=f"fitting {len(meshes)} occupancy INRs")
        weights = core3d.fit_mesh_targets(studio, meshes,
                                          on_progress=lambda d, t, p: progress(d / max(t, 1), desc=f"fitted {d}/{t}"))
        return self._with_uploads(category, studio.add_uploads(uploads, weights), len(weights))

    # -- targets ----------------------------------------------------------------------------------------------------
    def checkpoints(self) -> list[str]:
        return self.studio.checkpoints() if self.studio else []

    def default_checkpoint(self) -> str | None:
        return default_checkpoint(self.checkpoints(), prefer_base=False)

    def categories(self) -> list[str]:
        return core3d.categories(self.studio) if self.studio else []

    def default_category(self) -> str | None:
        """The category the default checkpoint was adapted to / held out of its base training, else the first."""
        if self.studio is None:
            return None
        return self.studio.class_name(self.default_class(self.default_checkpoint()))

    # -- sampling ---------------------------------------------------------------------------------------------------
    @_errors
    def generate(self, checkpoint, category, selection, gamma, guidance, steps, n, seed, temperature, start, t0,
                 set_level=False, uploads=None):
        """Stream views of the low-resolution x̂0 every few DDIM steps, then the final renders, readouts and the state
        that `show_first` reads (the viewer is filled by that chained, non-streaming event: a `gr.Model3D` filled by
        a generator after earlier yields stays blank in Gradio 6.31)."""
        studio = self._studio()
        model = self._model(checkpoint)
        w, _ = self._candidates(category, uploads)
        idx = parse_selection(selection, len(w))
        s = self.sampling(model, sampler=start_key(start), gamma=gamma, guidance=guidance, steps=steps,
                          temperature=temperature, t0=t0)
        n = int(n)
        core3d.check_request_3d(len(idx), n)
        t_start = time.perf_counter()
        out = yield from self._stream(model, w[idx], s, n=n, seed=int(seed), set_level=bool(set_level),
                                      picture=_pil, caption=f"current x̂0 at {core3d.PREVIEW_RES}³", previews=10)
        if out is None:
            yield self._stopped()
            return
        folder = Path(tempfile.mkdtemp(prefix="equigen3d_"))
        final = core3d.finish_samples(model.spec, out.weights, folder)
        reads = core3d.shape_readouts(studio, out.weights, w[idx], category)
        dt = time.perf_counter() - t_start
        rows = [[i, t, r.category or "(empty)", round(r.nearest_target, 2), final.faces[i]]
                for i, (r, t) in enumerate(zip(reads.rows, target_column(idx, out.target_index)))]
        how = {"augment": f"SDEdit from augmented targets, t0 = {s.t0}", "noise": "from noise",
               "span": f"span of the targets, t0 = {s.t0}"}[s.sampler]
        summary = (f"**{n} shapes** from K = {len(idx)} targets ({how}), γ = {s.gamma:g}, "
                   f"λ_g = {s.guidance:g}, τ = {s.temperature:g}, {s.steps} DDIM steps, seed {int(seed)} — "
                   f"{dt:.1f} s; {reads.summary(str(category))}")
        items = [(_pil(final.views[i:i + 1]), f"#{i}" + ("" if final.glbs[i] else " (empty)")) for i in range(n)]
        last = {"weights": out.weights, "spec": model.spec, "glbs": [str(p) if p else None for p in final.glbs],
                "folder": str(folder), "labels": [r.category for r in reads.rows],
                "targets": target_column(idx, out.target_index)}
        yield _pil(final.views), summary, rows, items, last

    @_errors
    def walk(self, checkpoint, category, selection, a, b, points, seed, uploads=None, start=None, guidance=None,
             steps=None, temperature=None, t0=None):
        """Walk between two candidate shapes: the raw path and the same points refined from the 3D section's t0,
        as ray-cast thumbnails, each with its nearest gallery shape's category; streamed point by point."""
        studio = self._studio()
        model = self._model(checkpoint)
        w, _ = self._candidates(category, uploads)
        s = self.sampling(model, sampler=start_key(start), guidance=guidance, steps=steps, temperature=temperature,
                          t0=t0)
        targets = w[parse_selection(selection, len(w))] if selection else w[:1]

        def labels(weights):
            return [r.category or "(empty)" for r in core3d.shape_readouts(studio, weights, targets, category).rows]

        yield from self._walk(model, w, a, b, points, seed, s, labels)

    def _sample_outputs(self, last, i):
        """Sample i of the last run → (its GLB for the viewer, its turntable GIF, its GLB for download)."""
        if not last:
            raise StudioError("generate shapes first")
        if not 0 <= i < len(last["glbs"]):
            raise StudioError(f"no sample #{i}")
        glb = last["glbs"][i]
        gif, _ = core3d.turntable(last["spec"], last["weights"][i], Path(last["folder"]) / f"turntable_{i:02d}.gif",
                                  frames=16, size=128)
        return glb, str(gif), glb

    @_errors
    def show_first(self, last):
        """After Generate: the first sample's mesh in the 3D viewer, its turntable and its GLB (a stopped run kept
        no samples: the viewer stays as it was)."""
        if not last:
            return gr.skip(), gr.skip(), gr.skip()
        return self._sample_outputs(last, 0)

    @_errors
    def show_sample(self, last, evt: gr.SelectData):
        """Click on a final render: its mesh in the 3D viewer, its turntable and its GLB."""
        return self._sample_outputs(last, int(evt.index))

    # -- Trade-off and feature space --------------------------------------------------------------------------------
    @_errors
    def tradeoff(self, checkpoint, category, selection, gammas_text, n, seed, uploads=None, start=None, guidance=None,
                 steps=None, temperature=None, t0=None, set_level=False, progress=gr.Progress()):
        """The 3D sweep with the Generate section's sampler, knobs, targets and seed: each row varies one knob."""
        studio = self._studio()
        model = self._model(checkpoint)
        targets = self._targets(category, selection, uploads)
        s = self.sampling(model, sampler=start_key(start), guidance=guidance, steps=steps, temperature=temperature,
                          t0=t0)
        tr = core3d.tradeoff_3d(studio, model, targets, category, gammas=parse_gammas(gammas_text), n=int(n),
                                sampling=s, seed=int(seed), mode="set" if set_level else "per-target",
                                on_progress=progress_to(progress))
        rows = [[r["method"] + (f" ({r['knob']} = {r['value']:g})" if r["knob"] else ""), round(r["mmd"], 2),
                 round(r["cov"], 3), round(r["nna"], 3), round(r["novelty"], 2), round(r["empty"], 2),
                 round(r["multi"], 2)] for r in map(ShapeDomain.shown, tr.rows)]  # as the app shows the shapes
        note = sweep_note(s, seed=seed, k=len(targets), n=n, set_level=bool(set_level), with_gamma=True,
                          varies="each row varies one knob (γ, or t0 at that γ)")
        return figures.tradeoff3d_figure(tr), rows, f"{note}\n\nReference: {tr.reference}. {tr.verdict}"

    @_errors
    def shipped_tradeoff(self):
        """What the 3D Trade-off shows before a sweep: the shipped shape model's 3D protocol (docs/data), built once
        per server."""
        return self._once("shipped_tradeoff", self._shipped_tradeoff)

    def _shipped_tradeoff(self):
        found = self._shipped("shape")
        if found is None:
            return gr.skip(), "No measured 3D results beside this checkout (docs/data): run the 3D sweep."
        result, path = found
        return (figures.shipped_tradeoff3d_figure(result, path.name),
                f"Showing the shipped shape model's measured 3D protocol ({path.name}, {len(result['seeds'])} seeds). "
                "**Run the 3D sweep** to measure your own targets with the Generate section's settings.")

    @_errors
    def tsne(self, checkpoint, category, selection, last, uploads=None, progress=gr.Progress()):
        """The shape feature map, as in 2D (computed once per checkpoint, targets and samples)."""
        studio = self._studio()
        model = self._model(checkpoint)
        w, _ = self._candidates(category, uploads)
        idx = parse_selection(selection, len(w))
        names = core3d.category_names(studio)
        c = core3d.category_index(studio, category)
        samples = last["weights"] if last else None
        labels = [names.index(x) if x else -1 for x in last["labels"]] if last else None

        def make():
            progress(0, desc="t-SNE of the shape encoder's features")
            return feature_map(model.encoder, studio.gallery, w[idx], samples, target_class=c, sample_labels=labels,
                               target_ids=idx, sample_targets=last.get("targets") if last else None)

        fm = self._cached_map(("3d", checkpoint, c, tuple(idx)), last, uploads, make)
        return figures.tsne_figure(fm, "t-SNE of ψ — shape encoder (samples coloured by their nearest gallery "
                                   "shape's category)", names=names)
