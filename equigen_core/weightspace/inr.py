"""SIREN implicit neural representations, evaluated for many weight vectors at once.

An INR here is a SIREN (Sitzmann et al. 2020): hidden layers compute h' = sin(ω0 · (W h + b)), the last layer is linear,
and `out_offset` is added to the output (0.5 for images, so a zero network renders mid-grey). The weights of one INR are
one flat vector of length P, laid out layer by layer as [W_0 (row-major), b_0, W_1, b_1, ...]; `siren_forward` takes a
batch (B, P) of such vectors and evaluates all of them in one batched matmul per layer, with no Python loop over B.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class SirenSpec:
    """Architecture of one SIREN INR. Saved in every zoo / checkpoint so weights are never read with the wrong layout."""

    in_dim: int = 2  # coordinate dimension: 2 for images, 3 for shapes
    hidden: tuple[int, ...] = (32, 32)  # hidden widths; MNIST-INRs (DWSNets / EquiGen) use 2→32→32→1
    out_dim: int = 1  # output channels: 1 grey, 3 RGB, 1 occupancy logit
    omega0: float = 30.0  # SIREN frequency ω0, applied in every sine layer (Sitzmann et al. 2020, §3.2)
    out_offset: float = 0.5  # added to the linear output; 0.5 centres [0, 1] images

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.in_dim < 1 or self.out_dim < 1 or not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"invalid SirenSpec {self}: dimensions must be positive and there must be a hidden layer")

    @property
    def widths(self) -> tuple[int, ...]:
        """(in, hidden..., out): the neuron count of every layer, inputs included."""
        return (self.in_dim, *self.hidden, self.out_dim)

    @property
    def num_layers(self) -> int:
        """L, the number of linear layers."""
        return len(self.hidden) + 1

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """[(d_out, d_in)] of every weight matrix."""
        w = self.widths
        return [(w[i + 1], w[i]) for i in range(self.num_layers)]

    @property
    def num_params(self) -> int:
        """P, the flat length of one INR's weights."""
        return sum(o * i + o for o, i in self.layer_shapes)

    def offsets(self) -> list[tuple[int, int, int]]:
        """[(start of W_i, start of b_i, end of b_i)] in the flat vector."""
        out, pos = [], 0
        for o, i in self.layer_shapes:
            out.append((pos, pos + o * i, pos + o * i + o))
            pos += o * i + o
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SirenSpec":
        return cls(**{**d, "hidden": tuple(d["hidden"])})


PRESETS: dict[str, SirenSpec] = {
    "mnist": SirenSpec(in_dim=2, hidden=(32, 32), out_dim=1),  # 1,185 parameters
    "cifar": SirenSpec(in_dim=2, hidden=(64, 64, 64), out_dim=3),  # colour images
    # occupancy logits; ω0 = 5: with thousands (not hundreds of thousands) of labelled points per shape, ω0 = 30
    # memorises the points and is noise in between (IoU 0.02–0.12 at 32³ vs 0.77–0.98 for ω0 = 5; runs/exp/fit3d)
    "shape3d": SirenSpec(in_dim=3, hidden=(64, 64, 64), out_dim=1, omega0=5.0, out_offset=0.0),
}


def get_preset(name: str) -> SirenSpec:
    if name not in PRESETS:
        raise ValueError(f"unknown INR preset {name!r}; expected one of {list(PRESETS)}")
    return PRESETS[name]


# ----------------------------------------------------------------------------------------------------------------------
# Initialisation and forward


def siren_init(spec: SirenSpec, batch: int, *, generator: torch.Generator | None = None, shared: bool = False) -> Tensor:
    """SIREN initialisation (Sitzmann et al. 2020, §3.2) for B INRs → (B, P).

    First layer U(-1/d_in, 1/d_in); later layers U(-√(6/d_in)/ω0, √(6/d_in)/ω0); biases like their weights.
    With `shared=True` all B rows are the same draw (one shared initialisation, HyperDiffusion's alignment trick).
    """
    rows = 1 if shared else batch
    parts = []
    for li, (o, i) in enumerate(spec.layer_shapes):
        bound = 1.0 / i if li == 0 else math.sqrt(6.0 / i) / spec.omega0
        parts.append((torch.rand(rows, o * i + o, generator=generator) * 2 - 1) * bound)
    flat = torch.cat(parts, dim=1)  # (rows, P)
    return flat.expand(batch, -1).clone() if shared else flat


