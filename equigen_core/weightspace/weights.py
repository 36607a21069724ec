"""Weight space of SIREN INRs: a typed container, its symmetries, normalisation statistics and state-dict converters.

Symmetries (each leaves the rendered function unchanged):
- hidden-neuron permutation of layer l: W_l → P W_l, b_l → P b_l, W_{l+1} → W_{l+1} Pᵀ (any point-wise activation);
- sign flip of a hidden neuron: its incoming row, bias and outgoing column change sign (sin is odd: sin(-z) = -sin z).
Input coordinates and output channels are never permuted.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from equigen_core.storage.atomic import atomic_write_bytes
from equigen_core.weightspace.inr import SirenSpec, unflatten
from equigen_core.weightspace.latent import LatentCodec


@dataclass(frozen=True)
class WeightSpace:
    """B INRs of one spec as per-layer tensors: weights[i] (B, d_out, d_in), biases[i] (B, d_out)."""

    spec: SirenSpec
    weights: tuple[Tensor, ...]
    biases: tuple[Tensor, ...]

    # -- construction / conversion ------------------------------------------------------------------------------------
    @classmethod
    def from_flat(cls, spec: SirenSpec, flat: Tensor) -> "WeightSpace":
        """(B, P) → WeightSpace (copies, so in-place edits never alias the input)."""
        ws, bs = unflatten(spec, flat)
        return cls(spec, tuple(w.clone() for w in ws), tuple(b.clone() for b in bs))

    def to_flat(self) -> Tensor:
        """→ (B, P) in the layout [W_0, b_0, W_1, b_1, ...]."""
        parts = []
        for w, b in zip(self.weights, self.biases):
            parts += [w.reshape(w.shape[0], -1), b]
        return torch.cat(parts, dim=1)

    @property
    def batch(self) -> int:
        return self.weights[0].shape[0]

    def map(self, fn) -> "WeightSpace":
        """Apply `fn` to every tensor (e.g. `lambda t: t.to(device)`)."""
        return WeightSpace(self.spec, tuple(fn(w) for w in self.weights), tuple(fn(b) for b in self.biases))

    # -- symmetries ---------------------------------------------------------------------------------------------------
    def permute(self, perms: list[Tensor]) -> "WeightSpace":
        """Permute hidden neurons: perms[l] (B, N_l) is the new order of hidden layer l (new neuron j = old perms[l][j]).

        Works on weights (B, d_out, d_in, *C) and biases (B, d_out, *C) with any trailing channel dims, so encoder
        feature maps are permuted with the same code as raw weights.
        """
        if len(perms) != len(self.spec.hidden):
            raise ValueError(f"need one permutation per hidden layer ({len(self.spec.hidden)}), got {len(perms)}")
        ws, bs = list(self.weights), list(self.biases)
        for l, p in enumerate(perms):  # hidden layer l is the output of linear layer l and the input of layer l+1
            if p.shape != (self.batch, self.spec.hidden[l]):
                raise ValueError(f"permutation {l} has shape {tuple(p.shape)}, expected {(self.batch, self.spec.hidden[l])}")
            ws[l] = _gather(ws[l], 1, p)  # rows of W_l
            bs[l] = _gather(bs[l], 1, p)
            ws[l + 1] = _gather(ws[l + 1], 2, p)  # columns of W_{l+1}
        return WeightSpace(self.spec, tuple(ws), tuple(bs))

    def flip_signs(self, signs: list[Tensor]) -> "WeightSpace":
        """Multiply hidden neuron j of layer l by signs[l] (B, N_l) ∈ {±1}: its row, bias and outgoing column."""
        ws, bs = list(self.weights), list(self.biases)
        for l, s in enumerate(signs):
            ws[l] = ws[l] * s.unsqueeze(2)
            bs[l] = bs[l] * s
            ws[l + 1] = ws[l + 1] * s.unsqueeze(1)
        return WeightSpace(self.spec, tuple(ws), tuple(bs))


def _gather(t: Tensor, dim: int, p: Tensor) -> Tensor:
    """Reorder axis `dim` of t (B, ...) by p (B, n), broadcasting p over every other axis."""
    shape = [1] * t.dim()
    shape[0], shape[dim] = p.shape
    return torch.gather(t, dim, p.view(shape).expand(*t.shape[:dim], p.shape[1], *t.shape[dim + 1:]))


def random_permutations(spec: SirenSpec, batch: int, *, generator: torch.Generator | None = None,
                        device=None) -> list[Tensor]:
    """One uniformly random permutation per INR and hidden layer → [(B, N_l)]."""
    return [torch.rand(batch, n, generator=generator).argsort(dim=1).to(device) for n in spec.hidden]


def random_signs(spec: SirenSpec, batch: int, *, generator: torch.Generator | None = None, p: float = 0.5,
                 device=None) -> list[Tensor]:
    """Random ±1 per hidden neuron, -1 with probability p → [(B, N_l)]."""
    return [torch.where(torch.rand(batch, n, generator=generator) < p, -1.0, 1.0).to(device) for n in spec.hidden]


# ----------------------------------------------------------------------------------------------------------------------
# Normalisation statistics


@dataclass(frozen=True)
class NormStats:
    """Per-entry mean / std of a zoo's flat weights (P,), computed once and stored with the checkpoint."""

    mean: Tensor  # (P,)
    std: Tensor  # (P,)

    @classmethod
    def fit(cls, flat: Tensor, eps: float = 1e-6) -> "NormStats":
        return cls(flat.mean(0), flat.std(0).clamp_min(eps))

    def normalize(self, flat: Tensor) -> Tensor:
        return (flat - self.mean.to(flat)) / self.std.to(flat)

    def denormalize(self, z: Tensor) -> Tensor:
        return z * self.std.to(z) + self.mean.to(z)

    def tensors(self, prefix: str = "norm.") -> dict[str, Tensor]:
        return {f"{prefix}mean": self.mean.contiguous(), f"{prefix}std": self.std.contiguous()}

    @property
    def dim(self) -> int:
        """Size of the normalised vector (the diffusion model's data dimension): P."""
        return self.mean.numel()

    @classmethod
    def from_tensors(cls, t: dict[str, Tensor], prefix: str = "norm.") -> "NormStats":
        return cls(t[f"{prefix}mean"], t[f"{prefix}std"])


