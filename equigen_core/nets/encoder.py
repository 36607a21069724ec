"""Stage 1: a permutation-equivariant encoder of SIREN weights, pooled to an invariant feature ψ (EQUIGEN §4.2).

Layer choice: NFN-style "NP" layers (Zhou et al. 2023), in a reduced form we chose for CPU cost. Every weight entry
W_l[j, k] and bias b_l[j] carries C channels. A layer maps them to C' channels by summing
- a per-entry channel map of the entry itself,
- maps of the features of its output neuron j (row mean of W_l, the bias b_l[j], column mean of W_{l+1}),
- maps of the features of its input neuron k (column mean of W_l, row mean of W_{l-1}, the bias b_{l-1}[k]),
- a map of global features (means of every layer's weights and biases).
Each term transforms like the entry it is added to under any hidden-neuron permutation, so the layer is exactly
equivariant; the cost is linear in the number of weights (no pairwise terms). DWSNets' blocks are more expressive but
need many more maps per layer pair; for 1k-parameter SIRENs the reduced NP layer is enough and much cheaper.
Invariant pooling takes means over permuted axes only (input coordinates and output channels are not permuted, so
they are kept as positions), then an MLP gives the 128-d feature ψ; a projection head serves the SimCLR loss.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from equigen_core.weightspace.inr import SirenSpec, make_grid, siren_forward
from equigen_core.weightspace.weights import WeightSpace


@dataclass(frozen=True)
class EncoderConfig:
    channels: int = 16  # channels per weight entry (16: 0.13 s per 256-view step on 2 cores; 32: 0.48 s)
    n_layers: int = 4  # equivariant layers (paper: 4)
    feature_dim: int = 128  # ψ dimension (paper: 128)
    proj_dim: int = 64  # SimCLR projection head output
    # our addition: append the INR's own values on a fixed probe_res^in_dim grid to ψ (0: off, the paper's encoder).
    # Function values are exactly invariant to every weight symmetry; they carry the class information the
    # contrastive features lack (docs/RESULTS.md), and through L_eq they add a function-space term to the loss.
    probe_res: int = 0
    # our addition: feed the probe values into the head too, so the contrastive features ψ_learned are computed from
    # the function as well as from the weights' equivariant features (still exactly invariant: both inputs are)
    probe_in_head: bool = False
    # our addition: rescale ψ_learned to the probe's mean norm over the zoo (a direction, at a fixed length), so
    # neither part of ψ = [ψ_learned, probe] dominates distances in it — kNN, L_eq and guidance alike
    balance: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


# Named sizes for the CLI's `train all` and the app's Train tab. Both ship ψ = [ψ_learned, 14×14 probe] with the
# probe also read by the head and the two parts balanced (docs/RESULTS.md, "Encoder"); "paper" is the paper's encoder.
PRESETS: dict[str, EncoderConfig] = {
    "tiny": EncoderConfig(channels=4, probe_res=7, probe_in_head=True, balance=True),  # tests and quick demos
    "cpu": EncoderConfig(channels=16, probe_res=14, probe_in_head=True, balance=True),  # the shipped 2D encoder
    "paper": EncoderConfig(channels=16),  # learned features only (EQUIGEN §4.2)
}


def get_preset(name: str) -> EncoderConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown encoder preset {name!r}; expected one of {list(PRESETS)}")
    return PRESETS[name]


class NPLayer(nn.Module):
    """One equivariant layer: WeightSpace features with C_in channels → C_out channels (channel-last tensors:
    weights[l] (B, n_out, n_in, C), biases[l] (B, n_out, C))."""

    def __init__(self, spec: SirenSpec, c_in: int, c_out: int):
        super().__init__()
        L = spec.num_layers
        self.L = L
        n_row = [3 if l < L - 1 else 2 for l in range(L)]  # out-neuron features: row mean, bias, next col mean
        n_col = [1 if l == 0 else 3 for l in range(L)]  # in-neuron features: col mean, prev row mean, prev bias
        self.w_self = nn.ModuleList(nn.Linear(c_in, c_out) for _ in range(L))
        self.w_row = nn.ModuleList(nn.Linear(k * c_in, c_out, bias=False) for k in n_row)
        self.w_col = nn.ModuleList(nn.Linear(k * c_in, c_out, bias=False) for k in n_col)
        self.w_glob = nn.ModuleList(nn.Linear(2 * L * c_in, c_out, bias=False) for _ in range(L))
        self.b_self = nn.ModuleList(nn.Linear(c_in, c_out) for _ in range(L))
        self.b_row = nn.ModuleList(nn.Linear(k * c_in, c_out, bias=False) for k in n_row)
        self.b_glob = nn.ModuleList(nn.Linear(2 * L * c_in, c_out, bias=False) for _ in range(L))

    def forward(self, x: WeightSpace) -> WeightSpace:
        W, b, L = x.weights, x.biases, self.L
        row_mean = [w.mean(2) for w in W]  # (B, n_out, C): one per output neuron
        col_mean = [w.mean(1) for w in W]  # (B, n_in, C): one per input neuron
        glob = torch.cat([w.mean((1, 2)) for w in W] + [bb.mean(1) for bb in b], dim=-1)  # (B, 2L·C)
        new_w, new_b = [], []
        for l in range(L):
            rows = [row_mean[l], b[l]] + ([col_mean[l + 1]] if l < L - 1 else [])
            rows = torch.cat(rows, dim=-1)  # (B, n_out, k·C): features of output neuron j
            cols = [col_mean[l]] + ([row_mean[l - 1], b[l - 1]] if l > 0 else [])
            cols = torch.cat(cols, dim=-1)  # (B, n_in, k·C): features of input neuron k
            g = glob[:, None, None, :]
            new_w.append(self.w_self[l](W[l]) + self.w_row[l](rows)[:, :, None] + self.w_col[l](cols)[:, None]
                         + self.w_glob[l](g))  # (B, n_out, n_in, C')
            new_b.append(self.b_self[l](b[l]) + self.b_row[l](rows) + self.b_glob[l](glob)[:, None])  # (B, n_out, C')
        return WeightSpace(x.spec, tuple(new_w), tuple(new_b))


def _relu(x: WeightSpace) -> WeightSpace:
    return x.map(F.relu)


class InvariantPool(nn.Module):
    """Mean over permuted axes only → (B, pooled_dim)."""

    def __init__(self, spec: SirenSpec, c: int):
        super().__init__()
        L = spec.num_layers
        # per layer: W mean (C) and b mean (C); plus positional: W_0 col mean (in·C), W_{L-1} row mean (out·C), b_{L-1}
        self.out_dim = 2 * L * c + spec.in_dim * c + 2 * spec.out_dim * c

    def forward(self, x: WeightSpace) -> Tensor:
        W, b = x.weights, x.biases
        parts = [w.mean((1, 2)) for w in W] + [bb.mean(1) for bb in b]
        parts += [W[0].mean(1).flatten(1), W[-1].mean(2).flatten(1), b[-1].flatten(1)]
        return torch.cat(parts, dim=-1)


class WeightEncoder(nn.Module):
    """Flat SIREN weights (B, P) → invariant features ψ (B, feature_dim); `project` gives the SimCLR head output."""

    def __init__(self, spec: SirenSpec, cfg: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.spec, self.cfg = spec, cfg
        c = cfg.channels
        self.layers = nn.ModuleList(NPLayer(spec, 1 if i == 0 else c, c) for i in range(cfg.n_layers))
        self.pool = InvariantPool(spec, c)
        # BatchNorm on the pooled (already invariant) features removes what all INRs share (e.g. a common init),
        # which otherwise dominates and collapses the contrastive loss at ln(2B-1); as in SimCLR's heads.
        if (cfg.probe_in_head or cfg.balance) and not cfg.probe_res:
            raise ValueError("EncoderConfig(probe_in_head=True or balance=True) needs a probe: set probe_res > 0")
        head_in = self.pool.out_dim + (self.probe_dim if cfg.probe_in_head else 0)
        self.head = nn.Sequential(nn.BatchNorm1d(head_in), nn.Linear(head_in, 256),
                                  nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, cfg.feature_dim))
        self.proj = nn.Sequential(nn.BatchNorm1d(cfg.feature_dim), nn.ReLU(),
                                  nn.Linear(cfg.feature_dim, cfg.feature_dim), nn.BatchNorm1d(cfg.feature_dim),
                                  nn.ReLU(), nn.Linear(cfg.feature_dim, cfg.proj_dim))
        # per-layer input scaling (a permutation-invariant normalisation): 1 / std of each W_l and b_l over a zoo
        self.register_buffer("in_scale", torch.ones(2 * spec.num_layers))
        if cfg.balance:  # the length ψ_learned is scaled to: the probe's mean norm (set_input_scale)
            self.register_buffer("probe_norm", torch.ones(()))

    @torch.no_grad()
    def set_input_scale(self, flat: Tensor) -> None:
        """Set per-layer scales from a zoo sample (B, P), so every layer enters with unit std."""
        ws = WeightSpace.from_flat(self.spec, flat)
        # one scale per layer for W_l and b_l together: a lone output bias has a tiny spread and must not be blown up
        stds = [torch.cat([w.flatten(), b.flatten()]).std() for w, b in zip(ws.weights, ws.biases)]
        self.in_scale.copy_(1.0 / torch.stack(stds + stds).clamp_min(1e-6))
        if self.cfg.balance:
            self.probe_norm.copy_(self.probe(flat).norm(dim=1).mean())

    def equivariant_features(self, flat: Tensor) -> WeightSpace:
        """(B, P) → channel-last equivariant feature maps after the NP layers."""
        ws = WeightSpace.from_flat(self.spec, flat)
        L = self.spec.num_layers
        x = WeightSpace(self.spec, tuple((w * self.in_scale[l]).unsqueeze(-1) for l, w in enumerate(ws.weights)),
                        tuple((bb * self.in_scale[L + l]).unsqueeze(-1) for l, bb in enumerate(ws.biases)))
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = _relu(x)
        return x

    @property
    def probe_dim(self) -> int:
        """Number of probe values: probe_res^in_dim · out_dim (0 without a probe)."""
        return (self.cfg.probe_res ** self.spec.in_dim) * self.spec.out_dim if self.cfg.probe_res else 0

    @property
    def out_dim(self) -> int:
        """Size of ψ: the learned features plus the probe values (if any)."""
        return self.cfg.feature_dim + self.probe_dim

    def probe(self, flat: Tensor) -> Tensor:
        """The INR's outputs on the fixed probe grid: (B, P) → (B, probe_res^in_dim · out_dim); no parameters."""
        coords = make_grid(self.cfg.probe_res, self.spec.in_dim, device=flat.device)
        return siren_forward(self.spec, flat, coords).flatten(1)

    def forward(self, flat: Tensor, *, project: bool = False) -> Tensor:
        """ψ = E(w): (B, P) → (B, out_dim), invariant to hidden-neuron permutations.
        With project=True returns the SimCLR head output (B, proj_dim) instead (one call, so DDP sees one forward);
        the probe values are not part of it (they have nothing to learn)."""
        pooled = self.pool(self.equivariant_features(flat))  # (B, pooled_dim)
        probe = self.probe(flat) if self.cfg.probe_res else None  # (B, probe_dim)
        psi = self.head(torch.cat([pooled, probe], dim=1) if self.cfg.probe_in_head else pooled)  # (B, feature_dim)
        if project:
            return self.proj(psi)
        if self.cfg.balance:
            psi = F.normalize(psi, dim=1) * self.probe_norm
        return torch.cat([psi, probe], dim=1) if probe is not None else psi


