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
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

from equigen_core.evaluation.runner import (Curve, Point, Step, curves, row_label, run_protocol,  # noqa: F401
                                            summarize)
from equigen_core.presets import IMAGES

METRICS = ("accuracy", "aligned_novelty", "novelty", "diversity", "fd", "precision", "recall", "density", "coverage",
           "speckle")

# The goal for a faithful *and* new generator (issue 7): accuracy, aligned novelty, diversity, and a
# background no more speckled than twice that of real digits.
GOAL = {"accuracy": 0.85, "aligned_novelty": 0.8, "diversity": 0.28, "speckle_ratio": 2.0}


@dataclass(frozen=True)
class EvalConfig:
    cls: int = 9
    k: int = 10
    n: int = 256
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = IMAGES.steps  # DDIM steps of every diffusion sampler
    temperature: float = IMAGES.temperature  # τ of x_T (the app's default; no guidance unless a row sweeps it)
    gammas: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5, 0.7, 1.0, 1.5)
    guidances: tuple[float, ...] = (0.1, 0.3)  # λ_g for the base model at γ = 0.3
    noise_sigmas: tuple[float, ...] = (0.1, 0.2, 0.4, 0.8)
    aug_scales: tuple[float, ...] = (0.5, 1.0, 2.0)
    refine_t0: tuple[int, ...] = (100, 200, 300, 400)
    finetune_gammas: tuple[float, ...] = (0.0, 0.3, 1.0)
    adapt_steps: int = 300  # stage 3 (augmented shots + replay, early stopping on 2 held-aside shots)
    plain_steps: int = 300  # plain fine-tuning
    uncond_steps: int = 300
    held_in: bool = True  # also measure the base model's held-in conditional accuracy (classes ≠ cls)

    @classmethod
    def quick(klass, **kw) -> "EvalConfig":  # noqa: N804 (`cls` is the held-out class field)
        """CI-sized: one seed, few samples and knobs, a few fine-tuning steps (every method still runs)."""
        base = dict(n=24, seeds=(0,), steps=8, gammas=(0.0, 0.5), guidances=(0.3,), noise_sigmas=(0.2,),
                    aug_scales=(1.0,), refine_t0=(200,), finetune_gammas=(0.3,), adapt_steps=6, plain_steps=6,
                    uncond_steps=6, held_in=False)
        return klass(**{**base, **kw})


def run_meta(command: str = "") -> dict:
    """What every result JSON records about its run: the command, the date and the machine."""
    return {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}


def machine() -> str:
    import os

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
             on_point: Callable[[Point], None] | None = None, command: str = "") -> dict:
    """Run every method on every seed (evaluation.runner) → {"meta", "held_in_accuracy", "points", "summary"}."""
    from equigen_core.generation.fewshot import FewShotModel

    t_start = time.perf_counter()
    base = FewShotModel.load(checkpoint)
    if base.spec != zoo.spec:
        raise ValueError(f"{checkpoint} is for INR spec {base.spec}, the zoo holds {zoo.spec}")

    def plan(seed, status):
        return _run_seed(cfg, seed, base, checkpoint, zoo, classifier, status)

    points = run_protocol(plan, cfg.seeds, per_seed=_points_per_seed(cfg), desc="evaluate (all methods)",
                          progress=progress, on_point=on_point)
    held_in = None
    if cfg.held_in:
        from equigen_core.evaluation.protocol import held_in_accuracy

        from equigen_core.domains.images import ImageDomain

        classes = [c for c in ImageDomain.of(zoo).classes() if c != cfg.cls]
        held_in = held_in_accuracy(base, zoo, classifier, classes=classes, steps=cfg.steps, seed=cfg.seeds[0],
                                   temperature=cfg.temperature)
    meta = {**run_meta(command), "checkpoint": str(checkpoint), "zoo_inrs": len(zoo), "config": asdict(cfg),
            "seconds": round(time.perf_counter() - t_start, 1), "goal": GOAL}
    return {"meta": meta, "held_in_accuracy": held_in, "points": [asdict(p) for p in points],
            "summary": summarize(points)}


def _points_per_seed(cfg: EvalConfig) -> int:
    return (1 + 1 + len(cfg.noise_sigmas) + 1 + 2 * len(cfg.aug_scales) + len(cfg.gammas) + len(cfg.guidances)
            + len(cfg.gammas) + len(cfg.refine_t0) + len(cfg.finetune_gammas) + 1)