def unflatten(spec: SirenSpec, flat: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    """(B, P) → ([W_i (B, d_out, d_in)], [b_i (B, d_out)]) as views into `flat`."""
    if flat.shape[-1] != spec.num_params:
        raise ValueError(f"weights have {flat.shape[-1]} entries per INR but {spec} needs {spec.num_params}")
    ws, bs = [], []
    for (o, i), (s, m, e) in zip(spec.layer_shapes, spec.offsets()):
        ws.append(flat[:, s:m].reshape(-1, o, i))
        bs.append(flat[:, m:e])
    return ws, bs


def siren_forward(spec: SirenSpec, flat: Tensor, coords: Tensor) -> Tensor:
    """Evaluate B SIRENs at N coordinates.

    flat: (B, P) weights; coords: (N, in) shared by all INRs, or (B, N, in) per INR. Returns (B, N, out).
    One batched matmul per layer; ω0 is applied to the pre-activation, as in SIREN.
    """
    ws, bs = unflatten(spec, flat)
    if coords.dim() == 2:
        coords = coords.unsqueeze(0).expand(flat.shape[0], -1, -1)  # (B, N, in)
    h = coords
    for li, (w, b) in enumerate(zip(ws, bs)):
        z = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))  # (B, N, d_out)
        h = torch.sin(spec.omega0 * z) if li < spec.num_layers - 1 else z
    return h + spec.out_offset


def make_grid(res: int | tuple[int, ...], dim: int = 2, device=None) -> Tensor:
    """Pixel-centre coordinates in [-1, 1]^dim, row-major (y then x) → (N, dim) with coords[..., 0] = x."""
    if isinstance(res, int):
        res = (res,) * dim
    axes = [(torch.arange(r, device=device, dtype=torch.float32) + 0.5) / r * 2 - 1 for r in res]
    mesh = torch.meshgrid(*axes, indexing="ij")  # (y, x) for 2D; (z, y, x) for 3D
    return torch.stack(list(reversed(mesh)), dim=-1).reshape(-1, dim)  # x first


def render_images(spec: SirenSpec, flat: Tensor, res: int = 28, *, chunk: int = 1024, clamp: bool = True) -> Tensor:
    """Render B image INRs on a res×res grid → (B, C, res, res), clamped to [0, 1] by default."""
    coords = make_grid(res, 2, device=flat.device)
    outs = [siren_forward(spec, flat[i : i + chunk], coords) for i in range(0, flat.shape[0], chunk)]
    img = torch.cat(outs).reshape(flat.shape[0], res, res, spec.out_dim).permute(0, 3, 1, 2)  # (B, C, H, W)
    return img.clamp(0, 1) if clamp else img


def images_to_targets(images: Tensor) -> Tensor:
    """(B, C, H, W) images → (B, H·W, C) targets in `make_grid` order."""
    b, c, h, w = images.shape
    return images.permute(0, 2, 3, 1).reshape(b, h * w, c)


# ----------------------------------------------------------------------------------------------------------------------
# A plain per-INR module: the reference for tests and the common state-dict layout (seq.{i}.weight / seq.{i}.bias)


class SirenModule(nn.Module):
    """One SIREN as an ordinary nn.Module with layers `seq.{i}` (the DWSNets / EquiGen MNIST-INR state-dict layout)."""

    def __init__(self, spec: SirenSpec):
        super().__init__()
        self.spec = spec
        self.seq = nn.ModuleList(nn.Linear(i, o) for o, i in spec.layer_shapes)

    def forward(self, x: Tensor) -> Tensor:  # (N, in) → (N, out)
        for li, layer in enumerate(self.seq):
            x = layer(x)
            if li < len(self.seq) - 1:
                x = torch.sin(self.spec.omega0 * x)
        return x + self.spec.out_offset
