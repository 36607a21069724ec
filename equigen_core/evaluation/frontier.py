"""The few-shot frontier: every method on the same shots, over several seeds, in one JSON (issue 7).

    cfg = EvalConfig(cls=9, k=10, n=256, seeds=(0, 1, 2))
    result = evaluate(cfg, checkpoint="checkpoints/mnist/diffusion", zoo=load_zoo("runs/mnist/zoo"),
                      classifier=load_classifier(...))
    result["summary"]                                 # one row per (method, knob): mean and std over seeds

Per seed, K shots are drawn from the held-out class; every method makes n INRs from them (weights, rendered at 28×28)
and is scored against that class's real MNIST test images (never shots): accuracy beside aligned novelty, FD / PRDC in
the classifier's features, diversity, background speckle. Methods, each swept over its own knob:

- reference: real held-out images of the class (the ceiling for every metric);
- baselines with no learning: copies of the shots, Gaussian weight noise (σ), interpolation of two shots, exact INR
  augmentations of the shots (strength), interpolation then augmentation (strength);
- learned baselines: plain fine-tuning of the base model on the K shots (no augmentation, replay or early stopping;
  γ), and the base model's unconditional branch fine-tuned on base + shots (HyperDiffusion-style);
- EquiGen: the base model (γ, and guidance λ_g at γ = 0.3), the model adapted per seed with stage 3 (γ), and the adapted
  model refining exact augmentations of the shots by SDEdit (start step t0; our addition).
"""
from __future__ import annotations

import dataclasses
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

from equigen_core.domains.images import ImageDomain
from equigen_core.evaluation.protocol import (
    Reference,
    draw_shots,
    held_in_accuracy,
    interpolate_shots,
    noise_shots,
    render,
    report,
)
from equigen_core.evaluation.runner import Curve, Point, Step, curves, row_label, run_protocol, summarize, t_halfwidth  # noqa: F401
from equigen_core.generation.fewshot import FewShotModel, generate, sample, sample_unconditional
from equigen_core.generation.span import span_starts
from equigen_core.presets import IMAGES, Sampling
from equigen_core.training.stage3 import FinetuneConfig, finetune
from equigen_core.weightspace.augment import geometric_augment

METRICS = ("accuracy", "aligned_novelty", "novelty", "coverage", "density", "precision", "recall", "vendi",
           "off_stroke", "fd", "diversity", "speckle")

# Protocol v2's goal for the default sampler (issue 24): faithful (accuracy), new (aligned novelty), clean (off-stroke
# ink at most 1.5× that of the INRs of real images of the class) and covering the class (coverage at least twice the
# from-noise sampler's); `verdict` checks each, and that no cheap baseline is ahead on accuracy, coverage and
# off-stroke ink at once by more than the paired 95 % interval.
GOAL = {"accuracy": 0.90, "aligned_novelty": 0.6, "off_stroke_ratio": 1.5, "coverage_vs_noise": 2.0,
        "peak_accuracy": 0.8}
# the first protocol's goal (issue 7), for reading its results (docs/data/frontier_mnist9.json): meets_goal,
# dominated_by, speckle_ratio
GOAL_V1 = {"accuracy": 0.85, "aligned_novelty": 0.8, "diversity": 0.28, "speckle_ratio": 2.0}

INR_REFERENCE = "INRs of real images of the class"  # the off-stroke yardstick (fitted INRs are not perfectly clean)
SPAN = "EquiGen span (base)"
NOISE = "EquiGen from noise (base)"
SPAN_STARTS = "span starts: mixtures + geometric augmentation (no denoiser)"