def _run_seed(cfg: EvalConfig, seed: int, base, checkpoint, zoo, classifier, status):
    """Yield every method's Step (evaluation.runner) for one seed's shots."""
    from equigen_core.evaluation.protocol import (augment_shots, interpolate_shots, noise_shots, protocol_data,
                                                  render, report)
    from equigen_core.generation.fewshot import generate, refine, sample_unconditional
    from equigen_core.train import FinetuneConfig, finetune

    spec, n = zoo.spec, cfg.n
    shots, shot_img, real = protocol_data(zoo, cfg.cls, cfg.k, seed=seed)
    if not bool((zoo.split == 0).any()):  # a gallery of held-out INRs: replay from all of it
        zoo = dataclasses.replace(zoo, split=torch.zeros_like(zoo.split))
    g = torch.Generator().manual_seed(seed)
    sampling = dict(steps=cfg.steps, temperature=cfg.temperature)
    plain = dict(sampling, guidance=0.0)  # the protocol's sampler: no guidance unless a row sweeps it

    def point(method, family, knob, value, make: Callable[[], Tensor]) -> Step:
        def score():
            rep = report(method, make(), cfg.cls, shot_img, real, classifier)
            return {k: float(getattr(rep, k)) for k in METRICS}

        return Step(method, family, knob, value, score)

    def weights_renderer(w: Tensor) -> Callable[[], Tensor]:
        return lambda: render(spec, w)

    def pick(k: int) -> Tensor:
        return shots[torch.randint(0, len(shots), (k,), generator=g)]

    yield point("real held-out images", "reference", "", None, lambda: real[:n])
    yield point("copies of the shots", "baseline", "", None, weights_renderer(pick(n)))
    for s in cfg.noise_sigmas:
        yield point("shots + weight noise", "baseline", "σ", s, weights_renderer(noise_shots(shots, n, s, g)))
    yield point("interpolation of two shots", "baseline", "", None, weights_renderer(interpolate_shots(shots, n, g)))
    for s in cfg.aug_scales:
        yield point("exact augmentations", "baseline", "strength", s,
                    weights_renderer(augment_shots(spec, pick(n), s, g)))
    for s in cfg.aug_scales:
        yield point("interpolation + augmentation", "baseline", "strength", s,
                    weights_renderer(augment_shots(spec, interpolate_shots(shots, n, g), s, g)))
    for gamma in cfg.gammas:
        yield point("EquiGen (base)", "equigen", "γ", gamma,
                    lambda: generate(base, shots, n, gamma=gamma, seed=seed, **plain).images)
    for lam in cfg.guidances:
        yield point("EquiGen (base) + guidance, γ=0.3", "equigen", "λ_g", lam,
                    lambda: generate(base, shots, n, gamma=0.3, guidance=lam, seed=seed, **sampling).images)
    # stage 3 on this seed's shots
    status("stage-3 adaptation")
    ad = finetune(checkpoint, shots, zoo, FinetuneConfig(steps=cfg.adapt_steps, eval_every=max(1, cfg.adapt_steps
                                                                                                // 12), seed=seed),
                  progress=False)
    adapted = dataclasses.replace(base, denoiser=ad.model)
    for gamma in cfg.gammas:
        yield point("EquiGen (adapted)", "equigen", "γ", gamma,
                    lambda: generate(adapted, shots, n, gamma=gamma, seed=seed, **plain).images)
    starts = augment_shots(spec, pick(n), 1.0, g)
    for t0 in cfg.refine_t0:
        yield point("EquiGen refine (adapted, SDEdit from augmented shots)", "equigen", "t0", t0,
                    lambda: refine(adapted, starts, start_t=t0, seed=seed, **plain).images)
    status("plain fine-tuning")
    plain_ft = finetune(checkpoint, shots, zoo, FinetuneConfig.plain(cfg.plain_steps, seed=seed), progress=False)
    plain_model = dataclasses.replace(base, denoiser=plain_ft.model)
    for gamma in cfg.finetune_gammas:
        yield point("plain fine-tuning on the shots", "baseline", "γ", gamma,
                    lambda: generate(plain_model, shots, n, gamma=gamma, seed=seed, **plain).images)
    status("unconditional fine-tuning")
    unc = finetune(checkpoint, shots, zoo, FinetuneConfig(steps=cfg.uncond_steps, holdout=0, unconditional=True,
                                                          augment=None, seed=seed), progress=False)
    unc_model = dataclasses.replace(base, denoiser=unc.model)
    yield point("unconditional diffusion on base + shots", "baseline", "", None,
                lambda: sample_unconditional(unc_model, n, seed=seed, **sampling).images)


def speckle_ratio(row: dict, summary: Sequence[dict]) -> float:
    """Speckle of a summary row relative to the real held-out images' (1 = as clean as real digits)."""
    real = next((r for r in summary if r["family"] == "reference"), None)
    return row["mean"]["speckle"] / max(real["mean"]["speckle"], 1e-9) if real else float("nan")


def meets_goal(row: dict, summary: Sequence[dict]) -> bool:
    m = row["mean"]
    return (m["accuracy"] >= GOAL["accuracy"] and m["aligned_novelty"] >= GOAL["aligned_novelty"]
            and m["diversity"] >= GOAL["diversity"] and speckle_ratio(row, summary) <= GOAL["speckle_ratio"])


def dominated_by(row: dict, summary: Sequence[dict], family: str = "baseline") -> list[dict]:
    """Rows of `family` at least as good in both accuracy and aligned novelty, better in one, and no noisier: their
    speckle ratio is at most the larger of row's and the goal's (a baseline cannot win by adding speckle, which the
    novelty ratio counts as new)."""
    a, v = row["mean"]["accuracy"], row["mean"]["aligned_novelty"]
    limit = max(speckle_ratio(row, summary), GOAL["speckle_ratio"])
    out = []
    for r in summary:
        if r["family"] != family or speckle_ratio(r, summary) > limit:
            continue
        ra, rv = r["mean"]["accuracy"], r["mean"]["aligned_novelty"]
        if ra >= a and rv >= v and (ra > a or rv > v):
            out.append(r)
    return out


label = row_label  # the frontier's name for it
