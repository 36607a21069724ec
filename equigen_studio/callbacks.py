"""Thin adapters: widget values → one equigen_core call → images, plots, tables. No tensor math here.

Every public method is wired to one event in ui.py. Bad input raises gr.Error with the library's message; per-user
data (uploaded targets, the adapted model, the last samples) travels in gr.State, never in module globals.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import gradio as gr

from equigen_core.domains.images import ImageDomain
from equigen_core.nets.models import load_encoder
from equigen_core.service import inspection
from equigen_core.service import studio as core
from equigen_core.service.access import AccessPolicy, name_under
from equigen_core.service.jobs import Done, stream
from equigen_core.training.stage3 import FinetuneConfig, finetune
from equigen_core.weightspace.inr import render_images
from equigen_core.weightspace.render import grid_image
from equigen_studio import figures
from equigen_studio.common import (  # noqa: F401
    SamplingCallbacks,
    default_checkpoint,
    format_selection,
    parse_gammas,
    parse_selection,
    progress_to,
    sweep_note,
    target_column,
)
from equigen_studio.errors import errors as _errors
from equigen_studio.train_callbacks import TrainCallbacks, device_text  # noqa: F401 (device_text: used by ui)

ADAPTED = "(adapted in this session)"
CHECKPOINT_ENCODER = "the checkpoint's encoder"
SMOOTH_ENCODER = "encoder trained with smooth augmentation"
GRID_SCALE = 4  # nearest-neighbour upscale of 28-px renders, so the browser shows crisp pixels
# the Generate tab's sampler choices: label → fewshot sampler mode (presets.SAMPLERS)
SAMPLER_CHOICES = {"span of the targets (default)": "span", "from noise (EquiGen)": "noise",
                   "refine augmented targets": "augment"}


def sampler_key(value) -> str:
    """A sampler choice from the UI or the API (its label or its mode name; None: the default) → the mode name."""
    if value is None or value == "":
        return None  # the domain's default (presets)
    if value in SAMPLER_CHOICES.values():
        return value
    if value in SAMPLER_CHOICES:
        return SAMPLER_CHOICES[value]
    raise core.StudioError(f"unknown sampler {value!r}; expected one of {list(SAMPLER_CHOICES)} (or "
                           f"{', '.join(SAMPLER_CHOICES.values())})")


def describe(s) -> str:
    """One line of what a Sampling drew with (the Generate tab's status)."""
    how = {"span": f"span sampler (mixtures + geometric augmentation, denoised from t0 = {s.t0})",
           "noise": "from noise", "augment": f"refined from augmented targets (t0 = {s.t0})"}[s.sampler]
    return f"{how}, γ = {s.gamma:g}, λ_g = {s.guidance:g}, τ = {s.temperature:g}, {s.steps} DDIM steps"


def sampler_label(sampler: str) -> str:
    return next(k for k, v in SAMPLER_CHOICES.items() if v == sampler)


class Callbacks(SamplingCallbacks, TrainCallbacks):
    """The Generate, Trade-off, Feature-space and About tabs (target picking: common.TargetPicker; the Train tab:
    train_callbacks.py)."""

    def __init__(self, studio: core.Studio, work_dir: str | Path = "runs/studio", *, frame_interval: float = 0.03,
                 allow_paths: bool = False, data_root: str | Path | None = None):
        self.studio = studio
        self.work = Path(work_dir)
        # what the server reads: names under the shipped root, the Train tab's folders (and, for zoos, runs/ where
        # `train all` writes); any path only with allow_paths (local use); training data from uploads or data_root
        self.access = AccessPolicy(checkpoints=(studio.root, self.work), zoos=(studio.root, self.work, Path("runs")),
                                   encoders=(studio.root, self.work),
                                   data_root=Path(data_root) if data_root else None, allow_paths=allow_paths)
        # pacing of the live x̂0 frames: the CPU model samples 50 steps in ~0.2 s, too fast to watch; at most one frame
        # per interval (≈ 33 updates/s) keeps the denoising visible without slowing it much
        self.frame_interval = frame_interval

    # -- Generate tab: targets --------------------------------------------------------------------------------------
    def checkpoints(self) -> list[str]:
        """The shipped diffusion checkpoints, then those the Train tab wrote, by name (e.g. "diffusion",
        "diffusion/mine")."""
        trained = [name_under(p, self.access.checkpoints) for p in core.list_checkpoints(self.work / "diffusion")]
        return list(dict.fromkeys(self.studio.checkpoints() + trained))

    def _checkpoint(self, name):
        """A checkpoint name from the lists (or any path, with allow_paths) → the loaded model."""
        return self.studio.model(self.access.checkpoint(name))

    def default_checkpoint(self) -> str | None:
        return default_checkpoint(self.checkpoints(), prefer_base=True)

    def _studio(self) -> core.Studio:
        return self.studio

    @_errors
    def fit_uploads(self, files, cls, uploads, progress=gr.Progress()):
        """Uploaded images → fitted INRs appended to the candidates (and selected)."""
        paths = [getattr(f, "name", f) for f in (files or [])]
        images = core.images_from_files(paths, channels=self.studio.spec.out_dim)
        progress(0, desc=f"fitting {len(images)} INRs")
        weights = core.fit_targets(self.studio.spec, images, fit_cfg=self.studio.fit_config(),
                                   init=self.studio.fit_init,
                                   on_progress=lambda d, t, p: progress(d / max(t, 1), desc=f"fitted {d}/{t}"))
        return self._with_uploads(cls, self.studio.add_uploads(uploads, weights), len(weights))

    # -- Generate tab: sampling -------------------------------------------------------------------------------------
    def _model(self, checkpoint, adapted):
        if checkpoint == ADAPTED:
            if adapted is None:
                raise core.StudioError("no adapted model in this session yet: select targets and press Adapt")
            return adapted
        if not checkpoint:
            raise core.StudioError("no diffusion checkpoint selected")
        return self._checkpoint(checkpoint)

    @_errors
    def generate(self, checkpoint, cls, selection, gamma, guidance, steps, n, seed, res, temperature, uploads, adapted,
                 set_level=False, sampler=None, t0=None):
        """Stream x̂0 grids for every DDIM step, then the final grid, readouts and the weights file."""

        model = self._model(checkpoint, adapted)
        w, timgs = self._candidates(cls, uploads)
        idx = parse_selection(selection, len(w))
        s = self.sampling(model, sampler=sampler_key(sampler), gamma=gamma, guidance=guidance, steps=steps,
                          temperature=temperature, t0=t0)
        core.check_request(len(idx), int(n))
        res = int(res)
        scale = max(1, GRID_SCALE * 28 // res)
        started = time.perf_counter()
        out = yield from self._stream(model, w[idx], s, n=int(n), seed=int(seed), set_level=bool(set_level),
                                      picture=lambda im: grid_image(im, None, scale), res=res)
        if out is None:
            yield self._stopped()
            return
        dt = time.perf_counter() - started
        reads = core.readouts(out.images, timgs[idx], self.studio.classifier)
        rows = [[i, t, "" if r.label is None else r.label, "" if r.confidence is None else round(r.confidence, 3),
                 round(r.nearest_shot, 3)] for i, (r, t) in enumerate(zip(reads, target_column(idx, out.target_index)))]
        path = core.save_samples(Path(tempfile.mkdtemp(prefix="equigen_")) / "samples.safetensors",
                                 model.spec, out)
        labels = [r.label for r in reads if r.label is not None]
        summary = (f"**{int(n)} samples** from K = {len(idx)} targets, {describe(s)}, seed {int(seed)} "
                   f"— {dt:.2f} s with live frames")
        if labels:
            top = max(set(labels), key=labels.count)
            summary += f"; classifier: {labels.count(top)}/{len(labels)} look like a {top}"
        last = {"weights": out.weights, "spec": model.spec, "labels": labels or None,
                "targets": target_column(idx, out.target_index)}
        yield grid_image(out.images, None, scale), summary, rows, str(path), last

    @_errors
    def walk(self, checkpoint, cls, selection, a, b, points, seed, uploads, adapted, sampler=None, guidance=None,
             steps=None, temperature=None, t0=None):
        """Walk the weight space between two candidates: the raw path and the same points after the denoiser (from
        the Generate tab's t0, λ_g, τ and steps), each with the classifier's label; streamed point by point."""
        model = self._model(checkpoint, adapted)
        w, _ = self._candidates(cls, uploads)
        s = self.sampling(model, sampler=sampler_key(sampler), guidance=guidance, steps=steps,
                          temperature=temperature, t0=t0)
        clf = self.studio.classifier

        def labels(weights):
            if clf is None:
                return ["?"] * len(weights)
            conf, lab = clf.probabilities(render_images(model.spec, weights, 28)).max(dim=1)
            return [f"{int(x)} ({float(c):.2f})" for x, c in zip(lab, conf)]

        yield from self._walk(model, w, a, b, points, seed, s, labels)

    @_errors
    def rerender(self, last, res):
        """The last samples at another resolution: an INR is a continuous function."""

        if not last:
            raise core.StudioError("generate samples first")
        res = int(res)
        return grid_image(render_images(last["spec"], last["weights"], res), None, max(1, GRID_SCALE * 28 // res))

    @_errors
    def adapt(self, checkpoint, cls, selection, steps, uploads, progress=gr.Progress()):
        """Stage 3 on the selected targets: a short few-shot fine-tune (replay from the gallery), kept in this
        session as the checkpoint '(adapted in this session)'."""

        if checkpoint in (None, ADAPTED):
            raise core.StudioError("pick a trained checkpoint to adapt from")
        base = self._checkpoint(checkpoint)
        targets = self._targets(cls, selection, uploads)
        if len(targets) < 3:
            raise core.StudioError(f"Adapt needs K ≥ 3 targets (2 are held aside for early stopping); got "
                                   f"{len(targets)}")
        steps = int(steps)
        cfg = FinetuneConfig(steps=steps, eval_every=max(5, steps // 10))
        progress(0, desc="stage 3: few-shot adaptation")
        for item in stream(lambda emit, stop: finetune(base.path, targets, self.studio.gallery, cfg, progress=False,
                                                       callback=lambda s, h: emit((s, h)), should_stop=stop)):
            if isinstance(item, Done):
                res = item.value
                break
            progress(item[0] / steps, desc=f"step {item[0]}/{steps}, held-aside loss {item[1]:.4f}")
        adapted = replace(base, denoiser=res.model, path=None)
        md = (f"Adapted **{Path(checkpoint).name}** to K = {len(targets)} targets in {res.seconds:.1f} s; early "
              f"stopping kept step {res.best_step} of {steps}. Now generating from it.")
        fig = figures.loss_figure([s for s, _ in res.heldout_curve], [h for _, h in res.heldout_curve],
                                  title="held-aside shots: denoising loss", ylabel="loss")
        return adapted, gr.update(choices=self.checkpoints() + [ADAPTED], value=ADAPTED), md, fig

    # -- Trade-off and feature space --------------------------------------------------------------------------------
    @_errors
    def tradeoff(self, checkpoint, cls, selection, gammas_text, n, seed, uploads, adapted, sampler=None,
                 guidance=None, steps=None, temperature=None, t0=None, set_level=False, progress=gr.Progress()):
        """The γ sweep with the Generate tab's sampler, knobs, targets and seed: only γ varies."""
        model = self._model(checkpoint, adapted)
        w, _ = self._candidates(cls, uploads)
        idx = parse_selection(selection, len(w))
        targets = w[idx]
        s = self.sampling(model, sampler=sampler_key(sampler), guidance=guidance, steps=steps,
                          temperature=temperature, t0=t0)
        gallery = self.studio.gallery
        # the gallery's INRs of the class that are not targets (uploads excluded): the off-stroke ink yardstick
        n_gallery = len(w) - (len(uploads["weights"]) if uploads else 0)
        chosen = set(idx)
        others = [i for i in range(n_gallery) if i not in chosen]
        tr = core.tradeoff(model, targets, int(cls), self.studio.classifier, gammas=parse_gammas(gammas_text),
                           n=int(n), sampling=s, seed=int(seed), mode="set" if set_level else "per-target",
                           real=ImageDomain.of(gallery).real_images(gallery, int(cls)), real_inrs=w[others],
                           on_progress=progress_to(progress))
        rows = [[r.name, r.accuracy, r.aligned_novelty, r.coverage, r.vendi, r.off_stroke, r.fd]
                for r in tr.samples + tr.baselines]
        rows = [[x if isinstance(x, str) else round(x, 3) for x in r] for r in rows]
        note = sweep_note(s, seed=seed, k=len(targets), n=n, set_level=bool(set_level))
        return figures.tradeoff_figure(tr), rows, f"{note}\n\n{tr.verdict}"

    @_errors
    def shipped_tradeoff(self):
        """What the Trade-off tab shows before a sweep: the shipped model's multi-seed frontier (docs/data), built
        once per server (every page load shows it)."""
        return self._once("shipped_tradeoff", self._shipped_tradeoff)

    def _shipped_tradeoff(self):
        found = self._shipped(self.studio.domain.kind)
        if found is None:
            return gr.skip(), "No measured results beside this checkout (docs/data): run the γ sweep."
        (result, path), v = found, found[0].get("verdict", {})
        met = [k for k, c in v.items() if isinstance(c, dict) and c.get("met") is True]
        unmet = [k for k, c in v.items() if isinstance(c, dict) and c.get("met") is False]
        checks = (f" Protocol checks met: {', '.join(met) or 'none'}; not met: {', '.join(unmet) or 'none'}."
                  if v else "")
        return (figures.shipped_tradeoff_figure(result, path.name),
                f"Showing the shipped model's measured frontier ({path.name}: {len(result['meta']['config']['seeds'])}"
                f" seeds, 95 % intervals; docs/RESULTS.md).{checks} **Run the γ sweep** to measure your own targets "
                "with the Generate tab's settings.")

    def encoder_choices(self) -> list[str]:
        extra = [SMOOTH_ENCODER] if (self.studio.root / "encoder_smooth").is_dir() else []
        return [CHECKPOINT_ENCODER] + extra

    @_errors
    def tsne(self, encoder_choice, checkpoint, cls, selection, uploads, adapted, last, progress=gr.Progress()):
        """The feature map: gallery, targets and the last samples (linked to their targets); computed once per
        checkpoint, encoder, targets and samples (the page draws it at load)."""
        model = self._model(checkpoint, adapted)
        if encoder_choice == SMOOTH_ENCODER:
            path = self.studio.root / "encoder_smooth"
            if not path.is_dir():
                raise core.StudioError(f"{path}: no encoder trained with smooth augmentation is shipped")
            encoder, title = load_encoder(path, self.studio.spec), "encoder trained with smooth augmentation"
        else:
            encoder, title = model.encoder, "the checkpoint's encoder"
        c = self.studio.class_index(cls)
        w, _ = self._candidates(cls, uploads)
        idx = parse_selection(selection, len(w))
        samples = last["weights"] if last else None
        labels = last.get("labels") if last else None  # the classifier's labels from the generation's readouts

        def make():
            progress(0, desc="t-SNE of the encoder features (once for these targets and samples)")
            return inspection.feature_map(encoder, self.studio.gallery, w[idx], samples, target_class=c,
                                          sample_labels=labels, target_ids=idx,
                                          sample_targets=last.get("targets") if last else None)

        fm = self._cached_map(("2d", checkpoint, encoder_choice, c, tuple(idx)), last, uploads, make)
        return figures.tsne_figure(fm, f"t-SNE of ψ — {title}")

    # -- About: the equivariance check ------------------------------------------------------------------------------
    @_errors
    def verify(self, checkpoint, cls, index, seed, uploads, adapted):
        model = self._model(checkpoint, adapted)
        w, _ = self._candidates(cls, uploads)
        if not 0 <= int(index) < len(w):
            raise core.StudioError(f"candidate index must be in 0–{len(w) - 1}, got {index}")
        chk = inspection.equivariance_check(model.encoder, model.spec, w[int(index)], seed=int(seed))
        md = (f"Random permutation of the hidden neurons (seed {int(seed)}):\n\n"
              f"| | change |\n|---|---|\n"
              f"| raw weights (RMS) | **{chk.weight_change:.4f}** |\n"
              f"| rendered image (max abs) | **{chk.render_change:.2e}** |\n"
              f"| encoder features ψ (max abs, of max abs {chk.feature_scale:.2f}) | **{chk.feature_change:.2e}** |\n\n"
              "Different weights, the same function, the same features: ψ is permutation-invariant by construction.")
        return grid_image(chk.images, 2, 4), figures.weights_figure(chk, model.spec), md
