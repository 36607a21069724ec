"""The paper's ablations (and ours) at equal CPU time, in one JSON (issue 7).

    python -m equigen_core ablate --zoo runs/mnist/zoo --seconds 150 --json docs/data/ablations.json

- encoder: smooth augmentation or not → kNN accuracy and silhouette of ψ on held-out INRs (no training: the two
  shipped encoders, plus raw weights for reference);
- stage 2, each variant trained for the same wall time on classes 0–8 with the `cpu` denoiser preset, then measured by
  held-in conditional accuracy (one sample per held-out INR of classes 0–8) and on the held-out class (no adaptation):
    * conditioning: none (every row null) / class label (one-hot of the classifier's reading of the INR) /
      equivariant features ψ (the shipped encoder);
    * L_eq on (λ = 0.1) / off;
    * zoo alignment: shared init (the default) / independent inits / independent + smooth canonicalisation;
    * denoiser: flat MLP / weight-token transformer (`cpu-transformer`);
- sampling: per-target vs set-level conditioning, with the shipped base model (held-in accuracy).
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

STAGE2_VARIANTS = ("features (default)", "no condition", "class label", "L_eq off", "independent inits",
                   "independent + smooth canonicalisation", "transformer denoiser")
# extra variants, run on request (--variants): L_eq off for as many steps as the default reached (not equal time)
EXTRA_VARIANTS = ("L_eq off, equal steps",)


class LabelEncoder(nn.Module):
    """ψ = one-hot of the classifier's label for the INR's 28×28 render (the 'class label' condition, read from the
    weights so it plugs in wherever an encoder does; not differentiable, so L_eq must be off)."""

    def __init__(self, spec, classifier, num_classes: int = 10):
        super().__init__()
        self.spec, self.classifier, self.out_dim = spec, classifier, num_classes

    @torch.no_grad()
    def forward(self, flat: Tensor) -> Tensor:
        from equigen_core.inr import render_images

        labels = self.classifier.predict(render_images(self.spec, flat, 28))
        return torch.nn.functional.one_hot(labels, self.out_dim).float()


@dataclass(frozen=True)
class AblationConfig:
    seconds: float = 150.0  # wall time per stage-2 variant
    cls: int = 9
    k: int = 10
    n: int = 64  # held-out-class samples per variant
    per_class: int = 20  # held-in conditions per base class
    temperature: float = 0.8
    steps: int = 50
    variants: tuple[str, ...] = STAGE2_VARIANTS
    seed: int = 0

    @classmethod
    def quick(cls, **kw) -> "AblationConfig":
        return cls(**{**dict(seconds=3.0, n=16, per_class=2, steps=5, variants=("features (default)",
                                                                               "class label")), **kw})


def encoder_ablation(zoo, encoders: dict[str, nn.Module]) -> list[dict]:
    """kNN accuracy (k = 5, cosine; train → held-out split) and silhouette (cosine) of each encoder's ψ on the
    held-out INRs, and of the raw flat weights."""
    from sklearn.metrics import silhouette_score

    from equigen_core.train import encode, knn_accuracy

    train, test = zoo.train(), zoo.test()
    rows = []
    feats = {name: (encode(e, train.weights), encode(e, test.weights)) for name, e in encoders.items()}
    feats["raw flat weights (no encoder)"] = (train.weights, test.weights)
    for name, (ftr, fte) in feats.items():
        rows.append({"features": name, "knn_accuracy": knn_accuracy(ftr, train.labels, fte, test.labels),
                     "silhouette": float(silhouette_score(fte.numpy(), test.labels.numpy(), metric="cosine"))})
    return rows


def _measure(model, zoo, classifier, cfg: AblationConfig) -> dict:
    from equigen_core.evaluate import held_in_accuracy, protocol_data, report
    from equigen_core.fewshot import generate

    classes = [c for c in range(10) if c != cfg.cls]
    held = held_in_accuracy(model, zoo, classifier, classes=classes, per_class=cfg.per_class, steps=cfg.steps,
                            temperature=cfg.temperature, seed=cfg.seed)
    shots, shot_img, real = protocol_data(zoo, cfg.cls, cfg.k, seed=cfg.seed)
    out = generate(model, shots, cfg.n, gamma=0.3, steps=cfg.steps, temperature=cfg.temperature, seed=cfg.seed)
    r = report("", out.images, cfg.cls, shot_img, real, classifier)
    return {"held_in_accuracy": held, "heldout_accuracy": r.accuracy, "heldout_aligned_novelty": r.aligned_novelty,
            "heldout_fd": r.fd, "heldout_speckle": r.speckle}


def _variant_setup(name: str, zoo, encoder, classifier, zoo_independent: Callable[[], object]):
    """→ (zoo, encoder, DiffusionTrainConfig overrides, DiffusionConfig overrides, denoiser preset) for a variant."""
    from equigen_core.data.zoo import canonicalize_zoo

    if name == "features (default)":
        return zoo, encoder, {}, {}, "cpu"
    if name == "no condition":
        return zoo, encoder, {"lambda_eq": 0.0}, {"cond_drop": 1.0, "lambda_eq": 0.0}, "cpu"
    if name == "class label":
        return zoo, LabelEncoder(zoo.spec, classifier), {"lambda_eq": 0.0}, {"lambda_eq": 0.0}, "cpu"
    if name in ("L_eq off", "L_eq off, equal steps"):
        return zoo, encoder, {"lambda_eq": 0.0}, {"lambda_eq": 0.0}, "cpu"
    if name == "independent inits":
        return zoo_independent(), encoder, {}, {}, "cpu"
    if name == "independent + smooth canonicalisation":
        return canonicalize_zoo(zoo_independent()), encoder, {}, {}, "cpu"
    if name == "transformer denoiser":
        return zoo, encoder, {}, {}, "cpu-transformer"
    raise ValueError(f"unknown ablation variant {name!r}; expected one of {STAGE2_VARIANTS + EXTRA_VARIANTS}")


def stage2_ablation(cfg: AblationConfig, zoo, encoder, classifier, *, zoo_independent: Callable[[], object],
                    progress: bool = True, earlier: list[dict] | None = None) -> list[dict]:
    """Train every variant for cfg.seconds and measure it (see the module docstring). "… equal steps" variants stop
    at the step count the default variant reached (in this run or in `earlier` rows) instead of the wall time."""
    from tqdm.auto import tqdm

    from equigen_core.denoiser import get_preset
    from equigen_core.diffusion import DiffusionConfig
    from equigen_core.fewshot import FewShotModel
    from equigen_core.train import DiffusionTrainConfig, train_diffusion

    rows = []
    for name in tqdm(cfg.variants, desc="ablations (stage 2)", disable=not progress):
        vzoo, venc, tr_kw, diff_kw, preset = _variant_setup(name, zoo, encoder, classifier, zoo_independent)
        limit = {"max_seconds": cfg.seconds}
        if name.endswith("equal steps"):
            ref = next((r for r in rows + (earlier or []) if r["variant"] == "features (default)"), None)
            if ref is None:
                raise ValueError(f"{name!r} needs the 'features (default)' variant's step count; run it first")
            limit = {"max_steps": ref["steps"]}
        tcfg = DiffusionTrainConfig(save_every=0, seed=cfg.seed, **limit, **tr_kw)
        dcfg = DiffusionConfig(**{"lambda_eq": tcfg.lambda_eq, **diff_kw})
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "diffusion"
            t0 = time.perf_counter()
            r = train_diffusion(vzoo, venc, tcfg, get_preset(preset), dcfg, out=out, progress=False)
            seconds = time.perf_counter() - t0
            model = FewShotModel.load(out, venc)
        k = min(50, len(r.losses))
        rows.append({"variant": name, "steps": len(r.losses), "seconds": round(seconds, 1),
                     "loss_first": sum(r.losses[:k]) / k, "loss_last": sum(r.losses[-k:]) / k,
                     **_measure(model, vzoo, classifier, cfg)})
    return rows


def mode_ablation(model, zoo, classifier, cfg: AblationConfig) -> list[dict]:
    """Held-in accuracy when each sample is conditioned on one target (per-target) or on the mean ψ of 10 targets of
    its class (set-level)."""
    from equigen_core.fewshot import generate

    test = zoo.test()
    rows = []
    for mode in ("per-target", "set"):
        hits, total = 0, 0
        for c in (c for c in range(10) if c != cfg.cls):
            targets = test.select(test.labels == c).weights[: cfg.k]
            out = generate(model, targets, cfg.per_class, gamma=0.0, steps=cfg.steps, seed=cfg.seed + c,
                           temperature=cfg.temperature, mode=mode)
            hits += int((classifier.predict(out.images) == c).sum())
            total += cfg.per_class
        rows.append({"mode": mode, "held_in_accuracy": hits / total})
    return rows


def run(cfg: AblationConfig, *, zoo, encoder, encoder_smooth, base_model, classifier,
        zoo_independent: Callable[[], object], progress: bool = True, command: str = "") -> dict:
    from equigen_core.frontier import run_meta

    t0 = time.perf_counter()
    out = {"encoder": encoder_ablation(zoo, {"encoder, raw zoo (no smooth augmentation)": encoder,
                                             "encoder, smooth-canonicalised zoo": encoder_smooth}),
           "mode": mode_ablation(base_model, zoo, classifier, cfg),
           "stage2": stage2_ablation(cfg, zoo, encoder, classifier, zoo_independent=zoo_independent,
                                     progress=progress)}
    out["meta"] = {**run_meta(command), "config": dataclasses.asdict(cfg),
                   "seconds": round(time.perf_counter() - t0, 1)}
    return out
