"""Saving and loading the trained networks: the stage-1 encoder and stage-2/3 diffusion checkpoints (kinds, config
layout, the encoder fingerprint a diffusion checkpoint records). Training (equigen_core.training) writes them;
fewshot.FewShotModel reads them. See docs/ARCHITECTURE.md for the checkpoint format.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from torch import nn

from equigen_core.data.zoo import Zoo
from equigen_core.nets.encoder import EncoderConfig, ProbeCondition, WeightEncoder
from equigen_core.storage.checkpoint import (
    CheckpointError,
    config_to_dict,
    load_checkpoint,
    load_into_module,
    module_tensors,
    save_checkpoint,
)
from equigen_core.weightspace.inr import SirenSpec

ENCODER_KIND = "encoder"
DIFFUSION_KIND = "diffusion"


def save_encoder(path: str | Path, result, cfg, zoo: Zoo) -> Path:
    """A stage-1 result (training.stage1.EncoderTrainResult) and its config → an encoder checkpoint."""
    losses = result.losses
    summary = {"steps": len(losses), "seconds": round(result.seconds, 1),
               "loss_first": float(np.mean(losses[:10])), "loss_last": float(np.mean(losses[-10:])),
               "knn_accuracy": result.knn_accuracy, "knn_accuracy_raw_weights": result.knn_accuracy_raw,
               "zoo": {k: zoo.meta.get(k) for k in ("source", "init", "canonicalized", "path")},
               "loss_curve": [round(float(np.mean(losses[i : i + 10])), 4) for i in range(0, len(losses), 10)]}
    config = {"spec": zoo.spec.to_dict(), "encoder": result.encoder.cfg.to_dict(), "train": config_to_dict(cfg)}
    return save_checkpoint(path, kind=ENCODER_KIND, config=config, tensors=module_tensors(result.encoder),
                           summary=summary)


def load_encoder(path: str | Path, spec: SirenSpec | None = None) -> WeightEncoder:
    """Load a stage-1 encoder; with `spec`, check it was trained for that INR spec."""

    ckpt = load_checkpoint(path, kind=ENCODER_KIND)
    saved = SirenSpec.from_dict(ckpt.config["spec"])
    if spec is not None and saved != spec:
        raise CheckpointError(f"{Path(path) / 'config.json'}: encoder was trained for INR spec {saved}, "
                              f"but this data uses {spec}")
    enc = WeightEncoder(saved, EncoderConfig(**ckpt.config["encoder"]))
    load_into_module(enc, ckpt)
    return enc.eval()


def encoder_fingerprint(encoder: nn.Module) -> str:
    """A short hash of the encoder's weights: a diffusion checkpoint records which encoder it was trained with."""

    h = hashlib.sha256()
    if isinstance(encoder, ProbeCondition):
        h.update(b"condition=probe")  # the same weights, conditioned on the probe part only
    for k, v in sorted(encoder.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    probe = getattr(getattr(encoder, "cfg", None), "probe_res", 0)
    if probe:  # the same weights with a probe give other features
        h.update(f"probe_res={probe}".encode())
    return h.hexdigest()[:16]


def save_diffusion(path, result, *, zoo: Zoo, encoder, wnorm, fnorm, cfg, denoiser_cfg,
                   diffusion_cfg, encoder_path=None, extra_summary: dict | None = None, half: bool = False) -> Path:
    tensors = {**module_tensors(result.model), **wnorm.tensors("norm."), **fnorm.tensors("feat_norm.")}
    if zoo.init is not None:  # the zoo's shared init w0, so new targets can be fitted from it; float64 so that
        tensors["inr_init"] = zoo.init.double()  # half=True storage (float32 → float16 only) leaves it exact
    n = len(result.losses)
    summary = {"steps_run": n, "start_step": result.start_step, "seconds": round(result.seconds, 1),
               "loss_first": float(np.mean(result.losses[:50])) if n else None,
               "loss_last": float(np.mean(result.losses[-50:])) if n else None,
               "recon_last": float(np.mean(result.recon[-50:])) if n else None,
               "eq_last": float(np.mean(result.eq[-50:])) if n else None,
               "loss_curve": [round(float(np.mean(result.losses[i: i + 50])), 5) for i in range(0, n, 50)],
               **(extra_summary or {})}
    config = {"spec": zoo.spec.to_dict(), "denoiser": denoiser_cfg.to_dict(), "diffusion": diffusion_cfg.to_dict(),
              "train": config_to_dict(cfg), "encoder_fingerprint": encoder_fingerprint(encoder),
              "encoder_path": str(encoder_path) if encoder_path else None}
    return save_checkpoint(path, kind=DIFFUSION_KIND, config=config, tensors=tensors, summary=summary, half=half)