@dataclass(frozen=True)
class EvalConfig:
    """Protocol v2 (issue 24). Per seed: K shots of class `cls`; the rest of the class's real images split into two
    disjoint halves, A (the reference of every set: novelty denominators, PRDC / FD, Vendi bandwidth) and B (the
    real-vs-real ceiling); n samples per method. The default sampler is `sampling` (presets.IMAGES); `span_gammas`
    sweeps its γ, and `sweeps` moves one other knob at a time around it (for choosing knobs on a validation class)."""

    cls: int = 9
    k: int = 10
    n: int = 256
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    sampling: Sampling = IMAGES
    span_gammas: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5)
    sweeps: tuple[tuple[str, tuple], ...] = ()  # e.g. (("t0", (100, 200, 300)), ("mix", (2, 5)))
    noise_gammas: tuple[float, ...] = (0.0, 0.3, 1.0)
    noise_sweeps: tuple[tuple[str, tuple], ...] = ()  # one knob at a time around from noise at γ = 0.3 (cfg_scale …)
    aug_scales: tuple[float, ...] = (0.5, 1.0)
    noise_sigmas: tuple[float, ...] = (0.2,)
    learned: bool = True  # stage-3 adaptation, plain fine-tuning and unconditional rows (each trains per seed)
    adapt_steps: int = 300
    plain_steps: int = 300
    uncond_steps: int = 300
    held_in: bool = False  # also measure the base model's held-in conditional accuracy (classes ≠ cls)

    @classmethod
    def quick(klass, **kw) -> "EvalConfig":  # noqa: N804 (`cls` is the held-out class field)
        """CI-sized: one seed, few samples and knobs, a few fine-tuning steps (every method still runs)."""
        temperature = kw.pop("temperature", None)
        base = dict(n=24, seeds=(0,), sampling=IMAGES.replace(steps=8, temperature=temperature),
                    span_gammas=(0.0, 1.0), noise_gammas=(0.3,), aug_scales=(1.0,), adapt_steps=6, plain_steps=6,
                    uncond_steps=6)
        return klass(**{**base, **kw})


