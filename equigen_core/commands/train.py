"""Commands that make things: build-zoo, canonicalize, train {encoder, diffusion, all, finetune, classifier}.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from equigen_core.commands.common import load_images, parse_classes
from equigen_core.data import load_mnist
from equigen_core.data.shapes import CATEGORIES
from equigen_core.data.zoo import (
    build_mesh_zoo,
    build_shape_zoo,
    build_zoo,
    canonicalize_zoo,
    describe_init,
    load_zoo,
    save_zoo,
)
from equigen_core.evaluation.protocol import protocol_data
from equigen_core.evaluation.protocol3d import shots_3d
from equigen_core.nets.classifier import ClassifierConfig, save_classifier, train_classifier
from equigen_core.nets.denoiser import get_preset as denoiser_preset
from equigen_core.nets.encoder import EncoderConfig
from equigen_core.nets.models import load_encoder
from equigen_core.recipes import train_all
from equigen_core.training.stage1 import EncoderTrainConfig, train_encoder
from equigen_core.training.stage2 import DiffusionTrainConfig, diffusion_config, train_diffusion
from equigen_core.training.stage3 import FinetuneConfig, finetune
from equigen_core.weightspace import inr
from equigen_core.weightspace.augment import AugmentConfig
from equigen_core.weightspace.fit import OCCUPANCY_FIT, OCCUPANCY_META_FIT, FitConfig, default_lr
from equigen_core.weightspace.metainit import SHAPE_META_INIT, MetaInitConfig


def cmd_build_zoo(args) -> int:
    if args.dataset in ("shapes", "meshes"):
        args.init = args.init or "meta"
        return build_shape_zoo_cmd(args)
    args.init = args.init or "meta"
    args.meta_exclude = "9" if args.meta_exclude is None else args.meta_exclude
    spec = inr.get_preset(args.inr or ("cifar" if args.dataset == "cifar10" else "mnist"))
    data, index, source = load_images(args)
    cfg = FitConfig(max_steps=args.max_steps or 300, lr=args.lr or default_lr(args.init), target_psnr=args.target_psnr,
                    init=args.init, pool=args.pool, seed=args.seed)
    exclude = parse_classes(args.meta_exclude) or ()
    print(f"fitting {len(data)} INRs ({spec.num_params} parameters each, init={args.init}) from {source}"
          + (f"; the init is meta-learned on the training split without classes {list(exclude)}"
             if args.init == "meta" else ""))
    zoo = build_zoo(data, spec=spec, fit_cfg=cfg, canonicalize=args.canonicalize, source=source, index=index,
                    meta_exclude=exclude, meta_cfg=MetaInitConfig(outer_steps=args.meta_steps, seed=args.seed))
    zoo.meta["path"] = str(args.out)
    save_zoo(args.out, zoo)
    p = zoo.psnr
    print(describe_init(zoo))
    print(f"wrote {args.out}/zoo.safetensors: {len(zoo)} INRs, PSNR mean {p.mean():.2f} dB, min {p.min():.2f} dB, "
          f"{zoo.meta['fit_seconds']:.1f} s" + (f"; smooth TV {zoo.meta['smooth']['tv_before']:.2f} → "
                                                 f"{zoo.meta['smooth']['tv_after']:.2f}" if args.canonicalize else ""))
    return 0


def build_shape_zoo_cmd(args) -> int:
    base = OCCUPANCY_META_FIT if args.init == "meta" else OCCUPANCY_FIT
    cfg = replace(base, max_steps=args.max_steps or base.max_steps, lr=args.lr or base.lr, init=args.init,
                  pool=min(args.pool, 16), seed=args.seed)
    default = "airplane" if args.dataset == "shapes" else ""  # a mesh folder's categories are the user's
    exclude = [c.strip() for c in (default if args.meta_exclude is None else args.meta_exclude).split(",") if c.strip()]
    init_kw = {"meta_exclude": tuple(exclude),
               "meta_cfg": replace(SHAPE_META_INIT, outer_steps=args.meta_steps, seed=args.seed)
               } if args.init == "meta" else {}
    if args.dataset == "meshes":
        if not args.data_dir:
            print("error: --dataset meshes needs --data-dir (a folder of meshes you have)", file=sys.stderr)
            return 2
        print(f"fitting occupancy INRs to the meshes under {args.data_dir} ({args.points} labelled points each, "
              f"{cfg.max_steps} steps)")
        zoo = build_mesh_zoo(args.data_dir, categories=args.categories, limit=args.limit, fit_cfg=cfg,
                             points=args.points, seed=args.seed, rounds=max(1, cfg.max_steps // 40), **init_kw)
    else:
        cats = args.categories or list(CATEGORIES)
        count = f"{args.limit} in all" if args.limit else f"{args.per_category} per category"
        print(f"fitting occupancy INRs ({count}) for {', '.join(cats)} ({args.points} labelled points each, "
              f"{cfg.max_steps} steps)")
        zoo = build_shape_zoo(cats, args.per_category, fit_cfg=cfg, points=args.points, seed=args.seed,
                              limit=args.limit, rounds=max(1, cfg.max_steps // 40), **init_kw)
    zoo.meta["path"] = str(args.out)
    save_zoo(args.out, zoo)
    print(describe_init(zoo))
    iou = zoo.meta["iou"]
    per = ", ".join(f"{c} {v:.3f}" for c, v in iou["per_category"].items())
    print(f"wrote {args.out}/zoo.safetensors: {len(zoo)} INRs in {zoo.meta['fit_seconds']:.1f} s; IoU at "
          f"{iou['res']}³ mean {iou['mean']:.3f}, min {iou['min']:.3f} ({per})")
    return 0


def cmd_canonicalize(args) -> int:
    zoo = canonicalize_zoo(load_zoo(args.zoo))
    zoo.meta["path"] = str(args.out)
    save_zoo(args.out, zoo)
    sm = zoo.meta["smooth"]
    print(f"wrote {args.out}: mean TV {sm['tv_before']:.3f} → {sm['tv_after']:.3f} in {sm['seconds']:.1f} s")
    return 0


def cmd_train_encoder(args) -> int:
    zoo = load_zoo(args.zoo)
    classes = parse_classes(args.classes)
    cfg = EncoderTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, smooth=not args.no_smooth,
                             seed=args.seed, augment=AugmentConfig().scaled(args.aug), classes=classes,
                             supervised=args.supervised)
    res = train_encoder(zoo, cfg, EncoderConfig(channels=args.channels, probe_res=args.probe_res,
                                                probe_in_head=args.probe_in_head, balance=args.balance), out=args.out)
    if res.path is not None:
        print(f"wrote {res.path}: InfoNCE {sum(res.losses[:10]) / 10:.3f} → {sum(res.losses[-10:]) / 10:.3f}; "
              f"kNN accuracy on held-out INRs {res.knn_accuracy:.3f} (raw weights: {res.knn_accuracy_raw:.3f}); "
              f"t-SNE in {Path(args.out) / 'tsne.html'}")
    return 0


def cmd_train_diffusion(args) -> int:
    zoo = load_zoo(args.zoo)
    enc = load_encoder(args.encoder, zoo.spec)
    classes = parse_classes(args.classes)
    cfg = DiffusionTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, lambda_eq=args.lambda_eq,
                               eq_batch=args.eq_batch, classes=classes, seed=args.seed, save_every=args.save_every,
                               lambda_func=args.lambda_func, space=args.space, pca_dim=args.pca_dim,
                               latent_dim=args.latent_dim, latent_steps=args.latent_steps, condition=args.condition,
                               cond_noise=args.cond_noise, pair_k=args.pair_k, test_class=args.test_class,
                               validation_class=args.val_class)
    dcfg = diffusion_config(cfg, prediction=args.prediction, cond_drop=args.cond_drop)
    res = train_diffusion(zoo, enc, cfg, denoiser_preset(args.preset), dcfg,
                          out=args.out, resume=args.resume, encoder_path=args.encoder)
    if res.path is not None:
        print(f"wrote {res.path}: loss {sum(res.losses[:50]) / max(1, len(res.losses[:50])):.4f} → "
              f"{sum(res.losses[-50:]) / max(1, len(res.losses[-50:])):.4f} in {res.seconds:.0f} s")
    return 0


def cmd_train_all(args) -> int:
    """zoo → encoder → diffusion → few-shot adaptation to --class / --category, plus a gallery (recipes.train_all)."""

    train_all(args.preset, out=args.out, work=args.work, cls=args.cls, category=args.category, k=args.k,
              seed=args.seed, lambda_func=args.lambda_func, reuse_zoo=args.reuse_zoo, dataset=args.dataset,
              data_dir=args.data_dir, val_cls=args.val_cls)
    return 0


def cmd_train_finetune(args) -> int:
    zoo = load_zoo(args.zoo) if args.zoo else None
    if args.shots.isdigit():  # a class: its k shots come from the zoo's training split
        if zoo is None:
            raise SystemExit("--shots CLASS needs --zoo DIR to draw the shots from")
        if zoo.spec.in_dim == 3:  # a shape zoo: class = category index

            shots = shots_3d(zoo, int(args.shots), args.k, seed=args.seed)
        else:
            shots, _, _ = protocol_data(zoo, int(args.shots), args.k, seed=args.seed)
    else:  # a zoo directory whose first k INRs are the shots
        shots = load_zoo(args.shots).weights[: args.k]
    res = finetune(args.base, shots, zoo, FinetuneConfig(steps=args.steps, lr=args.lr, seed=args.seed), out=args.out)
    print(f"wrote {res.path}: best held-aside loss at step {res.best_step} of {args.steps}, {res.seconds:.0f} s")
    return 0


def cmd_train_classifier(args) -> int:
    tr, te = load_mnist(split="train"), load_mnist(split="test")
    res = train_classifier(tr.images, tr.labels, te.images, te.labels,
                           ClassifierConfig(epochs=args.epochs, seed=args.seed))
    save_classifier(args.out, res)
    print(f"wrote {args.out}: held-out accuracy {res.test_accuracy:.4f} ({res.n_test} digits), {res.seconds:.1f} s")
    return 0
