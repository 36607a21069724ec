"""What every training stage shares: the Accelerate setup (CPU, one GPU, or `accelerate launch` DDP), batched
encoding, the divergence error and the atomic save of the resumable training state.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import Tensor

from equigen_core.nets.encoder import WeightEncoder


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the run stopped and the last good checkpoint was left as it was."""


def make_accelerator(cpu: bool = False):
    """An Accelerator on CUDA when present (or the devices `accelerate launch` assigns), else CPU."""
    from accelerate import Accelerator

    return Accelerator(cpu=cpu or not torch.cuda.is_available())


@torch.no_grad()
def encode(encoder: WeightEncoder, flat: Tensor, chunk: int = 512) -> Tensor:
    """ψ for many INRs: (B, P) → (B, feature_dim), in eval mode, chunked."""
    was = encoder.training
    encoder.eval()
    dev = next(encoder.parameters()).device
    out = torch.cat([encoder(flat[i : i + chunk].to(dev)).cpu() for i in range(0, len(flat), chunk)])
    encoder.train(was)
    return out


def _save_state_atomic(acc, state_dir: Path) -> None:
    """Accelerate save_state into a temporary sibling, then swap it in: a run killed mid-save keeps the previous
    state loadable (a half-written state directory would make --resume fail)."""

    tmp, old = state_dir.with_name(state_dir.name + ".tmp"), state_dir.with_name(state_dir.name + ".old")
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    acc.wait_for_everyone()
    acc.save_state(str(tmp))
    acc.wait_for_everyone()
    if acc.is_main_process:
        if state_dir.exists():
            state_dir.rename(old)
        tmp.rename(state_dir)
        shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()


def train_state_dir(out: str | Path) -> Path:
    """Where a run's resumable Accelerate state lives: a sibling of the checkpoint directory, never inside it."""
    out = Path(out)
    return out.parent / f"{out.name}.train_state"
