"""The colour preset (CIFAR-10 layout, 2→64→64→64→3) through all three stages, on a tiny CIFAR directory."""
import torch

from equigen_core.data import load_cifar10
from equigen_core.data.zoo import build_zoo, save_zoo
from equigen_core.nets.denoiser import DenoiserConfig
from equigen_core.nets.encoder import EncoderConfig
from equigen_core.generation.fewshot import FewShotModel, generate
from equigen_core.weightspace.fit import FitConfig
from equigen_core.weightspace.inr import PRESETS
from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
from equigen_core.training.stage1 import EncoderTrainConfig, train_encoder
from equigen_core.training.stage3 import FinetuneConfig, finetune
from tests.test_data import _write_bin


def test_colour_inrs_through_all_three_stages(tmp_path):
    _write_bin(tmp_path)
    data = load_cifar10(tmp_path, split="train")  # 10 images, classes 0-4
    assert data.images.shape == (10, 3, 32, 32)
    spec = PRESETS["cifar"]
    zoo = build_zoo(data, spec=spec, progress=False, fit_cfg=FitConfig(target_psnr=18.0, max_steps=60))
    save_zoo(tmp_path / "zoo", zoo)
    assert zoo.weights.shape == (10, spec.num_params)
    small = EncoderConfig(channels=4, feature_dim=16, proj_dim=8)
    enc = train_encoder(zoo, EncoderTrainConfig(steps=3, batch_size=8), small, out=tmp_path / "enc",
                        progress=False).encoder
    res = train_diffusion(zoo, enc, DiffusionTrainConfig(steps=5, batch_size=8, classes=(0, 1, 2, 3), save_every=0),
                          DenoiserConfig(width=32, depth=1, cond_dim=16, emb_dim=16), out=tmp_path / "diff",
                          encoder_path=tmp_path / "enc", progress=False)
    assert len(res.losses) == 5
    shots = zoo.weights[zoo.labels == 4]  # the held-out class
    ft = finetune(tmp_path / "diff", shots, zoo, FinetuneConfig(steps=4, batch_size=8, eval_every=2, holdout=1),
                  out=tmp_path / "diff4", progress=False)
    assert ft.path is not None
    model = FewShotModel.load(tmp_path / "diff4")
    out = generate(model, shots, 3, steps=4, res=32)
    assert out.images.shape == (3, 3, 32, 32) and torch.isfinite(out.weights).all()
