import json

import pytest
import torch

from equigen_core.storage.checkpoint import CheckpointError
from equigen_core.data import load_mnist
from equigen_core.data.zoo import build_zoo, canonicalize_zoo, load_zoo, save_zoo
from equigen_core.nets.encoder import EncoderConfig
from equigen_core.weightspace.fit import FitConfig
from equigen_core.weightspace.inr import PRESETS
from equigen_core.training.stage1 import EncoderTrainConfig, train_encoder
from equigen_core.training.common import encode
from equigen_core.nets.models import load_encoder

SMALL = EncoderConfig(channels=8, feature_dim=16, proj_dim=16)


@pytest.fixture(scope="module")
def tiny_zoo():
    data = load_mnist(split="all")
    idx = torch.arange(len(data))
    idx = idx[(idx % 500) < 6]  # 6 digits per class: 60 INRs, 20 held out (index % 5 == 0)
    return build_zoo(data.select(idx), spec=PRESETS["mnist"], index=idx, progress=False,
                     fit_cfg=FitConfig(target_psnr=25.0, max_steps=150))


def test_zoo_round_trip_and_split(tmp_path, tiny_zoo):
    save_zoo(tmp_path / "z", tiny_zoo)
    z = load_zoo(tmp_path / "z")
    assert torch.equal(z.weights, tiny_zoo.weights) and torch.equal(z.labels, tiny_zoo.labels)
    assert len(z.test()) == 20 and len(z.train()) == 40
    assert set(z.test().labels.tolist()) == set(range(10))
    meta = json.loads((tmp_path / "z" / "zoo.json").read_text())
    assert meta["n"] == 60 and meta["mean_psnr"] >= 25.0 and len(meta["psnr"]) == 60 and meta["init"] == "shared"


def test_corrupt_zoo_is_a_clear_error(tmp_path, tiny_zoo):
    from equigen_core.data import DataError

    save_zoo(tmp_path / "z", tiny_zoo)
    f = tmp_path / "z" / "zoo.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(DataError, match="zoo.safetensors"):
        load_zoo(tmp_path / "z")
    with pytest.raises(DataError, match="zoo.json"):
        load_zoo(tmp_path / "missing")


def test_infonce_falls_and_encoder_checkpoint_round_trips(tmp_path, tiny_zoo):
    cfg = EncoderTrainConfig(steps=40, batch_size=32, lr=3e-3, log_every=5)
    res = train_encoder(tiny_zoo, cfg, SMALL, out=tmp_path / "enc", progress=False)
    first, last = sum(res.losses[:5]) / 5, sum(res.losses[-5:]) / 5
    assert last < first - 0.3, (first, last)
    assert 0.0 <= res.knn_accuracy <= 1.0
    assert (tmp_path / "enc" / "tsne.html").stat().st_size > 10_000
    enc = load_encoder(tmp_path / "enc", PRESETS["mnist"])
    torch.testing.assert_close(encode(enc, tiny_zoo.weights), encode(res.encoder, tiny_zoo.weights))
    with pytest.raises(CheckpointError, match="INR spec"):
        load_encoder(tmp_path / "enc", PRESETS["cifar"])


def test_canonicalisation_cannot_change_invariant_features(tiny_zoo):
    """An exactly permutation-invariant encoder sees no neuron order, so smooth canonicalisation leaves ψ unchanged."""
    canon = canonicalize_zoo(tiny_zoo)
    assert canon.meta["smooth"]["tv_after"] < canon.meta["smooth"]["tv_before"]
    assert (canon.weights - tiny_zoo.weights).abs().max() > 1e-3  # the weights really were reordered
    torch.manual_seed(0)
    from equigen_core.nets.encoder import WeightEncoder

    enc = WeightEncoder(PRESETS["mnist"], SMALL)
    enc.set_input_scale(tiny_zoo.weights)
    torch.testing.assert_close(encode(enc, canon.weights), encode(enc, tiny_zoo.weights), atol=1e-5, rtol=1e-5)


def test_cancel_leaves_previous_checkpoint(tmp_path, tiny_zoo):
    cfg = EncoderTrainConfig(steps=3, batch_size=16)
    train_encoder(tiny_zoo, cfg, SMALL, out=tmp_path / "enc", progress=False)
    before = (tmp_path / "enc" / "model.safetensors").read_bytes()
    with pytest.raises(KeyboardInterrupt):
        train_encoder(tiny_zoo, EncoderTrainConfig(steps=50, batch_size=16), SMALL, out=tmp_path / "enc",
                      progress=False, should_stop=lambda: True)
    assert (tmp_path / "enc" / "model.safetensors").read_bytes() == before


def test_resume_restores_optimizer_and_ema_state(tmp_path):
    """Stop after 10 steps, resume for 1: Adam's step count continues from 10 (not 1), and the EMA takes one step from
    the saved EMA toward the network: EMA_11 = d·EMA_10 + (1 − d)·net_11 (a restarted EMA would start elsewhere)."""
    from safetensors.torch import load_file

    from equigen_core.data.zoo import Zoo
    from equigen_core.nets.denoiser import DenoiserConfig
    from equigen_core.nets.encoder import WeightEncoder
    from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
    from tests.conftest import random_sirens

    spec = PRESETS["mnist"]
    n = torch.arange(32)
    zoo = Zoo(spec, random_sirens(spec, 32, noise=0.5), n % 10, torch.full((32,), 30.0), n,
              torch.zeros(32, dtype=torch.long))
    enc = WeightEncoder(spec, EncoderConfig(channels=2, feature_dim=8, proj_dim=4))
    enc.set_input_scale(zoo.weights)
    den = DenoiserConfig(width=16, depth=1, emb_dim=8)
    cfg = DiffusionTrainConfig(steps=40, batch_size=8, warmup=2, save_every=0, classes=None, lambda_eq=0.0,
                               ema_decay=0.9, max_steps=10)
    out, state = tmp_path / "d", tmp_path / "d.train_state"

    def adam_step():
        opt = torch.load(state / "optimizer.bin", map_location="cpu", weights_only=True)
        return int(next(iter(opt["state"].values()))["step"])

    def ema():  # the checkpoint holds the EMA weights as model.*
        return {k[6:]: v for k, v in load_file(str(out / "model.safetensors")).items() if k.startswith("model.")}

    train_diffusion(zoo, enc, cfg, den, out=out, progress=False)
    assert adam_step() == 10
    ema_10 = ema()
    res = train_diffusion(zoo, enc, DiffusionTrainConfig(**{**cfg.__dict__, "max_steps": 11}), den, out=out,
                          resume=True, progress=False)
    assert res.start_step == 10 and len(res.losses) == 1 and adam_step() == 11
    net_11, ema_11 = load_file(str(state / "model.safetensors")), ema()  # the raw network Accelerate saved
    assert set(ema_11) == set(net_11)
    for k in ema_11:
        torch.testing.assert_close(ema_11[k], 0.9 * ema_10[k] + 0.1 * net_11[k], atol=1e-6, rtol=1e-5)
