"""Generated INRs for other tools: a zip of one SIREN state dict per sample, in the layout of the DWSNets / EquiGen
INR sets (`seq.{i}.weight` (out, in), `seq.{i}.bias` (out,)), plus `spec.json` (the SIREN's layer sizes and ω0).

    path = export_state_dicts("out/samples_state_dicts.zip", spec, weights)   # weights (n, P)
    # elsewhere: sd = torch.load("sample_00.pth", weights_only=True); siren.load_state_dict(sd)
    # or here:   weightspace.weights.load_siren_state_dict("sample_00.pth", spec) → (P,)
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

from torch import Tensor

from equigen_core.storage.atomic import atomic_path
from equigen_core.weightspace.inr import SirenSpec
from equigen_core.weightspace.weights import save_siren_state_dict


def export_state_dicts(path: str | Path, spec: SirenSpec, weights: Tensor) -> Path:
    """INRs (n, P) → a zip at `path` holding sample_00.pth … (torch.save'd state dicts, tensors only) and spec.json."""
    if weights.dim() != 2 or weights.shape[1] != spec.num_params:
        raise ValueError(f"weights must be (n, {spec.num_params}) INRs of {spec}, got {tuple(weights.shape)}")
    width = max(2, len(str(len(weights) - 1)))
    with tempfile.TemporaryDirectory() as tmp, atomic_path(path) as out:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for i, w in enumerate(weights):
                name = f"sample_{i:0{width}d}.pth"
                z.write(save_siren_state_dict(Path(tmp) / name, spec, w), name)
            layout = ("seq.{i}.weight (out, in), seq.{i}.bias (out,): Linear layers, sine activations (ω0 of the "
                      "spec) on all but the last; the signal is the last layer's output + out_offset")
            z.writestr("spec.json", json.dumps({**spec.to_dict(), "layout": layout}, indent=1))
    return Path(path)
