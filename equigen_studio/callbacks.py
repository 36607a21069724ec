"""Thin adapters: widget values → one equigen_core call → images, plots, tables. No tensor math here.

Every public method is wired to one event in ui.py. Bad input raises gr.Error with the library's message; per-user
data (uploaded targets, the adapted model, the last samples) travels in gr.State, never in module globals.
"""
from __future__ import annotations

import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import gradio as gr
import torch

from equigen_studio import figures
from equigen_core import studio as core
from equigen_core.access import AccessPolicy, name_under
from equigen_core.checkpoint import CheckpointError
from equigen_core.data import DataError
from equigen_core.jobs import Done, check, stream

ADAPTED = "(adapted in this session)"
CHECKPOINT_ENCODER = "the checkpoint's encoder"
SMOOTH_ENCODER = "encoder trained with smooth augmentation"
GRID_SCALE = 4  # nearest-neighbour upscale of 28-px renders, so the browser shows crisp pixels
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _errors(fn):
    """Library errors → gr.Error with the message (the UI shows it; the API returns it)."""
    import functools
    import inspect

    expected = (core.StudioError, DataError, CheckpointError, ValueError, FileNotFoundError)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*a, **k):
            try:
                yield from fn(*a, **k)
            except gr.Error:
                raise
            except expected as e:
                raise gr.Error(str(e)) from e
        return gen

    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except gr.Error:
            raise
        except expected as e:
            raise gr.Error(str(e)) from e
    return wrapper


def parse_selection(text: str, available: int) -> list[int]:
    """"0, 3, 5-7" → [0, 3, 5, 6, 7]; indices into the candidate gallery."""
    out: list[int] = []
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise core.StudioError(f"selection {text!r}: use gallery indices like '0,1,2' or '0-9'")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        out.extend(range(a, b + 1))
    bad = [i for i in out if i >= available]
    if bad:
        raise core.StudioError(f"selection {text!r}: index {bad[0]} is out of range; the gallery has {available} "
                               f"candidates (0–{available - 1})")
    return sorted(set(out))


def format_selection(idx: list[int]) -> str:
    return ",".join(str(i) for i in sorted(set(idx)))


def _kept_out(keep_out) -> tuple[int, ...]:
    """The Train tab's "class kept out" dropdown → () or (c,)."""
    return () if keep_out in (None, "", "none") else (int(keep_out),)


def _base_classes(zoo, keep_out) -> tuple[int, ...] | None:
    """The zoo's classes minus the kept-out one (None: all of them)."""
    out = _kept_out(keep_out)
    return tuple(int(c) for c in zoo.labels.unique() if int(c) not in out) if out else None


def device_text() -> str:
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        return f"**Device:** CUDA — {torch.cuda.get_device_name(0)}" + (f" (×{n})" if n > 1 else "")
    return f"**Device:** CPU ({torch.get_num_threads()} threads) — small presets train in minutes"


