"""The ablations at equal CPU time, in one JSON (issues 7 and 15).

    python -m equigen_core ablate --zoo runs/mnist/zoo --zoo-shared runs/mnist/zoo_shared --seconds 300 \
        --json docs/data/ablations.json

- zoo: the structure of the zoo per init (zoo_structure: midpoints, principal-subspace reconstruction of the held-out
  class, distance from the shared init), for the main zoo and, with --zoo-shared, the same digits from a random
  shared init;
- encoder: kNN accuracy of ψ (base classes, all ten), how separable the held-out class is, silhouette — for the
  shipped encoder, the one trained on the smooth-canonicalised zoo, any --extra-encoders, and the raw weights;
- stage 2, each variant trained for the same wall time with the `cpu` denoiser preset on the base classes (neither
  the validation class `cls` nor the test class), then measured by held-in conditional accuracy (one sample per
  held-out INR of the base classes) and, on protocol v2 (evaluation.frontier, `seeds` × `n` samples from K shots of
  the validation class, no adaptation), by the from-noise sampler at γ = noise_gamma and the span sampler: accuracy,
  aligned novelty, coverage, the Vendi score and off-stroke ink against the INRs of real images of the class, with
  95 % t-intervals. The variants: the shipped recipe (every weight, probe condition) against the whole ψ as the
  condition, the PCA-256 space, a random shared init, the function-space loss, L_eq off, no condition; the three
  from-noise levers of issue 24 (condition corruption with the level as input, neighbour pairing with the rank as
  input, stronger condition dropout with classifier-free guidance); on request (--variants) the earlier levers:
  class-label condition, independent inits (with and without smooth canonicalisation), the transformer;
- sampling: per-target vs set-level conditioning, with the shipped base model (held-in accuracy).
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from equigen_core.data.zoo import canonicalize_zoo
from equigen_core.domains.images import ImageDomain
from equigen_core.evaluation.frontier import NOISE, SPAN, EvalConfig, evaluate, off_stroke_ratio, run_meta
from equigen_core.evaluation.metrics import midpoint_test
from equigen_core.evaluation.protocol import held_in_accuracy
from equigen_core.generation.fewshot import FewShotModel, generate
from equigen_core.nets.denoiser import get_preset
from equigen_core.presets import IMAGES, Sampling
from equigen_core.training.common import encode
from equigen_core.training.features import knn_accuracy
from equigen_core.training.stage2 import DiffusionTrainConfig, diffusion_config, train_diffusion
from equigen_core.weightspace.inr import render_images
from equigen_core.weightspace.weights import PCAStats

# the from-noise levers of issue 24 (Deliver 3), each against the default at equal wall time
LEVERS = ("condition corruption, level as input", "neighbour pairing, rank as input",
          "condition dropout 0.2 + CFG w = 2")
STAGE2_VARIANTS = ("default (shipped recipe)", *LEVERS, "whole ψ as the condition", "PCA-256 space",
                   "latent space (weight autoencoder)", "random shared init", "function-space loss", "L_eq off",
                   "no condition", "v-prediction loss", "ε-prediction", "lr schedule fitted to the budget")
# extra variants, run on request (--variants): L_eq off for as many steps as the default reached (not equal time),
# and the earlier foundation's levers
EXTRA_VARIANTS = ("L_eq off, equal steps", "class label", "independent inits", "independent + smooth canonicalisation",
                  "transformer denoiser")


class LabelEncoder(nn.Module):
    """ψ = one-hot of the classifier's label for the INR's 28×28 render (the 'class label' condition, read from the
    weights so it plugs in wherever an encoder does; not differentiable, so L_eq must be off)."""

    def __init__(self, spec, classifier, num_classes: int = 10):
        super().__init__()
        self.spec, self.classifier, self.out_dim = spec, classifier, num_classes

    @torch.no_grad()
    def forward(self, flat: Tensor) -> Tensor:
        labels = self.classifier.predict(render_images(self.spec, flat, 28))
        return torch.nn.functional.one_hot(labels, self.out_dim).float()


@dataclass(frozen=True)
class AblationConfig:
    seconds: float = 300.0  # CPU time (this process, all threads) per stage-2 variant: ~150 s wall on 2 free cores
    cls: int = 8  # the validation class: the held-out class every variant is measured on (knobs are chosen there)
    test_class: int = 9  # never seen, never measured here
    k: int = 10
    n: int = 128  # samples per sampler, seed and variant
    seeds: tuple[int, ...] = (0, 1, 2)  # protocol seeds (shot draws) of the held-out measurement
    per_class: int = 20  # held-in conditions per base class
    sampling: Sampling = IMAGES  # the span row's sampler; the from-noise row is the same at sampler="noise"
    noise_gamma: float = 0.3
    temperature: float = IMAGES.temperature  # held-in accuracy and the conditioning modes (γ = 0, no guidance)
    steps: int = IMAGES.steps
    variants: tuple[str, ...] = STAGE2_VARIANTS
    seed: int = 0  # training seed of every variant
    # the default variant's diffusion space and condition (the shipped cpu preset's)
    space: Literal["weights", "pca", "latent"] = "weights"
    pca_dim: int = 256
    condition: Literal["features", "probe"] = "probe"

    @classmethod
    def quick(cls, **kw) -> "AblationConfig":
        return cls(**{**dict(seconds=3.0, n=16, seeds=(0,), per_class=2, steps=5,
                             sampling=IMAGES.replace(steps=5), variants=("default (shipped recipe)", "class label")),
                      **kw})

    def base_classes(self, zoo) -> list[int]:
        """The image zoo's classes other than the validation and test classes (domains.images: any image zoo)."""

        return [c for c in ImageDomain.of(zoo).classes() if c not in (self.cls, self.test_class)]