def run_meta(command: str = "") -> dict:
    """What every result JSON records about its run: the command, the date and the machine."""
    return {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {dev}, torch {torch.__version__}"


def evaluate(cfg: EvalConfig, *, checkpoint: str | Path, zoo, classifier, progress: bool = True,
             on_point: Callable[[Point], None] | None = None, command: str = "", model=None) -> dict:
    """Run every method on every seed (evaluation.runner) → {"meta", "held_in_accuracy", "points", "summary"}.
    model: the checkpoint's FewShotModel when already loaded (e.g. with an encoder module); default: loaded here."""

    t_start = time.perf_counter()
    base = model if model is not None else FewShotModel.load(checkpoint)
    if base.spec != zoo.spec:
        raise ValueError(f"{checkpoint} is for INR spec {base.spec}, the zoo holds {zoo.spec}")

    def plan(seed, status):
        return _run_seed(cfg, seed, base, checkpoint, zoo, classifier, status)

    points = run_protocol(plan, cfg.seeds, per_seed=_points_per_seed(cfg), desc="evaluate (all methods)",
                          progress=progress, on_point=on_point)
    held_in = None
    if cfg.held_in:
        classes = [c for c in ImageDomain.of(zoo).classes() if c != cfg.cls]
        held_in = held_in_accuracy(base, zoo, classifier, classes=classes, steps=cfg.sampling.steps,
                                   seed=cfg.seeds[0], temperature=cfg.sampling.temperature)
    meta = {**run_meta(command), "checkpoint": str(checkpoint), "zoo_inrs": len(zoo), "config": asdict(cfg),
            "seconds": round(time.perf_counter() - t_start, 1), "goal": GOAL}
    out = {"meta": {**meta, "protocol": 2}, "held_in_accuracy": held_in, "points": [asdict(p) for p in points],
           "summary": summarize(points)}
    out["verdict"] = verdict(out)
    return out


def _points_per_seed(cfg: EvalConfig) -> int:
    sweeps = sum(len(v) for _, v in cfg.sweeps + cfg.noise_sweeps)
    return (2 + 1 + len(cfg.noise_sigmas) + 1 + 2 * len(cfg.aug_scales) + len(cfg.span_gammas) + 1
            + len(cfg.span_gammas) + sweeps + len(cfg.noise_gammas) + 1 + (4 if cfg.learned else 0))


def _run_seed(cfg: EvalConfig, seed: int, base, checkpoint, zoo, classifier, status):
    """Yield every method's Step (evaluation.runner) for one seed's shots."""

    spec, n, smp = zoo.spec, cfg.n, cfg.sampling
    drawn = draw_shots(zoo, cfg.cls, cfg.k, seed=seed)
    shots, shot_img = drawn.weights, render(zoo.spec, drawn.weights)
    real = ImageDomain.of(zoo).real_images(zoo, cfg.cls, exclude_index=drawn.index, all_splits=True)
    real = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(1000 + seed))]
    half = min(len(real) // 2, n)
    ref_a, ref_b = real[:half], real[half:2 * half]  # disjoint: the reference, and the real-vs-real ceiling
    ref = Reference.of(ref_a, shot_img, classifier)  # every set of this seed is scored against it
    if not bool((zoo.split == 0).any()):  # a gallery of held-out INRs: replay from all of it
        zoo = dataclasses.replace(zoo, split=torch.zeros_like(zoo.split))
    g = torch.Generator().manual_seed(seed)

    def point(method, family, knob, value, make: Callable[[], Tensor]) -> Step:
        def score():
            rep = report(method, make(), cfg.cls, shot_img, ref, classifier, seed=seed)
            return {k: float(getattr(rep, k)) for k in METRICS}

        return Step(method, family, knob, value, score)

    def rendered(w: Tensor) -> Callable[[], Tensor]:
        return lambda: render(spec, w)

    def pick(k: int) -> Tensor:
        return shots[torch.randint(0, len(shots), (k,), generator=g)]

    def inr_reference() -> Tensor:
        pool = zoo.select((zoo.labels == cfg.cls) & ~torch.isin(zoo.index, drawn.index))
        keep = torch.randperm(len(pool), generator=torch.Generator().manual_seed(2000 + seed))[:n]
        return render(spec, pool.weights[keep])

    yield point("real images (a disjoint set)", "reference", "", None, lambda: ref_b)
    yield point(INR_REFERENCE, "reference", "", None, inr_reference)
    yield point("copies of the shots", "baseline", "", None, rendered(pick(n)))
    for sd in cfg.noise_sigmas:
        yield point("shots + weight noise", "baseline", "σ", sd, rendered(noise_shots(shots, n, sd, g)))
    yield point("interpolation of two shots", "baseline", "", None, rendered(interpolate_shots(shots, n, g)))
    for a in cfg.aug_scales:
        yield point("exact geometric augmentations", "baseline", "strength", a,
                    rendered(geometric_augment(spec, pick(n), a, generator=g)))
    for a in cfg.aug_scales:
        yield point("interpolation + geometric augmentation", "baseline", "strength", a,
                    rendered(geometric_augment(spec, interpolate_shots(shots, n, g), a, generator=g)))

    def starts_of(gamma: float, augment: float = smp.augment) -> Tensor:  # the starts fewshot.span draws
        return span_starts(spec, shots, n, gamma=gamma, generator=torch.Generator().manual_seed(seed), mix=smp.mix,
                           augment=augment)[0]

    yield point("mixtures of the shots (no augmentation)", "baseline", "", None, rendered(starts_of(1.0, 0.0)))
    for gamma in cfg.span_gammas:
        yield point(SPAN_STARTS, "baseline", "γ", gamma, rendered(starts_of(gamma)))
    for gamma in cfg.span_gammas:
        yield point(SPAN, "equigen", "γ", gamma,
                    lambda: sample(base, shots, n, smp.replace(gamma=gamma), seed=seed).images)
    for knob, values in cfg.sweeps:
        for v in values:
            yield point(f"{SPAN}, {knob} sweep", "equigen", knob, v,
                        lambda: sample(base, shots, n, smp.replace(**{knob: v}), seed=seed).images)
    for gamma in cfg.noise_gammas:
        yield point(NOISE, "equigen", "γ", gamma,
                    lambda: sample(base, shots, n, smp.replace(sampler="noise", gamma=gamma), seed=seed).images)
    for knob, values in cfg.noise_sweeps:
        for v in values:
            yield point(f"{NOISE}, {knob} sweep", "equigen", knob, v,
                        lambda: sample(base, shots, n, smp.replace(sampler="noise", gamma=0.3, **{knob: v}),
                                       seed=seed).images)
    yield point("EquiGen from augmentations (base)", "equigen", "t0", smp.t0,
                lambda: sample(base, shots, n, smp.replace(sampler="augment", gamma=1.0), seed=seed).images)
    if not cfg.learned:
        return
    status("stage-3 adaptation")
    ad = finetune(checkpoint, shots, zoo, FinetuneConfig(steps=cfg.adapt_steps, eval_every=max(1, cfg.adapt_steps
                                                                                                // 12), seed=seed),
                  progress=False)
    adapted = dataclasses.replace(base, denoiser=ad.model)
    yield point("EquiGen span (adapted)", "equigen", "γ", smp.gamma,
                lambda: sample(adapted, shots, n, smp, seed=seed).images)
    yield point("EquiGen from noise (adapted)", "equigen", "γ", 0.3,
                lambda: sample(adapted, shots, n, smp.replace(sampler="noise", gamma=0.3), seed=seed).images)
    status("plain fine-tuning")
    plain_ft = finetune(checkpoint, shots, zoo, FinetuneConfig.plain(cfg.plain_steps, seed=seed), progress=False)
    plain_model = dataclasses.replace(base, denoiser=plain_ft.model)
    yield point("plain fine-tuning on the shots", "baseline", "γ", 0.3,
                lambda: generate(plain_model, shots, n, gamma=0.3, guidance=0.0, steps=smp.steps, seed=seed,
                                 temperature=smp.temperature).images)
    status("unconditional fine-tuning")
    unc = finetune(checkpoint, shots, zoo, FinetuneConfig(steps=cfg.uncond_steps, holdout=0, unconditional=True,
                                                          augment=None, seed=seed), progress=False)
    unc_model = dataclasses.replace(base, denoiser=unc.model)
    yield point("unconditional diffusion on base + shots", "baseline", "", None,
                lambda: sample_unconditional(unc_model, n, seed=seed, steps=smp.steps,
                                             temperature=smp.temperature).images)


def paired(points: Sequence[dict], a: tuple, b: tuple, metric: str, *, ratio_to: tuple | None = None) -> dict:
    """a − b on the seeds both were measured on (points of one result; a, b: (method, knob, value)): the mean
    difference and its t-based 95 % half-width. ratio_to: divide each seed's metric by that row's first."""

    def per_seed(key):
        out = {}
        for p in points:
            if (p["method"], p["knob"], p["value"]) == key:
                out[p["seed"]] = p["metrics"][metric]
        return out

    va, vb = per_seed(a), per_seed(b)
    if ratio_to is not None:
        base = per_seed(ratio_to)
        va = {s: v / max(base[s], 1e-9) for s, v in va.items() if s in base}
        vb = {s: v / max(base[s], 1e-9) for s, v in vb.items() if s in base}
    seeds = sorted(set(va) & set(vb))
    d = [va[s] - vb[s] for s in seeds]
    return {"diff": sum(d) / max(1, len(d)), "ci95": t_halfwidth(d), "seeds": seeds}


def _beyond(d: dict) -> bool:
    """A paired difference (`paired`) above zero by more than its 95 % half-width (one seed: above zero)."""
    return d["diff"] > (d["ci95"] if d["ci95"] == d["ci95"] else 0.0)


def off_stroke_ratio(row: dict, summary: Sequence[dict]) -> float:
    """Off-stroke ink of a summary row relative to the INRs of real images of the class (1 = as clean)."""
    ref = next((r for r in summary if r["method"] == INR_REFERENCE), None)
    return row["mean"]["off_stroke"] / max(ref["mean"]["off_stroke"], 1e-9) if ref else float("nan")


def verdict(result: dict) -> dict:
    """Protocol v2's checks of the default sampler (the span row at the config's γ) → {check: {value, goal, met}},
    plus "ahead": the cheap baselines ahead of it on accuracy, coverage and off-stroke ink at once (each paired
    difference beyond its 95 % interval), and "stretch": whether its coverage is above every cheap baseline that is
    at once as accurate (≥ 0.9) and as clean (≤ 1.5×), each paired difference beyond its 95 % interval (as "ahead"
    is judged)."""
    summary, points = result["summary"], result["points"]
    gamma = result["meta"]["config"]["sampling"]["gamma"]
    rows = {(r["method"], r["knob"], r["value"]): r for r in summary}
    d_key = (SPAN, "γ", gamma)
    if d_key not in rows:
        return {}
    d = rows[d_key]
    ref_key = next(k for k in rows if k[0] == INR_REFERENCE)
    noise = [r for r in summary if r["method"] == NOISE]
    best_noise = max((r["mean"]["coverage"] for r in noise), default=float("nan"))
    ratio = off_stroke_ratio(d, summary)
    checks = {
        "accuracy": {"value": d["mean"]["accuracy"], "goal": f"≥ {GOAL['accuracy']}",
                     "met": d["mean"]["accuracy"] >= GOAL["accuracy"]},
        "aligned_novelty": {"value": d["mean"]["aligned_novelty"], "goal": f"≥ {GOAL['aligned_novelty']}",
                            "met": d["mean"]["aligned_novelty"] >= GOAL["aligned_novelty"]},
        "off_stroke_ratio": {"value": ratio, "goal": f"≤ {GOAL['off_stroke_ratio']}",
                             "met": ratio <= GOAL["off_stroke_ratio"]},
        "coverage_vs_noise": {"value": d["mean"]["coverage"] / max(best_noise, 1e-9),
                              "goal": f"≥ {GOAL['coverage_vs_noise']}× the best from-noise row ({best_noise:.2f})",
                              "met": d["mean"]["coverage"] >= GOAL["coverage_vs_noise"] * best_noise},
    }
    ahead, stretch_rivals = [], []
    for key, r in rows.items():
        if r["family"] != "baseline":
            continue
        acc = paired(points, key, d_key, "accuracy")
        cov = paired(points, key, d_key, "coverage")
        ink = paired(points, d_key, key, "off_stroke", ratio_to=ref_key)  # positive: the baseline is cleaner
        if all(_beyond(x) for x in (acc, cov, ink)):
            ahead.append(row_label(r))
        if r["mean"]["accuracy"] >= GOAL["accuracy"] and off_stroke_ratio(r, summary) <= GOAL["off_stroke_ratio"]:
            stretch_rivals.append((row_label(r), r["mean"]["coverage"], paired(points, d_key, key, "coverage")))
    checks["no_baseline_ahead"] = {"value": ahead, "goal": "none ahead on accuracy, coverage and off-stroke at once",
                                   "met": not ahead}
    sweep = sorted((r for r in summary if r["method"] == SPAN), key=lambda r: r["value"])
    if len(sweep) >= 2:
        peak = max(sweep, key=lambda r: r["mean"]["coverage"])
        rise = paired(points, (SPAN, "γ", peak["value"]), (SPAN, "γ", sweep[0]["value"]), "coverage")
        checks["gamma_sweep"] = {
            "value": {"coverage": [round(r["mean"]["coverage"], 3) for r in sweep],
                      "accuracy": [round(r["mean"]["accuracy"], 3) for r in sweep],
                      "gammas": [r["value"] for r in sweep], "peak": peak["value"], "rise": rise["diff"],
                      "rise_ci95": rise["ci95"]},
            "goal": f"coverage rises with γ (beyond its interval); accuracy at the peak ≥ {GOAL['peak_accuracy']}",
            "met": _beyond(rise) and peak["mean"]["accuracy"] >= GOAL["peak_accuracy"]}
    best_rival = max(stretch_rivals, key=lambda x: x[1], default=("none", float("-inf"), None))
    checks["stretch"] = {"value": {"coverage": d["mean"]["coverage"], "best_clean_accurate_baseline": best_rival[0],
                                   "its_coverage": best_rival[1],
                                   "paired_diff": best_rival[2]["diff"] if best_rival[2] else None,
                                   "paired_ci95": best_rival[2]["ci95"] if best_rival[2] else None},
                         "goal": "coverage above every cheap baseline that is as accurate (≥ 0.9) and as clean "
                                 "(≤ 1.5×), each paired difference beyond its 95 % interval",
                         "met": all(_beyond(x[2]) for x in stretch_rivals)}
    return checks


def speckle_ratio(row: dict, summary: Sequence[dict]) -> float:
    """Speckle of a summary row relative to the real held-out images' (1 = as clean as real digits)."""
    real = next((r for r in summary if r["family"] == "reference"), None)
    return row["mean"]["speckle"] / max(real["mean"]["speckle"], 1e-9) if real else float("nan")


def meets_goal(row: dict, summary: Sequence[dict]) -> bool:
    m = row["mean"]
    return (m["accuracy"] >= GOAL_V1["accuracy"] and m["aligned_novelty"] >= GOAL_V1["aligned_novelty"]
            and m["diversity"] >= GOAL_V1["diversity"] and speckle_ratio(row, summary) <= GOAL_V1["speckle_ratio"])


def dominated_by(row: dict, summary: Sequence[dict], family: str = "baseline") -> list[dict]:
    """Rows of `family` at least as good in both accuracy and aligned novelty, better in one, and no noisier: their
    speckle ratio is at most the larger of row's and the goal's (a baseline cannot win by adding speckle, which the
    novelty ratio counts as new)."""
    a, v = row["mean"]["accuracy"], row["mean"]["aligned_novelty"]
    limit = max(speckle_ratio(row, summary), GOAL_V1["speckle_ratio"])
    out = []
    for r in summary:
        if r["family"] != family or speckle_ratio(r, summary) > limit:
            continue
        ra, rv = r["mean"]["accuracy"], r["mean"]["aligned_novelty"]
        if ra >= a and rv >= v and (ra > a or rv > v):
            out.append(r)
    return out


label = row_label  # the frontier's name for it