class ProbeCondition(nn.Module):
    """The function part of a WeightEncoder's ψ as the diffusion model's condition (DiffusionConfig.condition =
    "probe", our addition): (B, P) → the INR's values on the probe grid (B, probe_dim). Exactly invariant to every
    weight symmetry, and it describes an unseen class as well as a seen one — the learned part of ψ, trained to
    separate the base classes, pulled samples of the held-out class toward them (docs/RESULTS.md). `.encoder` is the
    full encoder (kNN, t-SNE)."""

    def __init__(self, encoder: WeightEncoder):
        super().__init__()
        if not encoder.cfg.probe_res:
            raise ValueError("condition='probe' needs an encoder with a probe (EncoderConfig.probe_res > 0)")
        self.encoder = encoder
        self.spec, self.cfg, self.out_dim = encoder.spec, encoder.cfg, encoder.probe_dim

    def forward(self, flat: Tensor) -> Tensor:
        return self.encoder.probe(flat)


def condition_encoder(encoder: nn.Module, condition: Literal["features", "probe"]) -> nn.Module:
    """What the diffusion model is conditioned on: "features" (the whole ψ) or "probe" (its function part)."""
    if condition == "features":
        return encoder
    if condition == "probe":
        return encoder if isinstance(encoder, ProbeCondition) else ProbeCondition(encoder)
    raise ValueError(f"unknown condition {condition!r}; expected 'features' or 'probe'")


def sup_con(z1: Tensor, z2: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) on two views z1, z2 (B, D) with labels (B,): every other
    view of the same class is a positive. Our addition to stage 1, on base-class labels only (see train.py)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    y = torch.cat([labels, labels]).to(z.device)
    sim = z @ z.t() / temperature  # (2B, 2B)
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    log_prob = sim.masked_fill(eye, float("-inf")).log_softmax(dim=1)
    pos = (y[:, None] == y[None]) & ~eye  # (2B, 2B): each row has at least its own other view
    return -(log_prob.masked_fill(~pos, 0.0).sum(1) / pos.sum(1)).mean()


def info_nce(z1: Tensor, z2: Tensor, temperature: float = 0.1) -> Tensor:
    """SimCLR / NT-Xent loss (Chen et al. 2020) on two views z1, z2 (B, D): positives are (i, i+B) pairs."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    sim = z @ z.t() / temperature  # (2B, 2B)
    n = z1.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)