def zoo_structure(zoo, classifier, *, cls: int = 9, k: int = 128, pairs: int = 1000, seed: int = 0) -> dict:
    """How learnable a zoo's weight space is (docs/RESULTS.md, "Zoo structure"): fit PSNR and time; same-class weight
    midpoints (share read as the class, their border speckle); principal-subspace reconstruction — PCA with k
    components of the per-entry standardised training INRs of the base classes, then the PSNR of the renders of the
    held-out class's INRs projected onto it (can a few directions express a class they never saw?); mean ‖w − w0‖
    from the shared init."""

    base = zoo.train().select(zoo.train().labels != cls)
    novel = zoo.select(zoo.labels == cls)
    mid = midpoint_test(zoo.spec, base.weights, base.labels, classifier, n_pairs=pairs, seed=seed)
    pca = PCAStats.fit(base.weights, min(k, len(base) - 1))
    true, rec = (render_images(zoo.spec, w, 28) for w in (novel.weights, pca.project(novel.weights)))  # [0, 1]
    psnr = -10 * torch.log10((true - rec).pow(2).flatten(1).mean(1).clamp_min(1e-12))
    init = zoo.init
    return {"init": zoo.meta.get("init"), "n": len(zoo), "mean_psnr": float(zoo.psnr.mean()),
            "fit_seconds": zoo.meta.get("fit_seconds"), "meta_init_seconds": (zoo.meta.get("meta_init") or {}).get(
                "seconds"), "midpoint_accuracy": mid.accuracy,
            "midpoint_speckle": mid.speckle,
            f"pca{k}_psnr_class_{cls}": float(psnr.mean()),
            "mean_dist_to_init": float((zoo.weights - init).norm(dim=1).mean()) if init is not None else None}


def encoder_ablation(zoo, encoders: dict[str, nn.Module], *, cls: int = 9) -> list[dict]:
    """Per feature set (each encoder's ψ, and the raw flat weights): kNN accuracy (k = 5, cosine; train → held-out
    split) over the base classes and over all ten, silhouette (cosine) of the held-out INRs, and how separable the
    held-out class `cls` is — balanced accuracy of a logistic-regression probe of cls-vs-rest (fitted on the train
    split's features, scored on the held-out split; the encoders never saw cls)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, silhouette_score

    train, test = zoo.train(), zoo.test()
    btr, bte = train.labels != cls, test.labels != cls
    rows = []
    feats = {name: (encode(e, train.weights), encode(e, test.weights)) for name, e in encoders.items()}
    feats["raw flat weights (no encoder)"] = (train.weights, test.weights)
    for name, (ftr, fte) in feats.items():
        probe = LogisticRegression(max_iter=2000, class_weight="balanced").fit(ftr.numpy(), (train.labels == cls))
        rows.append({"features": name,
                     "knn_accuracy": knn_accuracy(ftr[btr], train.labels[btr], fte[bte], test.labels[bte]),
                     "knn_accuracy_all": knn_accuracy(ftr, train.labels, fte, test.labels),
                     f"{cls}_vs_rest": float(balanced_accuracy_score(test.labels == cls, probe.predict(fte.numpy()))),
                     "silhouette": float(silhouette_score(fte.numpy(), test.labels.numpy(), metric="cosine"))})
    return rows


def _measure(path: Path, model, zoo, classifier, cfg: AblationConfig, knobs: dict) -> dict:
    """Held-in accuracy, then protocol v2 on the validation class (evaluation.frontier.evaluate, no learned rows):
    the from-noise and span rows of the variant's checkpoint at `path`, with the sampler knobs `knobs`."""

    held = held_in_accuracy(model, zoo, classifier, classes=cfg.base_classes(zoo), per_class=cfg.per_class,
                            steps=cfg.steps, temperature=cfg.temperature, seed=cfg.seed)
    ecfg = EvalConfig(cls=cfg.cls, k=cfg.k, n=cfg.n, seeds=cfg.seeds, sampling=cfg.sampling.replace(**knobs),
                      span_gammas=(cfg.sampling.gamma,), noise_gammas=(cfg.noise_gamma,), aug_scales=(0.5,),
                      noise_sigmas=(), learned=False)
    summary = evaluate(ecfg, checkpoint=path, zoo=zoo, classifier=classifier, progress=False, model=model)["summary"]
    out = {"held_in_accuracy": held}
    for prefix, method in (("noise", NOISE), ("span", SPAN)):
        row = next(r for r in summary if r["method"] == method)
        for m in ("accuracy", "aligned_novelty", "coverage", "vendi"):
            out[f"{prefix}_{m}"], out[f"{prefix}_{m}_ci95"] = row["mean"][m], row["ci95"][m]
        out[f"{prefix}_off_stroke_ratio"] = off_stroke_ratio(row, summary)
    return out