class Callbacks:
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
        ck = self.checkpoints()  # the base model (measured better than the adapted one, docs/RESULTS.md), else
        base = [c for c in ck if Path(c).name == "diffusion"]  # an adapted one, else any
        adapted = [c for c in ck if Path(c).name.startswith("diffusion_")]
        return (base or adapted or ck or [None])[0]

    def default_class(self, checkpoint: str | None) -> int:
        """The class the checkpoint was adapted to, else the one its base training held out, else the first."""
        classes = self.studio.classes()
        try:
            cfg = self._checkpoint(checkpoint).config if checkpoint else {}
        except (CheckpointError, ValueError):
            cfg = {}
        held = [c for c in classes if c not in (cfg.get("train", {}).get("classes") or classes)]
        return held[0] if held else classes[0]

    def _candidates(self, cls, uploads):
        return self.studio.candidates(int(cls), uploads)

    @_errors
    def show_candidates(self, cls, uploads):
        """→ (gallery items, selection text, summary with the selected thumbnails)."""
        w, imgs = self._candidates(cls, uploads)
        k = list(range(min(10, len(w))))
        return self._gallery_items(imgs, uploads, len(w)), format_selection(k), *self._selection_view(k, imgs)

    def _gallery_items(self, imgs, uploads, n):
        from equigen_core.render import grid_image

        n_up = 0 if uploads is None else len(uploads["weights"])
        return [(grid_image(imgs[i:i + 1], 1, 4), f"#{i}" + (" (upload)" if i >= n - n_up else ""))
                for i in range(n)]

    @staticmethod
    def _selection_view(idx, imgs):
        """(summary markdown, thumbnails of the selected targets) — the gallery itself highlights only one item."""
        from equigen_core.render import grid_image

        md = f"**K = {len(idx)}** selected of {len(imgs)} candidates: {format_selection(idx) or '—'}"
        return md, [(grid_image(imgs[i:i + 1], 1, 2), f"#{i}") for i in sorted(idx)]

    @_errors
    def toggle(self, selection, cls, uploads, evt: gr.SelectData):
        """Click on a candidate: add it to / remove it from the selection."""
        w, imgs = self._candidates(cls, uploads)
        idx = parse_selection(selection, len(w))
        i = int(evt.index)
        idx = [j for j in idx if j != i] if i in idx else idx + [i]
        if len(idx) > core.MAX_TARGETS:
            raise gr.Error(f"at most {core.MAX_TARGETS} targets")
        return format_selection(idx), *self._selection_view(idx, imgs)

    @_errors
    def set_selection(self, selection, cls, uploads):
        w, imgs = self._candidates(cls, uploads)
        idx = [i for i in parse_selection(selection, 10**6) if i < len(w)]  # "0-9" on a smaller gallery: all
        return format_selection(idx), *self._selection_view(idx, imgs)

    @_errors
    def fit_uploads(self, files, cls, uploads, progress=gr.Progress()):
        """Uploaded images → fitted INRs appended to the candidates (and selected)."""
        paths = [getattr(f, "name", f) for f in (files or [])]
        images = core.images_from_files(paths, channels=self.studio.spec.out_dim)
        progress(0, desc=f"fitting {len(images)} INRs")
        weights = core.fit_targets(self.studio.spec, images, fit_cfg=self.studio.fit_config(),
                                   init=self.studio.fit_init,
                                   on_progress=lambda d, t, p: progress(d / max(t, 1), desc=f"fitted {d}/{t}"))
        new = self.studio.add_uploads(uploads, weights)
        w, imgs = self._candidates(cls, new)
        sel = list(range(len(w) - len(weights), len(w)))
        return new, self._gallery_items(imgs, new, len(w)), format_selection(sel), *self._selection_view(sel, imgs)

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
                 set_level=False):
        """Stream x̂0 grids for every DDIM step, then the final grid, readouts and the weights file."""
        from equigen_core.render import grid_image

        model = self._model(checkpoint, adapted)
        w, timgs = self._candidates(cls, uploads)
        idx = parse_selection(selection, len(w))
        targets = w[idx]
        core.check_generation_args(len(targets), int(n), float(gamma), float(guidance), int(steps), float(temperature))
        res = int(res)
        scale = max(1, GRID_SCALE * 28 // res)
        t0 = last_frame = time.perf_counter()
        for item in core.generate_stream(model, targets, n=int(n), gamma=float(gamma), guidance=float(guidance),
                                         steps=int(steps), seed=int(seed), res=res, temperature=float(temperature),
                                         mode="set" if set_level else "per-target"):
            if isinstance(item, Done):
                out = item.value
                break
            wait = self.frame_interval - (time.perf_counter() - last_frame)
            if wait > 0:
                time.sleep(wait)
            last_frame = time.perf_counter()
            yield (grid_image(item.images, None, scale), f"DDIM step {item.step}/{item.total}: current x̂0",
                   gr.skip(), gr.skip(), gr.skip())
        dt = time.perf_counter() - t0
        reads = core.readouts(out.images, timgs[idx], self.studio.classifier)
        rows = [[i, int(idx[int(out.target_index[i])]) if int(out.target_index[i]) >= 0 else -1,
                 "" if r.label is None else r.label, "" if r.confidence is None else round(r.confidence, 3),
                 round(r.nearest_shot, 3)] for i, r in enumerate(reads)]
        path = core.save_samples(Path(tempfile.mkdtemp(prefix="equigen_")) / "samples.safetensors",
                                 model.spec, out)
        labels = [r.label for r in reads if r.label is not None]
        summary = (f"**{int(n)} samples** from K = {len(idx)} targets, γ = {float(gamma):g}, λ = {float(guidance):g}, "
                   f"τ = {float(temperature):g}, {int(steps)} DDIM steps, seed {int(seed)} — {dt:.2f} s with live "
                   "frames")
        if labels:
            top = max(set(labels), key=labels.count)
            summary += f"; classifier: {labels.count(top)}/{len(labels)} look like a {top}"
        last = {"weights": out.weights, "spec": model.spec, "labels": labels or None}
        yield grid_image(out.images, None, scale), summary, rows, str(path), last

    @_errors
    def rerender(self, last, res):
        """The last samples at another resolution: an INR is a continuous function."""
        from equigen_core.inr import render_images
        from equigen_core.render import grid_image

        if not last:
            raise core.StudioError("generate samples first")
        res = int(res)
        return grid_image(render_images(last["spec"], last["weights"], res), None, max(1, GRID_SCALE * 28 // res))

    @_errors
    def adapt(self, checkpoint, cls, selection, steps, uploads, progress=gr.Progress()):
        """Stage 3 on the selected targets: a short few-shot fine-tune (replay from the gallery), kept in this
        session as the checkpoint '(adapted in this session)'."""
        from equigen_core.train import FinetuneConfig, finetune

        if checkpoint in (None, ADAPTED):
            raise core.StudioError("pick a trained checkpoint to adapt from")
        base = self._checkpoint(checkpoint)
        w, _ = self._candidates(cls, uploads)
        targets = w[parse_selection(selection, len(w))]
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
    def tradeoff(self, checkpoint, cls, selection, gammas_text, n, steps, seed, uploads, adapted,
                 progress=gr.Progress()):
        model = self._model(checkpoint, adapted)
        w, _ = self._candidates(cls, uploads)
        targets = w[parse_selection(selection, len(w))]
        try:
            gammas = [float(g) for g in gammas_text.replace(" ", "").split(",") if g]
        except ValueError as e:
            raise core.StudioError(f"γ values {gammas_text!r}: give numbers separated by commas") from e
        tr = core.tradeoff(model, targets, int(cls), self.studio.classifier, gammas=gammas, n=int(n),
                           steps=int(steps), seed=int(seed),
                           on_progress=lambda i, t, what: progress(i / t, desc=what))
        rows = [[r.name, r.accuracy, r.aligned_novelty, r.novelty, r.diversity, r.fd, r.coverage, r.speckle]
                for r in tr.samples + tr.refined + tr.baselines]
        rows = [[x if isinstance(x, str) else round(x, 3) for x in r] for r in rows]
        return figures.tradeoff_figure(tr), rows, tr.verdict

    def encoder_choices(self) -> list[str]:
        extra = [SMOOTH_ENCODER] if (self.studio.root / "encoder_smooth").is_dir() else []
        return [CHECKPOINT_ENCODER] + extra

    @_errors
    def tsne(self, encoder_choice, checkpoint, cls, selection, uploads, adapted, last):
        from equigen_core.train import load_encoder

        model = self._model(checkpoint, adapted)
        if encoder_choice == SMOOTH_ENCODER:
            path = self.studio.root / "encoder_smooth"
            if not path.is_dir():
                raise core.StudioError(f"{path}: no encoder trained with smooth augmentation is shipped")
            encoder, title = load_encoder(path, self.studio.spec), "encoder trained with smooth augmentation"
        else:
            encoder, title = model.encoder, "the checkpoint's encoder"
        w, _ = self._candidates(cls, uploads)
        targets = w[parse_selection(selection, len(w))]
        samples = last["weights"] if last else None
        labels = last.get("labels") if last else None  # the classifier's labels from the generation's readouts
        fm = core.feature_map(encoder, self.studio.gallery, targets, samples, target_class=int(cls),
                              sample_labels=labels)
        return figures.tsne_figure(fm, f"t-SNE of ψ — {title}")

    # -- About: the equivariance check ------------------------------------------------------------------------------
    @_errors
    def verify(self, checkpoint, cls, index, seed, uploads, adapted):
        from equigen_core.render import grid_image

        model = self._model(checkpoint, adapted)
        w, _ = self._candidates(cls, uploads)
        if not 0 <= int(index) < len(w):
            raise core.StudioError(f"candidate index must be in 0–{len(w) - 1}, got {index}")
        chk = core.equivariance_check(model.encoder, model.spec, w[int(index)], seed=int(seed))
        md = (f"Random permutation of the hidden neurons (seed {int(seed)}):\n\n"
              f"| | change |\n|---|---|\n"
              f"| raw weights (RMS) | **{chk.weight_change:.4f}** |\n"
              f"| rendered image (max abs) | **{chk.render_change:.2e}** |\n"
              f"| encoder features ψ (max abs, of max abs {chk.feature_scale:.2f}) | **{chk.feature_change:.2e}** |\n\n"
              "Different weights, the same function, the same features: ψ is permutation-invariant by construction.")
        return grid_image(chk.images, 2, 4), figures.weights_figure(chk, model.spec), md

    # -- Train tab ------------------------------------------------------------------------------------------------
    def zoos(self) -> list[str]:
        found = core.list_zoos(self.work / "zoos", Path("runs"), self.studio.root)
        return list(dict.fromkeys(name_under(p, self.access.zoos) for p in found))

    def encoders(self) -> list[str]:
        found = core.list_checkpoints(self.work / "encoders", self.studio.root, kind="encoder")
        return [name_under(p, self.access.encoders) for p in found]

    def _out(self, kind: str, name: str) -> Path:
        if not NAME_RE.match(name or ""):
            raise core.StudioError(f"output name {name!r}: use letters, digits, '_', '-' or '.' (≤ 64 characters)")
        return self.work / kind / name

    def _train_loop(self, fn, title, total, finish, progress, ylabel="loss"):
        """Run fn(emit, stop), which emits (step, value) pairs, in a worker; yield (plot, status, 4 dropdown
        updates) at most 4 times a second (every item is still a chance to cancel), then finish(result) as the
        status with refreshed dropdowns."""
        steps, vals = [], []
        last = 0.0
        for item in stream(fn):
            if isinstance(item, Done):
                yield gr.skip(), finish(item.value), *self._refresh()
                return
            steps.append(item[0])
            vals.append(item[1])
            progress(min(1.0, item[0] / max(1, total)), desc=title)
            now = time.perf_counter()
            if now - last > 0.25:
                last = now
                yield (figures.loss_figure(steps, vals, title=title, ylabel=ylabel),
                       f"{title}: step {item[0]}/{total}, {ylabel} {item[1]:.4f}", *(gr.skip(),) * 4)
            else:
                yield (gr.skip(),) * 6

    def _data_dir(self, dataset, data_dir, archive):
        """The training-data folder for folder / cifar10: an uploaded .zip (extracted, checked), a folder name under
        the operator's data root, or (allow_paths) any folder."""
        from equigen_core.data.images import extract_image_zip

        if dataset == "mnist":
            return None
        if archive:
            path = Path(getattr(archive, "name", archive))
            if path.suffix.lower() != ".zip":
                raise core.StudioError(f"{path.name}: upload a .zip of image folders (one folder per class)")
            if dataset != "folder":
                raise core.StudioError("uploads are read as image folders: pick the source 'folder'")
            return extract_image_zip(path, tempfile.mkdtemp(prefix="equigen_data_"))
        return self.access.data_dir(data_dir)

    @_errors
    def train_data(self, dataset, data_dir, limit, target_psnr, name, init="meta", keep_out="9", archive=None,
                   progress=gr.Progress()):
        from equigen_core.data.sources import load_source
        from equigen_core.data.zoo import build_zoo, save_zoo
        from equigen_core.fit import FitConfig, default_lr
        from equigen_core.inr import get_preset

        out = self._out("zoos", name)
        spec = get_preset("cifar" if dataset == "cifar10" else "mnist")
        data, index, source = load_source(dataset, self._data_dir(dataset, data_dir, archive),
                                          limit=int(limit) if limit else None, channels=spec.out_dim)
        cfg = FitConfig(target_psnr=float(target_psnr), init=init, lr=default_lr(init))
        total = len(data)

        def work(emit, stop):
            def cb(p):
                emit((p.done, p.mean_psnr_done if p.done else 0.0))
                check(stop)
            zoo = build_zoo(data, spec=spec, fit_cfg=cfg, source=source, index=index, progress=False, callback=cb,
                            meta_exclude=_kept_out(keep_out))
            zoo.meta["path"] = str(out)
            return save_zoo(out, zoo), zoo

        def finish(value):
            path, zoo = value
            return (f"Wrote **{path}**: {len(zoo)} INRs, mean PSNR {zoo.psnr.mean():.2f} dB in "
                    f"{zoo.meta['fit_seconds']:.1f} s. It is now in the zoo lists.")

        yield from self._train_loop(work, "fitting INRs", total, finish, progress, ylabel="mean PSNR (dB)")

    @_errors
    def train_encoder(self, zoo_path, preset, steps, batch_size, lr, smooth, name, keep_out="9",
                      progress=gr.Progress()):
        from equigen_core.data.zoo import load_zoo
        from equigen_core.encoder import get_preset
        from equigen_core.train import EncoderTrainConfig, train_encoder

        out = self._out("encoders", name)
        zoo = load_zoo(self.access.zoo(zoo_path))
        enc_cfg = get_preset(preset)  # as the shipped encoders (train all) at that size
        cfg = EncoderTrainConfig(steps=int(steps), batch_size=int(batch_size), lr=float(lr), smooth=bool(smooth),
                                 log_every=max(1, int(steps) // 100), supervised=1.0,
                                 classes=_base_classes(zoo, keep_out))

        def work(emit, stop):
            return train_encoder(zoo, cfg, enc_cfg, out=out, progress=False, callback=lambda s, l: emit((s, l)),
                                 should_stop=stop, tsne=None)

        def finish(r):
            return (f"Wrote **{r.path}** in {r.seconds:.1f} s: kNN accuracy of ψ {r.knn_accuracy:.3f} "
                    f"(raw weights {r.knn_accuracy_raw:.3f}).")

        yield from self._train_loop(work, "stage 1: InfoNCE", int(steps), finish, progress)

    @_errors
    def train_diffusion(self, zoo_path, encoder_path, preset, steps, batch_size, lr, lambda_eq, name, space="pca",
                        keep_out="9", condition="probe", progress=gr.Progress()):
        from equigen_core.data.zoo import load_zoo
        from equigen_core.denoiser import get_preset
        from equigen_core.train import DiffusionTrainConfig, load_encoder, train_diffusion

        out = self._out("diffusion", name)
        zoo = load_zoo(self.access.zoo(zoo_path))
        encoder_path = self.access.encoder(encoder_path)
        encoder = load_encoder(encoder_path, zoo.spec)
        cfg = DiffusionTrainConfig(steps=int(steps), batch_size=int(batch_size), lr=float(lr),
                                   lambda_eq=float(lambda_eq), log_every=max(1, int(steps) // 100), save_every=0,
                                   space=space, classes=_base_classes(zoo, keep_out),
                                   condition=condition if encoder.cfg.probe_res else "features")

        def work(emit, stop):
            return train_diffusion(zoo, encoder, cfg, get_preset(preset), out=out, progress=False,
                                   callback=lambda s, l: emit((s, l)), should_stop=stop,
                                   encoder_path=Path(encoder_path).resolve())

        def finish(r):
            return f"Wrote **{r.path}** in {r.seconds:.1f} s; pick it in the Generate tab's checkpoint list."

        yield from self._train_loop(work, "stage 2: L_recon + λ·L_eq", int(steps), finish, progress)

    @_errors
    def train_finetune(self, base, zoo_path, cls, k, steps, lambda_eq, name, progress=gr.Progress()):
        from equigen_core.data.zoo import load_zoo
        from equigen_core.train import FinetuneConfig, finetune

        out = self._out("diffusion", name)
        base = self._checkpoint(base).path  # a listed name ("diffusion"), or a path with allow_paths
        zoo = load_zoo(self.access.zoo(zoo_path))
        pool = zoo.train().select(zoo.train().labels == int(cls))
        if len(pool) < int(k) or int(k) < 3:
            raise core.StudioError(f"K must be in 3–{len(pool)} (the zoo has {len(pool)} training INRs of class "
                                   f"{int(cls)}), got {int(k)}")
        shots = pool.weights[: int(k)]
        cfg = FinetuneConfig(steps=int(steps), lambda_eq=float(lambda_eq), eval_every=max(5, int(steps) // 20))

        def work(emit, stop):
            return finetune(base, shots, zoo, cfg, out=out, progress=False, callback=lambda s, h: emit((s, h)),
                            should_stop=stop)

        def finish(r):
            return (f"Wrote **{r.path}** in {r.seconds:.1f} s; early stopping kept step {r.best_step}. Pick it in "
                    "the Generate tab.")

        yield from self._train_loop(work, "stage 3: held-aside shots' loss", int(steps), finish, progress)

    def _refresh(self):
        """New choices for the dropdowns that list what training writes: (checkpoints, zoos, encoders, bases)."""
        ck = self.checkpoints()
        return (gr.update(choices=ck), gr.update(choices=self.zoos()), gr.update(choices=self.encoders()),
                gr.update(choices=ck))
