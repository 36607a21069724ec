"""A learned latent space of INR weights as the diffusion model's data space (`--space latent`, our addition; the
idea of p-diff, Wang et al. 2024, with a function-space decoder loss).

An MLP autoencoder over per-entry standardised flat weights, P → hidden → d → hidden → P (SiLU), trained with
    L = mean over random coordinates x of ||f_dec(enc(w̃))(x) − f_w(x)||²  +  β · ||dec(enc(w̃)) − w||²  (standardised)
where w̃ is the input with Gaussian noise and the latent also gets noise before decoding, so the decoder maps a
neighbourhood of every code to a clean INR. The codes are whitened over the zoo, so the diffusion process sees unit
variance coordinates, like the PCA space (weights.PCAStats). The codec is plain tensors (no nn.Module) so it is stored
in the diffusion checkpoint under the same `norm.` prefix as the other weight codecs and stays differentiable for L_eq
and guidance.

    codec = fit_latent_codec(spec, train_weights, LatentConfig(dim=64))
    z = codec.normalize(w)       # (B, P) → (B, 64)
    w = codec.denormalize(z)     # (B, 64) → (B, P)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from equigen_core.rng import seeded
from equigen_core.weightspace.inr import SirenSpec, siren_forward


@dataclass(frozen=True)
class LatentConfig:
    dim: int = 64  # latent size d
    hidden: tuple[int, ...] = (1024, 512)  # encoder widths (the decoder mirrors them)
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3  # Adam, cosine decay
    points: int = 256  # random coordinates per batch for the function-space loss
    weight_loss: float = 1e-3  # β of the standardised weight MSE
    input_noise: float = 0.05  # σ of the noise added to standardised input weights
    latent_noise: float = 0.1  # σ of the noise added to the code before decoding (training only)
    seed: int = 0


@dataclass(frozen=True)
class LatentCodec:
    """Weights (B, P) ↔ whitened codes (B, d). enc / dec: [(weight (out, in), bias (out,)), ...], SiLU between."""

    mean: Tensor  # (P,) per-entry standardisation of the weights
    std: Tensor  # (P,)
    enc: tuple[tuple[Tensor, Tensor], ...]
    dec: tuple[tuple[Tensor, Tensor], ...]
    zmean: Tensor  # (d,) whitening of the codes over the zoo
    zstd: Tensor  # (d,)

    @property
    def dim(self) -> int:
        return self.zmean.numel()

    def encode_raw(self, flat: Tensor) -> Tensor:
        """(B, P) weights → (B, d) un-whitened codes."""
        return _mlp(self.enc, (flat - self.mean.to(flat)) / self.std.to(flat))

    def decode_raw(self, code: Tensor) -> Tensor:
        """(B, d) un-whitened codes → (B, P) weights."""
        return _mlp(self.dec, code) * self.std.to(code) + self.mean.to(code)

    def normalize(self, flat: Tensor) -> Tensor:
        return (self.encode_raw(flat) - self.zmean.to(flat)) / self.zstd.to(flat)

    def denormalize(self, z: Tensor) -> Tensor:
        return self.decode_raw(z * self.zstd.to(z) + self.zmean.to(z))

    def project(self, flat: Tensor) -> Tensor:
        """Weights (B, P) → their reconstruction through the autoencoder (B, P)."""
        return self.denormalize(self.normalize(flat))

    def tensors(self, prefix: str = "norm.") -> dict[str, Tensor]:
        out = {f"{prefix}mean": self.mean, f"{prefix}std": self.std, f"{prefix}zmean": self.zmean,
               f"{prefix}zstd": self.zstd}
        for part, layers in (("enc", self.enc), ("dec", self.dec)):
            for i, (w, b) in enumerate(layers):
                out[f"{prefix}{part}.{i}.weight"], out[f"{prefix}{part}.{i}.bias"] = w, b
        return {k: v.contiguous() for k, v in out.items()}

    @classmethod
    def from_tensors(cls, t: dict[str, Tensor], prefix: str = "norm.") -> "LatentCodec":
        def layers(part):
            out, i = [], 0
            while f"{prefix}{part}.{i}.weight" in t:
                out.append((t[f"{prefix}{part}.{i}.weight"].float(), t[f"{prefix}{part}.{i}.bias"].float()))
                i += 1
            if not out:
                raise ValueError(f"latent codec: no {prefix}{part}.0.weight tensor")
            return tuple(out)

        return cls(t[f"{prefix}mean"].float(), t[f"{prefix}std"].float(), layers("enc"), layers("dec"),
                   t[f"{prefix}zmean"].float(), t[f"{prefix}zstd"].float())


def _mlp(layers, x: Tensor) -> Tensor:
    for i, (w, b) in enumerate(layers):
        x = F.linear(x, w.to(x), b.to(x))
        if i < len(layers) - 1:
            x = F.silu(x)
    return x


def _stack(widths: list[int]) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            mods.append(nn.SiLU())
    return nn.Sequential(*mods)


def _layers(seq: nn.Sequential) -> tuple[tuple[Tensor, Tensor], ...]:
    return tuple((m.weight.detach().clone(), m.bias.detach().clone()) for m in seq if isinstance(m, nn.Linear))


@seeded
def fit_latent_codec(spec: SirenSpec, flat: Tensor, cfg: LatentConfig = LatentConfig(), *, device=None,
                     progress: bool = False) -> tuple[LatentCodec, list[float]]:
    """Train the autoencoder on INR weights (B, P) → (codec, per-step losses)."""

    if flat.dim() != 2 or flat.shape[1] != spec.num_params:
        raise ValueError(f"weights must be (B, {spec.num_params}), got {tuple(flat.shape)}")
    if not 1 <= cfg.dim < spec.num_params:
        raise ValueError(f"latent dim {cfg.dim} must be in [1, {spec.num_params})")
    device = torch.device(device or "cpu")
    g = torch.Generator().manual_seed(cfg.seed)
    mean, std = flat.mean(0), flat.std(0).clamp_min(1e-6)
    x_all = ((flat - mean) / std).to(device)  # (B, P)
    widths = [spec.num_params, *cfg.hidden, cfg.dim]
    enc, dec = _stack(widths).to(device), _stack(widths[::-1]).to(device)
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    m_d, s_d = mean.to(device), std.to(device)
    losses = []
    for _ in tqdm(range(cfg.steps), desc="latent codec", disable=not progress):
        x = x_all[torch.randint(0, len(x_all), (min(cfg.batch_size, len(x_all)),), generator=g).to(device)]
        z = enc(x + cfg.input_noise * torch.randn(x.shape, generator=g).to(device))
        x_hat = dec(z + cfg.latent_noise * torch.randn(z.shape, generator=g).to(device))
        coords = (torch.rand(cfg.points, spec.in_dim, generator=g) * 2 - 1).to(device)
        f_hat = siren_forward(spec, x_hat * s_d + m_d, coords)  # (b, N, C)
        with torch.no_grad():
            f = siren_forward(spec, x * s_d + m_d, coords)
        loss = (f_hat - f).pow(2).mean() + cfg.weight_loss * (x_hat - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    with torch.no_grad():
        codes = torch.cat([enc(x_all[i:i + 1024]) for i in range(0, len(x_all), 1024)]).cpu()
    codec = LatentCodec(mean, std, _layers(enc.cpu()), _layers(dec.cpu()), codes.mean(0),
                        codes.std(0).clamp_min(1e-6))
    return codec, losses
