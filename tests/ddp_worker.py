"""Run by tests/test_scale.py under torchrun: a few stage-2 steps on gloo, each rank saves what it ended with."""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from equigen_core.data import load_mnist
from equigen_core.data.zoo import build_zoo
from equigen_core.nets.denoiser import DenoiserConfig
from equigen_core.nets.encoder import EncoderConfig, WeightEncoder
from equigen_core.weightspace.fit import FitConfig
from equigen_core.weightspace.inr import PRESETS
from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
from equigen_core.training.common import make_accelerator


def main(out: Path) -> None:
    acc = make_accelerator(cpu=True)
    spec = PRESETS["mnist"]
    data = load_mnist(split="all")
    idx = torch.arange(len(data))
    idx = idx[(idx % 500) < 3]
    zoo = build_zoo(data.select(idx), spec=spec, index=idx, progress=False, fit_cfg=FitConfig(target_psnr=20.0))
    torch.manual_seed(0)
    enc = WeightEncoder(spec, EncoderConfig(channels=4, feature_dim=16, proj_dim=8))
    enc.set_input_scale(zoo.weights)
    enc.eval()
    res = train_diffusion(zoo, enc, DiffusionTrainConfig(steps=6, batch_size=8, save_every=0, classes=None),
                          DenoiserConfig(width=32, depth=1, cond_dim=16, emb_dim=16), accelerator=acc, progress=False)
    state = res.model.state_dict()  # the EMA weights every rank ends with
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / f"rank{acc.process_index}.safetensors"))
    (out / f"world{acc.process_index}.txt").write_text(f"{acc.num_processes} {acc.distributed_type}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
