"""Stage 2 + 3 on a tiny trained model: sampling, γ, guidance, save/load and failure handling."""
import pytest
import torch

from equigen_core.storage.checkpoint import CheckpointError
from equigen_core.data import load_mnist
from equigen_core.data.zoo import build_zoo
from equigen_core.nets.denoiser import DenoiserConfig
from equigen_core.nets.encoder import EncoderConfig
from equigen_core.generation.fewshot import FewShotModel, generate
from equigen_core.weightspace.fit import FitConfig
from equigen_core.weightspace.inr import PRESETS
from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
from equigen_core.training.stage1 import EncoderTrainConfig, train_encoder
from equigen_core.training.common import TrainingDiverged

SPEC = PRESETS["mnist"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("fewshot")
    data = load_mnist(split="all")
    idx = torch.arange(len(data))
    idx = idx[(idx % 500) < 10]  # 10 digits per class
    zoo = build_zoo(data.select(idx), spec=SPEC, index=idx, progress=False,
                    fit_cfg=FitConfig(target_psnr=25.0, max_steps=150))
    enc = train_encoder(zoo, EncoderTrainConfig(steps=20, batch_size=32), EncoderConfig(channels=4, feature_dim=16,
                        proj_dim=8), out=root / "encoder", progress=False).encoder
    cfg = DiffusionTrainConfig(steps=400, batch_size=64, lr=2e-3, warmup=20, ema_decay=0.95, save_every=0,
                               lambda_eq=0.1)
    res = train_diffusion(zoo, enc, cfg, DenoiserConfig(width=128, depth=2, cond_dim=16),
                          out=root / "diffusion", progress=False, encoder_path=root / "encoder")
    return zoo, enc, res, root


def test_diffusion_loss_falls(trained):
    _, _, res, _ = trained
    assert sum(res.losses[-20:]) / 20 < 0.7 * sum(res.losses[:20]) / 20


def test_trained_x0_prediction_beats_an_untrained_twin_at_mid_t(trained):
    """At t = 500 half the signal is noise, so the preconditioning alone cannot give x0: only a trained network can."""
    from equigen_core.nets.denoiser import build_denoiser

    zoo, enc, res, root = trained
    model = FewShotModel.load(root / "diffusion")
    torch.manual_seed(0)
    twin = build_denoiser(model.spec, DenoiserConfig(**model.config["denoiser"])).eval()  # same net, untrained
    x0 = model.process.weight_norm.normalize(zoo.train().weights[:32])
    cond = model.features(zoo.train().weights[:32])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    tt = torch.full((32,), 500)
    x_t = model.process.q_sample(x0, tt, noise)
    with torch.no_grad():
        errs = {name: (model.process.predict_x0(net, x_t, tt, cond, torch.ones(32, dtype=torch.bool)) - x0)
                .pow(2).mean().item() for name, net in (("trained", model.denoiser), ("untrained", twin))}
    assert errs["trained"] < 0.6 * errs["untrained"], errs


def test_an_oracle_denoiser_makes_ddim_return_the_true_x0():
    """A network whose x̂0 is the true x0 at every step: deterministic DDIM must land exactly on it, whatever τ, and
    every x_t on the way must carry the same implied noise ε̂ = (x_t − √ᾱ_t·x0)/√(1 − ᾱ_t) (η = 0: no fresh noise)."""
    from equigen_core.generation.diffusion import DiffusionConfig, WeightDiffusion
    from equigen_core.weightspace.weights import NormStats

    target = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    proc = WeightDiffusion(DiffusionConfig(), weight_norm=NormStats(torch.zeros(5), torch.ones(5)))
    calls = []

    class Oracle(torch.nn.Module):  # F such that √ᾱ·x_t + √(1−ᾱ)·F = x0 (predict_x0's preconditioning)
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t, cond, mask):
            a = proc.alphas_cumprod[t].unsqueeze(1)
            calls.append((x.clone(), a))
            return (target - a.sqrt() * x) / (1 - a).sqrt()

    for tau in (1.0, 0.5):
        calls.clear()
        out = proc.sample(Oracle(), 3, steps=10, temperature=tau, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(out, target, atol=1e-4, rtol=1e-4)
        eps = [(x - a.sqrt() * target) / (1 - a).sqrt() for x, a in calls]
        assert len(eps) == 10
        for e in eps[1:]:
            torch.testing.assert_close(e, eps[0], atol=1e-3, rtol=1e-3)


def test_temperature_and_cfg_scale_do_what_they_say(trained):
    """τ scales the starting noise x_T; cfg_scale = 1 is the conditional model, 0 the null-condition branch."""
    zoo, enc, res, root = trained
    model = FewShotModel.load(root / "diffusion")
    proc, net = model.process, model.denoiser
    cond = model.features(zoo.train().weights[:4])
    starts = {}
    for tau in (1.0, 0.5):
        first = []
        proc.sample(net, 4, cond=cond, steps=2, temperature=tau, generator=torch.Generator().manual_seed(3),
                    on_step=lambda info: first.append(info) if not first else None)
        starts[tau] = first[0]
    x_t = torch.randn((4, proc.weight_norm.dim), generator=torch.Generator().manual_seed(3))
    tt = torch.full((4,), starts[1.0].timestep)
    ones = torch.ones(4, dtype=torch.bool)
    with torch.no_grad():
        for tau in (1.0, 0.5):  # the first x̂0 is the network's prediction from x_T = τ·ε
            torch.testing.assert_close(starts[tau].x0_hat, proc.predict_x0(net, tau * x_t, tt, cond, ones))
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    c1 = proc.sample(net, 4, cond=cond, steps=4, cfg_scale=1.0, generator=g())
    plain = proc.sample(net, 4, cond=cond, steps=4, generator=g())
    torch.testing.assert_close(c1, plain)
    null = proc.sample(net, 4, cond=cond, steps=4, cfg_scale=0.0, generator=g())  # every step: the null branch
    torch.testing.assert_close(null, _sample_masked(proc, net, cond, steps=4, generator=g()), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(null, plain)


def _sample_masked(proc, net, cond, *, steps, generator):
    """DDIM with every row's condition masked (the null branch), written out with the scheduler directly."""
    from equigen_core.generation.diffusion import make_scheduler

    sched = make_scheduler(proc.cfg)
    sched.set_timesteps(steps)
    n = len(cond)
    x = torch.randn((n, proc.weight_norm.dim), generator=generator)
    off = torch.zeros(n, dtype=torch.bool)
    with torch.no_grad():
        for t in sched.timesteps:
            tt = torch.full((n,), int(t), dtype=torch.long)
            x = sched.step(proc.predict_x0(net, x, tt, cond, off), t, x, eta=0.0).prev_sample
    return x


def test_sampling_is_deterministic_per_seed_and_calls_back_every_step(trained):
    zoo, _, _, root = trained
    model = FewShotModel.load(root / "diffusion")
    targets = zoo.test().weights[:3]
    seen = []
    a = generate(model, targets, 4, steps=5, seed=1, on_step=lambda i, n, w: seen.append((i, n, w.shape)))
    b = generate(model, targets, 4, steps=5, seed=1)
    c = generate(model, targets, 4, steps=5, seed=2)
    assert torch.equal(a.weights, b.weights) and not torch.equal(a.weights, c.weights)
    assert a.images.shape == (4, 1, 28, 28) and a.target_index.tolist() == [0, 1, 2, 0]
    assert [s[0] for s in seen] == list(range(5)) and seen[0][2] == (4, SPEC.num_params)


def test_spread_of_samples_grows_with_gamma(trained):
    zoo, _, _, root = trained
    model = FewShotModel.load(root / "diffusion")
    target = zoo.test().weights[:1]

    def spread(gamma):
        out = generate(model, target, 12, gamma=gamma, steps=10, seed=0)
        return out.weights.std(0).mean().item()

    s0, s2 = spread(0.0), spread(2.0)
    assert s2 > s0 * 1.05, (s0, s2)


def test_guidance_lowers_the_feature_distance(trained):
    zoo, _, _, root = trained
    model = FewShotModel.load(root / "diffusion")
    targets = zoo.test().weights[:4]

    def dist(guidance):
        out = generate(model, targets, 8, gamma=0.0, guidance=guidance, steps=10, seed=3)
        with torch.no_grad():
            return (model.features(out.weights) - out.psi_tilde).pow(2).sum(1).mean().item()

    assert dist(0.5) < dist(0.0)


def test_bad_inputs_and_mismatched_encoder_are_clear_errors(trained, tmp_path):
    zoo, enc, _, root = trained
    model = FewShotModel.load(root / "diffusion")
    with pytest.raises(ValueError, match="targets must be"):
        generate(model, torch.zeros(2, 10))
    with pytest.raises(ValueError, match="gamma"):
        generate(model, zoo.test().weights[:2], gamma=-1)
    other = train_encoder(zoo, EncoderTrainConfig(steps=2, batch_size=8, seed=5),
                          EncoderConfig(channels=4, feature_dim=16, proj_dim=8), progress=False).encoder
    with pytest.raises(CheckpointError, match="fingerprint"):
        FewShotModel.load(root / "diffusion", other)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(trained):
    zoo, enc, _, root = trained
    before = (root / "diffusion" / "model.safetensors").read_bytes()
    with pytest.raises(TrainingDiverged, match="left as it was"):
        train_diffusion(zoo, enc, DiffusionTrainConfig(steps=50, lr=1e30, warmup=1, save_every=0, batch_size=16),
                        DenoiserConfig(width=32, depth=1, cond_dim=16), out=root / "diffusion",
                        progress=False)
    assert (root / "diffusion" / "model.safetensors").read_bytes() == before


def test_finetune_fits_the_shots_and_replay_bounds_forgetting(trained, tmp_path):
    from equigen_core.training.stage3 import FinetuneConfig, finetune

    zoo, _, _, root = trained
    shots = zoo.train().select(zoo.train().labels == 9).weights[:6]  # class 9 was held out of the tiny model
    runs = {}
    for replay in (0.5, 0.0):
        cfg = FinetuneConfig(steps=160, batch_size=32, lr=1e-3, eval_every=20, holdout=2, ema_decay=0.9,
                             replay=replay)
        runs[replay] = finetune(root / "diffusion", shots, zoo, cfg, out=tmp_path / f"adapted{replay}",
                                progress=False)
    res = runs[0.5]
    shots_first, shots_best = res.shots_curve[0][1], min(v for _, v in res.shots_curve)
    base_first, base_worst = res.base_curve[0][1], max(v for _, v in res.base_curve)
    assert shots_best < 0.9 * shots_first, res.shots_curve
    plain_worst = max(v for _, v in runs[0.0].base_curve)
    # forgetting bound: with replay the base-class loss rises by under 30 % of what plain fine-tuning adds
    assert base_worst - base_first < 0.3 * (plain_worst - base_first), (res.base_curve, runs[0.0].base_curve)
    model = FewShotModel.load(tmp_path / "adapted0.5", root / "encoder")
    assert generate(model, shots, 2, steps=3).weights.shape == (2, SPEC.num_params)


def test_a_moved_checkpoint_finds_its_encoder_beside_it(trained, tmp_path):
    """The recorded encoder path is absolute where it was trained; copied elsewhere (e.g. into checkpoints/), the
    diffusion model loads the sibling encoder of the same name."""
    import json
    import shutil

    _, _, _, root = trained
    moved = tmp_path / "shipped"
    for name in ("diffusion", "encoder"):
        shutil.copytree(root / name, moved / name)
    cfg_file = moved / "diffusion" / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["config"]["encoder_path"] = str(tmp_path / "gone" / "encoder")  # absolute, and no longer there
    cfg_file.write_text(json.dumps(cfg))
    model = FewShotModel.load(moved / "diffusion")
    assert model.features(torch.zeros(1, SPEC.num_params)).shape[0] == 1