@dataclass(frozen=True)
class PCAStats:
    """The zoo's principal subspace as the diffusion model's data space (`--space pca`, our addition):
    z = ((w − mean) / std) V_kᵀ / s — per-entry standardised weights projected on the top-k principal directions
    V_k (k, P) and whitened by their singular scales s (k,), so every coordinate has unit variance over the zoo.
    denormalize maps any z (B, k) back to valid INR weights (B, P) inside that subspace: a sample cannot carry the
    fine, idiosyncratic directions outside it, which is where a denoiser trained on a few thousand INRs errs (and
    where its errors show as background speckle). k = 256 of P = 1,185 for MNIST SIRENs (docs/RESULTS.md)."""

    mean: Tensor  # (P,)
    std: Tensor  # (P,)
    components: Tensor  # (k, P) orthonormal rows
    scale: Tensor  # (k,) std of each coordinate over the zoo

    @classmethod
    def fit(cls, flat: Tensor, k: int = 256, eps: float = 1e-6) -> "PCAStats":
        """Top-k principal directions of (B, P) weights (per-entry standardised first); k ≤ min(B, P)."""
        b, p = flat.shape
        if not 1 <= k <= min(b, p):
            raise ValueError(f"PCA dimension k={k} must be in [1, min(B={b}, P={p})]")
        mean, std = flat.mean(0), flat.std(0).clamp_min(eps)
        x = ((flat - mean) / std).double()  # (B, P)
        _, sv, vh = torch.linalg.svd(x, full_matrices=False)  # vh (min(B,P), P)
        # only directions the zoo actually spans: whitening a (numerically) zero-variance direction would blow any
        # INR outside the zoo up by 1/eps along it (B centred INRs span at most B − 1 directions)
        k = max(1, min(k, int((sv > sv[0] * 1e-5).sum())))
        scale = (sv[:k] / max(1, b - 1) ** 0.5).clamp_min(eps)
        return cls(mean, std, vh[:k].float().contiguous(), scale.float())

    @property
    def dim(self) -> int:
        return self.components.shape[0]

    def normalize(self, flat: Tensor) -> Tensor:
        """(B, P) weights → (B, k) whitened principal coordinates."""
        x = (flat - self.mean.to(flat)) / self.std.to(flat)
        return x @ self.components.to(flat).t() / self.scale.to(flat)

    def denormalize(self, z: Tensor) -> Tensor:
        """(B, k) → (B, P) weights in the principal subspace."""
        return (z * self.scale.to(z)) @ self.components.to(z) * self.std.to(z) + self.mean.to(z)

    def project(self, flat: Tensor) -> Tensor:
        """Weights (B, P) → their projection onto the subspace (B, P)."""
        return self.denormalize(self.normalize(flat))

    def tensors(self, prefix: str = "norm.") -> dict[str, Tensor]:
        return {f"{prefix}mean": self.mean.contiguous(), f"{prefix}std": self.std.contiguous(),
                f"{prefix}components": self.components.contiguous(), f"{prefix}scale": self.scale.contiguous()}

    @classmethod
    def from_tensors(cls, t: dict[str, Tensor], prefix: str = "norm.") -> "PCAStats":
        return cls(t[f"{prefix}mean"], t[f"{prefix}std"], t[f"{prefix}components"], t[f"{prefix}scale"])


