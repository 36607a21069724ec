"""The Train tab's adapters: build a zoo and train stages 1–3 in a worker with live loss plots, cancellable; the
server reads zoos / encoders / checkpoints only by name (service.access) and training data only from uploads or
its data root. Mixed into callbacks.Callbacks, whose studio, work dir and access policy they use."""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import gradio as gr
import torch

from equigen_core.data.images import extract_image_zip
from equigen_core.data.sources import load_source
from equigen_core.data.zoo import build_zoo, load_zoo, save_zoo
from equigen_core.nets.denoiser import get_preset as denoiser_preset
from equigen_core.nets.encoder import get_preset as encoder_preset
from equigen_core.nets.models import load_encoder
from equigen_core.service import studio as core
from equigen_core.service.access import name_under
from equigen_core.service.jobs import Done, check, stream
from equigen_core.training import stage1
from equigen_core.training.stage1 import EncoderTrainConfig
from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
from equigen_core.training.stage3 import FinetuneConfig, finetune
from equigen_core.weightspace import inr
from equigen_core.weightspace.fit import FitConfig, default_lr
from equigen_studio import figures
from equigen_studio.errors import errors as _errors

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _kept_out(keep_out) -> tuple[int, ...]:
    """The Train tab's "class kept out" dropdown → () or (c,)."""
    if keep_out in (None, "", "none"):
        return ()
    if not str(keep_out).strip().isdigit():
        raise core.StudioError(f"class kept out {keep_out!r}: give a label number (e.g. 9) or 'none'")
    return (int(keep_out),)


def _base_classes(zoo, keep_out) -> tuple[int, ...] | None:
    """The zoo's classes minus the kept-out one (None: all of them)."""
    out = _kept_out(keep_out)
    return tuple(int(c) for c in zoo.labels.unique() if int(c) not in out) if out else None


def device_text() -> str:
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        return f"**Device:** CUDA — {torch.cuda.get_device_name(0)}" + (f" (×{n})" if n > 1 else "")
    return f"**Device:** CPU ({torch.get_num_threads()} threads) — small presets train in minutes"


class TrainCallbacks:
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

        out = self._out("zoos", name)
        spec = inr.get_preset("cifar" if dataset == "cifar10" else "mnist")
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

        out = self._out("encoders", name)
        zoo = load_zoo(self.access.zoo(zoo_path))
        enc_cfg = encoder_preset(preset)  # as the shipped encoders (train all) at that size
        cfg = EncoderTrainConfig(steps=int(steps), batch_size=int(batch_size), lr=float(lr), smooth=bool(smooth),
                                 log_every=max(1, int(steps) // 100), supervised=1.0,
                                 classes=_base_classes(zoo, keep_out))

        def work(emit, stop):
            return stage1.train_encoder(zoo, cfg, enc_cfg, out=out, progress=False, callback=lambda s, l: emit((s, l)),
                                 should_stop=stop, tsne=None)

        def finish(r):
            return (f"Wrote **{r.path}** in {r.seconds:.1f} s: kNN accuracy of ψ {r.knn_accuracy:.3f} "
                    f"(raw weights {r.knn_accuracy_raw:.3f}).")

        yield from self._train_loop(work, "stage 1: InfoNCE", int(steps), finish, progress)

    @_errors
    def train_diffusion(self, zoo_path, encoder_path, preset, steps, batch_size, lr, lambda_eq, name, space="pca",
                        keep_out="9", condition="probe", progress=gr.Progress()):

        out = self._out("diffusion", name)
        zoo = load_zoo(self.access.zoo(zoo_path))
        encoder_path = self.access.encoder(encoder_path)
        encoder = load_encoder(encoder_path, zoo.spec)
        cfg = DiffusionTrainConfig(steps=int(steps), batch_size=int(batch_size), lr=float(lr),
                                   lambda_eq=float(lambda_eq), log_every=max(1, int(steps) // 100), save_every=0,
                                   space=space, classes=_base_classes(zoo, keep_out),
                                   condition=condition if encoder.cfg.probe_res else "features")
        # an encoder without a function probe has no probe part to condition on: say so instead of switching silently
        note = (f" The encoder has no function probe, so the model is conditioned on its whole ψ, not on "
                f"'{condition}'." if cfg.condition != condition else "")

        def work(emit, stop):
            return train_diffusion(zoo, encoder, cfg, denoiser_preset(preset), out=out, progress=False,
                                   callback=lambda s, l: emit((s, l)), should_stop=stop,
                                   encoder_path=Path(encoder_path).resolve())

        def finish(r):
            return f"Wrote **{r.path}** in {r.seconds:.1f} s; pick it in the Generate tab's checkpoint list.{note}"

        yield from self._train_loop(work, "stage 2: L_recon + λ·L_eq", int(steps), finish, progress)

    @_errors
    def train_finetune(self, base, zoo_path, cls, k, steps, lambda_eq, name, progress=gr.Progress()):
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
