"""Stage-2 denoisers: networks only. They map (x_t, t, condition) → (B, P) and never see the noise schedule
(diffusion.py owns it, as in DiT, and turns the output into x̂0). Two architectures behind one interface:

- `WeightTransformer`, the paper's kind (EQUIGEN §4.3, after HyperDiffusion / G.pt): one token per neuron (its incoming
  row and bias), per-layer linear encoders / decoders, layer + position embeddings, self-attention over the tokens and
  cross-attention to condition tokens; time enters through adaLN modulation.
- `ResidualMLP`: the flat weight vector through residual MLP blocks with adaLN (FiLM) conditioning on time + condition.
  At CPU scale it trained far better (docs/RESULTS.md: in 300 s on 2 cores the 4 × 128 token transformer ran ~12×
  fewer steps and stayed near noise, while the MLP drew recognisable digits), so the `cpu` preset uses it.

Conditioning: `cond` (B, F) are normalised encoder features ψ̃; rows where `cond_mask` is False use a learned null
embedding instead (condition dropout in training, classifier-free guidance at sampling).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from equigen_core.weightspace.inr import SirenSpec


@dataclass(frozen=True)
class DenoiserConfig:
    arch: Literal["mlp", "transformer"] = "mlp"
    width: int = 1024  # D: hidden width (MLP) or token width (transformer)
    depth: int = 4  # residual blocks / transformer layers
    heads: int = 8  # transformer only
    cond_tokens: int = 4  # transformer only: the condition is projected to this many tokens
    cond_dim: int = 128  # F: encoder feature size
    emb_dim: int = 256  # time + condition embedding that drives the adaLN modulations
    dropout: float = 0.0
    data_dim: int = 0  # MLP only: size of the diffused vector when it is not the INR's P weights (0: P); the
    #                    principal-subspace space (train.DiffusionTrainConfig.space = "pca") sets it to k

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, DenoiserConfig] = {
    "tiny": DenoiserConfig(arch="mlp", width=64, depth=2, emb_dim=32),  # tests
    "tiny-transformer": DenoiserConfig(arch="transformer", width=32, depth=1, heads=2, cond_tokens=2, emb_dim=32),
    "cpu": DenoiserConfig(arch="mlp", width=512, depth=4, emb_dim=128),  # the shipped CPU models (4.4M weights)
    "cpu-transformer": DenoiserConfig(arch="transformer", width=128, depth=4, heads=4),  # the measured alternative
    "cpu3d": DenoiserConfig(arch="mlp", width=256, depth=4, emb_dim=128),  # 3D occupancy INRs (P = 8,641)
    "paper": DenoiserConfig(arch="transformer", width=2048, depth=12, heads=16, cond_tokens=8,
                            emb_dim=2048),  # ≈ official scale
}


def get_preset(name: str) -> DenoiserConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown denoiser preset {name!r}; expected one of {list(PRESETS)}")
    return PRESETS[name]


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal embedding of (B,) timesteps → (B, dim) (Vaswani et al. 2017; DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ConditionEmbedding(nn.Module):
    """(t, cond, cond_mask) → (B, D): time MLP + condition MLP (or the learned null condition)."""

    def __init__(self, cond_dim: int, width: int):
        super().__init__()
        self.width = width
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.cond = nn.Sequential(nn.Linear(cond_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.null = nn.Parameter(torch.zeros(width))
        self.act = nn.SiLU()

    def forward(self, t: Tensor, cond: Tensor | None, cond_mask: Tensor | None) -> Tensor:
        emb = self.time(timestep_embedding(t, self.width))
        if cond is None:
            return self.act(emb + self.null)
        c = self.cond(cond)
        if cond_mask is not None:
            c = torch.where(cond_mask[:, None], c, self.null.expand_as(c))
        return self.act(emb + c)


class AdaLNBlock(nn.Module):
    """x + gate · MLP(LN(x) · (1 + scale) + shift), with (shift, scale, gate) from the embedding (DiT's adaLN-Zero)."""

    def __init__(self, width: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Dropout(dropout), nn.Linear(width, width))
        self.mod = nn.Linear(emb_dim, 3 * width)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        shift, scale, gate = self.mod(emb).chunk(3, dim=-1)  # (B, D) each
        return x + gate * self.mlp(self.norm(x) * (1 + scale) + shift)


# ----------------------------------------------------------------------------------------------------------------------
# The flat residual MLP


class ResidualMLP(nn.Module):
    """x_t (B, P) → (B, P); or (B, k) → (B, k) in the principal subspace (cfg.data_dim = k)."""

    def __init__(self, spec: SirenSpec, cfg: DenoiserConfig):
        super().__init__()
        self.spec, self.cfg = spec, cfg
        self.embed = ConditionEmbedding(cfg.cond_dim, cfg.emb_dim)
        dim = cfg.data_dim or spec.num_params  # P, or k principal coordinates
        self.inp = nn.Linear(dim, cfg.width)
        self.blocks = nn.ModuleList(AdaLNBlock(cfg.width, cfg.emb_dim, cfg.dropout) for _ in range(cfg.depth))
        self.out_norm = nn.LayerNorm(cfg.width, elementwise_affine=False)
        self.out = nn.Linear(cfg.width, dim)
        # a time/condition-dependent per-entry scale of x_t: the D-wide trunk can only correct a D-dimensional subspace
        # of the P weights (D < P), so noise outside it needs its own path (a learned diagonal shrinkage per entry)
        self.diag = nn.Linear(cfg.emb_dim, dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        for blk in self.blocks:  # adaLN-Zero: every block starts as the identity
            nn.init.zeros_(blk.mod.weight)
            nn.init.zeros_(blk.mod.bias)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        nn.init.zeros_(self.diag.weight)
        nn.init.zeros_(self.diag.bias)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None, cond_mask: Tensor | None = None) -> Tensor:
        emb = self.embed(t, cond, cond_mask)  # (B, E)
        h = self.inp(x)  # (B, D)
        for blk in self.blocks:
            h = blk(h, emb)
        return self.out(self.out_norm(h)) + self.diag(emb) * x  # (B, P)


# ----------------------------------------------------------------------------------------------------------------------
# The weight-token transformer (the paper's kind)


class TokenBlock(nn.Module):
    """Self-attention over weight tokens, cross-attention to condition tokens, MLP; adaLN-modulated by time."""

    def __init__(self, width: int, heads: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.n1 = nn.LayerNorm(width, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.n2 = nn.LayerNorm(width)
        self.cross = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.n3 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.mod = nn.Linear(emb_dim, 6 * width)

    def forward(self, x: Tensor, cond_tokens: Tensor, emb: Tensor) -> Tensor:
        s1, c1, g1, s2, c2, g2 = self.mod(emb)[:, None].chunk(6, dim=-1)  # (B, 1, D) each
        h = self.n1(x) * (1 + c1) + s1
        x = x + g1 * self.attn(h, h, h, need_weights=False)[0]
        x = x + self.cross(self.n2(x), cond_tokens, cond_tokens, need_weights=False)[0]
        return x + g2 * self.mlp(self.n3(x) * (1 + c2) + s2)


class WeightTransformer(nn.Module):
    """x_t (B, P) → (B, P) through one token per neuron: token (l, j) = [W_l[j, :], b_l[j]]."""

    def __init__(self, spec: SirenSpec, cfg: DenoiserConfig):
        super().__init__()
        if cfg.data_dim and cfg.data_dim != spec.num_params:
            raise ValueError(f"the weight-token transformer reads INR weights by neuron and cannot diffuse a "
                             f"{cfg.data_dim}-d vector; use arch='mlp' with space='pca', or space='weights'")
        self.spec, self.cfg = spec, cfg
        D = cfg.width
        self.embed = ConditionEmbedding(cfg.cond_dim, cfg.emb_dim)
        self.enc = nn.ModuleList(nn.Linear(i + 1, D) for o, i in spec.layer_shapes)  # per-layer token encoders
        self.dec = nn.ModuleList(nn.Linear(D, i + 1) for o, i in spec.layer_shapes)
        n_tokens = sum(o for o, _ in spec.layer_shapes)
        self.pos = nn.Parameter(torch.randn(1, n_tokens, D) * 0.02)  # position (neuron index) embedding
        self.layer_emb = nn.Parameter(torch.randn(spec.num_layers, D) * 0.02)
        self.cond_proj = nn.Linear(cfg.cond_dim, cfg.cond_tokens * D)
        self.null_cond = nn.Parameter(torch.zeros(cfg.cond_tokens, D))
        self.blocks = nn.ModuleList(TokenBlock(D, cfg.heads, cfg.emb_dim, cfg.dropout) for _ in range(cfg.depth))
        self.out_norm = nn.LayerNorm(D, elementwise_affine=False)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        for blk in self.blocks:
            nn.init.zeros_(blk.mod.weight)
            nn.init.zeros_(blk.mod.bias)
        for d in self.dec:
            nn.init.zeros_(d.weight)
            nn.init.zeros_(d.bias)

    def tokens(self, x: Tensor) -> Tensor:
        """(B, P) → (B, N, D) neuron tokens with layer embeddings."""
        out = []
        for l, ((o, i), (s, m, e)) in enumerate(zip(self.spec.layer_shapes, self.spec.offsets())):
            rows = torch.cat([x[:, s:m].reshape(-1, o, i), x[:, m:e].unsqueeze(-1)], dim=-1)  # (B, o, i+1)
            out.append(self.enc[l](rows) + self.layer_emb[l])
        return torch.cat(out, dim=1) + self.pos

    def untokens(self, h: Tensor) -> Tensor:
        """(B, N, D) → (B, P)."""
        parts, pos = [], 0
        for l, (o, i) in enumerate(self.spec.layer_shapes):
            rows = self.dec[l](h[:, pos : pos + o])  # (B, o, i+1)
            parts += [rows[..., :i].reshape(h.shape[0], -1), rows[..., i]]
            pos += o
        return torch.cat(parts, dim=1)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None, cond_mask: Tensor | None = None) -> Tensor:
        b = x.shape[0]
        emb = self.embed(t, None, None)  # time only; the condition enters through cross-attention
        if cond is None:
            ctok = self.null_cond.expand(b, -1, -1)
        else:
            ctok = self.cond_proj(cond).view(b, self.cfg.cond_tokens, -1)  # (B, M, D)
            if cond_mask is not None:
                ctok = torch.where(cond_mask[:, None, None], ctok, self.null_cond.expand_as(ctok))
        h = self.tokens(x)
        for blk in self.blocks:
            h = blk(h, ctok, emb)
        return self.untokens(self.out_norm(h))


def build_denoiser(spec: SirenSpec, cfg: DenoiserConfig) -> nn.Module:
    if cfg.arch == "mlp":
        return ResidualMLP(spec, cfg)
    if cfg.arch == "transformer":
        return WeightTransformer(spec, cfg)
    raise ValueError(f"unknown denoiser arch {cfg.arch!r}; expected 'mlp' or 'transformer'")