def codec_from_tensors(t: dict[str, Tensor], prefix: str = "norm."):
    """The weight codec stored in a checkpoint: latent.LatentCodec when it has code statistics, PCAStats when it has
    principal components, else NormStats."""
    if f"{prefix}zmean" in t:
        return LatentCodec.from_tensors(t, prefix)
    return (PCAStats if f"{prefix}components" in t else NormStats).from_tensors(t, prefix)


# ----------------------------------------------------------------------------------------------------------------------
# The common SIREN state-dict layout: seq.{i}.weight (d_out, d_in), seq.{i}.bias (d_out)
# Key-order assumption: layer i of the dict is linear layer i of the SIREN, in increasing i; nothing else is read.


def flat_to_state_dict(spec: SirenSpec, flat: Tensor) -> dict[str, Tensor]:
    """One INR (P,) → {'seq.{i}.weight', 'seq.{i}.bias'}."""
    ws, bs = unflatten(spec, flat.reshape(1, -1))
    out = {}
    for i, (w, b) in enumerate(zip(ws, bs)):
        out[f"seq.{i}.weight"] = w[0].clone()
        out[f"seq.{i}.bias"] = b[0].clone()
    return out


def state_dict_to_flat(spec: SirenSpec, sd: dict[str, Tensor], *, source: str = "state dict") -> Tensor:
    """{'seq.{i}.weight', 'seq.{i}.bias'} → (P,), checking every name and shape against `spec`."""
    parts = []
    for i, (o, d) in enumerate(spec.layer_shapes):
        for name, shape in ((f"seq.{i}.weight", (o, d)), (f"seq.{i}.bias", (o,))):
            if name not in sd:
                raise ValueError(f"{source}: missing {name!r}; keys are {sorted(sd)[:8]}... (expected seq.{{i}}.weight/bias)")
            t = sd[name]
            if tuple(t.shape) != shape:
                raise ValueError(f"{source}: {name} has shape {tuple(t.shape)}, the spec {spec} needs {shape}")
            parts.append(t.detach().float().reshape(-1))
    known = {f"seq.{i}.{n}" for i in range(spec.num_layers) for n in ("weight", "bias")}
    extra = [k for k in sd if k not in known]
    if extra:
        raise ValueError(f"{source}: unexpected keys {extra[:5]} for a {spec.num_layers}-layer SIREN")
    return torch.cat(parts)


def save_siren_state_dict(path: str | Path, spec: SirenSpec, flat: Tensor) -> Path:
    """One INR (P,) → a torch.save'd state dict {'seq.{i}.weight' (out, in), 'seq.{i}.bias' (out,)}: the layout of the
    DWSNets / EquiGen INR sets (a SIREN `nn.Sequential` of Linear layers). Read it back with load_siren_state_dict
    (weights only) or `model.load_state_dict` on such a network."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(flat_to_state_dict(spec, flat), buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_siren_state_dict(path: str | Path, spec: SirenSpec) -> Tensor:
    """Read a SIREN saved with torch.save(state_dict) (weights only; nothing else is unpickled) → (P,)."""
    path = Path(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path}: not a readable weights-only torch file ({e.__class__.__name__}: {e})") from e
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(sd).__name__}")
    sd = {k.removeprefix("model."): v for k, v in sd.items()}
    return state_dict_to_flat(spec, sd, source=str(path))


def spec_json(spec: SirenSpec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True)