def _variant_setup(name: str, zoo, encoder, classifier, other_zoo: Callable[[str], object], space: dict):
    """→ (zoo, encoder, DiffusionTrainConfig overrides, DiffusionConfig overrides, denoiser preset) for a variant.
    `space` holds the default's recipe ({"space": "weights", "condition": "probe"}); other_zoo(init)
    gives the same digits fitted from another init ("shared": a random shared SIREN init; "independent")."""

    weights = {**space, "space": "weights"}
    if name == "default (shipped recipe)":
        return zoo, encoder, space, {}, "cpu"
    if name == "whole ψ as the condition":
        return zoo, encoder, {**space, "condition": "features"}, {}, "cpu"
    if name == "PCA-256 space":
        return zoo, encoder, {**space, "space": "pca", "pca_dim": 256}, {}, "cpu"
    if name == "condition corruption, level as input":
        return zoo, encoder, {**space, "cond_noise": 1.0}, {}, "cpu"
    if name == "neighbour pairing, rank as input":
        return zoo, encoder, {**space, "pair_k": 16}, {}, "cpu"
    if name == "condition dropout 0.2 + CFG w = 2":  # sampled with cfg_scale (SAMPLING_KNOBS)
        return zoo, encoder, space, {"cond_drop": 0.2}, "cpu"
    if name == "random shared init":
        return other_zoo("shared"), encoder, space, {}, "cpu"
    if name == "function-space loss":
        return zoo, encoder, {**space, "lambda_func": 10.0}, {}, "cpu"
    if name == "no condition":
        return zoo, encoder, {**space, "lambda_eq": 0.0}, {"cond_drop": 1.0}, "cpu"
    if name == "class label":
        return zoo, LabelEncoder(zoo.spec, classifier), {**space, "lambda_eq": 0.0, "condition": "features"}, {}, "cpu"
    if name == "lr schedule fitted to the budget":  # the cosine decay ends at the default's step count
        return zoo, encoder, space, {}, "cpu"
    if name in ("L_eq off", "L_eq off, equal steps"):
        return zoo, encoder, {**space, "lambda_eq": 0.0}, {}, "cpu"
    if name == "independent inits":
        return other_zoo("independent"), encoder, space, {}, "cpu"
    if name == "independent + smooth canonicalisation":
        return canonicalize_zoo(other_zoo("independent")), encoder, space, {}, "cpu"
    if name == "latent space (weight autoencoder)":  # the autoencoder's training counts in the time budget
        return zoo, encoder, {**space, "space": "latent", "latent_steps": 600}, {}, "cpu"
    if name == "v-prediction loss":
        return zoo, encoder, space, {"prediction": "v"}, "cpu"
    if name == "ε-prediction":
        return zoo, encoder, space, {"prediction": "eps"}, "cpu"
    if name == "transformer denoiser":  # reads weights by neuron: the weight space only
        return zoo, encoder, weights, {}, "cpu-transformer"
    raise ValueError(f"unknown ablation variant {name!r}; expected one of {STAGE2_VARIANTS + EXTRA_VARIANTS}")


# the sampler knobs a variant is measured with (the rest: AblationConfig.sampling)
SAMPLING_KNOBS = {"condition dropout 0.2 + CFG w = 2": {"cfg_scale": 2.0},
                  "class label": {"guidance": 0.0}}  # a label encoder has no gradient to guide with


def stage2_ablation(cfg: AblationConfig, zoo, encoder, classifier, *, other_zoo: Callable[[str], object],
                    progress: bool = True, earlier: list[dict] | None = None) -> list[dict]:
    """Train every variant for cfg.seconds and measure it (see the module docstring). "… equal steps" variants stop
    at the step count the default variant reached (in this run or in `earlier` rows) instead of the wall time."""

    rows = []
    space = {"space": cfg.space, "pca_dim": cfg.pca_dim, "condition": cfg.condition}
    for name in tqdm(cfg.variants, desc="ablations (stage 2)", disable=not progress):
        vzoo, venc, tr_kw, diff_kw, preset = _variant_setup(name, zoo, encoder, classifier, other_zoo, space)
        limit = {"max_cpu_seconds": cfg.seconds}
        if name.endswith("equal steps") or name == "lr schedule fitted to the budget":
            ref = next((r for r in rows + (earlier or []) if r["variant"] == "default (shipped recipe)"), None)
            if ref is None:
                raise ValueError(f"{name!r} needs the 'default (shipped recipe)' variant's step count; run it first")
            limit = ({"max_steps": ref["steps"]} if name.endswith("equal steps") else
                     {"max_cpu_seconds": cfg.seconds, "steps": ref["steps"]})
        tcfg = DiffusionTrainConfig(save_every=0, seed=cfg.seed, classes=tuple(cfg.base_classes(zoo)),
                                    test_class=cfg.test_class, validation_class=cfg.cls, **{**limit, **tr_kw})
        dcfg = diffusion_config(tcfg, **diff_kw)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "diffusion"
            t0, cpu0 = time.perf_counter(), time.process_time()
            r = train_diffusion(vzoo, venc, tcfg, get_preset(preset), dcfg, out=out, progress=False)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            model = FewShotModel.load(out, venc)
            k = min(50, len(r.losses))
            rows.append({"variant": name, "steps": len(r.losses), "seconds": round(seconds, 1),
                         "cpu_seconds": round(cpu, 1),
                         "loss_first": sum(r.losses[:k]) / k, "loss_last": sum(r.losses[-k:]) / k,
                         "sampling": SAMPLING_KNOBS.get(name, {}),
                         **_measure(out, model, vzoo, classifier, cfg, SAMPLING_KNOBS.get(name, {}))})
    return rows


def mode_ablation(model, zoo, classifier, cfg: AblationConfig) -> list[dict]:
    """Held-in accuracy when each sample is conditioned on one target (per-target) or on the mean ψ of 10 targets of
    its class (set-level)."""

    test = zoo.test()
    rows = []
    for mode in ("per-target", "set"):
        hits, total = 0, 0
        for c in cfg.base_classes(zoo):
            targets = test.select(test.labels == c).weights[: cfg.k]
            out = generate(model, targets, cfg.per_class, gamma=0.0, guidance=0.0, steps=cfg.steps, seed=cfg.seed + c,
                           temperature=cfg.temperature, mode=mode)
            hits += int((classifier.predict(out.images) == c).sum())
            total += cfg.per_class
        rows.append({"mode": mode, "held_in_accuracy": hits / total})
    return rows


def run(cfg: AblationConfig, *, zoo, encoder, encoder_smooth, base_model, classifier,
        other_zoo: Callable[[str], object], progress: bool = True, command: str = "",
        zoo_inits: dict | None = None, extra_encoders: dict | None = None) -> dict:

    t0 = time.perf_counter()
    encoders = {"encoder, raw zoo (no smooth augmentation)": encoder,
                "encoder, smooth-canonicalised zoo": encoder_smooth, **(extra_encoders or {})}
    out = {"encoder": encoder_ablation(zoo, encoders, cls=cfg.cls),
           "mode": mode_ablation(base_model, zoo, classifier, cfg),
           "stage2": stage2_ablation(cfg, zoo, encoder, classifier, other_zoo=other_zoo, progress=progress)}
    if zoo_inits:  # the structure of the zoo fitted from each init (name → Zoo)
        out["zoo"] = [{"zoo": name, **zoo_structure(z, classifier, cls=cfg.cls)} for name, z in zoo_inits.items()]
    out["meta"] = {**run_meta(command), "protocol": 2, "config": dataclasses.asdict(cfg),
                   "seconds": round(time.perf_counter() - t0, 1)}
    return out
