
from dataclasses import replace

import pytest
import torch

from equigen_core.nets.denoiser import PRESETS as DENOISERS
from equigen_core.nets.denoiser import DenoiserConfig, build_denoiser, get_preset
from equigen_core.generation.diffusion import DiffusionConfig, WeightDiffusion, make_scheduler
from equigen_core.nets.encoder import EncoderConfig, WeightEncoder
from equigen_core.weightspace.inr import PRESETS
from equigen_core.weightspace.weights import NormStats
from tests.conftest import random_sirens

SPEC = PRESETS["mnist"]


def test_ddim_timesteps_are_pinned():
    s = make_scheduler()
    s.set_timesteps(10)
    assert s.timesteps.tolist() == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    s.set_timesteps(50)
    assert s.timesteps[:3].tolist() == [999, 979, 959] and s.timesteps[-1].item() == 19
    a = s.alphas_cumprod
    assert a.shape == (1000,) and a[0] > 0.9999 and a[-1] < 1e-6  # cosine schedule: clean at 0, pure noise at T


def test_q_sample_matches_the_closed_form():
    proc = WeightDiffusion(weight_norm=NormStats(torch.zeros(4), torch.ones(4)))
    x0, eps = torch.ones(2, 4), torch.randn(2, 4)
    t = torch.tensor([0, 999])
    xt = proc.q_sample(x0, t, eps)
    a = proc.alphas_cumprod[t].unsqueeze(1)
    torch.testing.assert_close(xt, a.sqrt() * x0 + (1 - a).sqrt() * eps)


@pytest.mark.parametrize("preset", ["tiny", "tiny-transformer"])
def test_denoisers_map_weights_to_weights(preset):
    net = build_denoiser(SPEC, get_preset(preset))
    x = torch.randn(3, SPEC.num_params)
    out = net(x, torch.tensor([1, 500, 999]), torch.randn(3, 128), torch.tensor([True, False, True]))
    assert out.shape == x.shape
    with pytest.raises(ValueError, match="unknown denoiser preset"):
        get_preset("huge")


def test_paper_preset_is_the_official_scale():
    cfg = DENOISERS["paper"]
    assert (cfg.arch, cfg.depth, cfg.width) == ("transformer", 12, 2048)


def test_transformer_tokens_round_trip():
    net = build_denoiser(SPEC, get_preset("tiny-transformer"))
    x = torch.randn(2, SPEC.num_params)
    n_tokens = sum(o for o, _ in SPEC.layer_shapes)
    assert net.tokens(x).shape == (2, n_tokens, 32)


def test_l_eq_back_propagates_into_the_denoiser():
    torch.manual_seed(0)
    flat = random_sirens(SPEC, 8)
    enc = WeightEncoder(SPEC, EncoderConfig(channels=4, feature_dim=16, proj_dim=8))
    enc.set_input_scale(flat)
    wn = NormStats.fit(flat)
    net = build_denoiser(SPEC, DenoiserConfig(width=32, depth=1, cond_dim=16))
    torch.nn.init.normal_(net.out.weight, std=0.01)  # leave the zero init so x̂0 depends on the input
    proc = WeightDiffusion(DiffusionConfig(lambda_eq=1.0), weight_norm=wn, encoder=enc)
    x0, cond = wn.normalize(flat), torch.randn(8, 16)

    def loss(lam):  # same noise, timesteps and condition dropout for both values of λ
        return proc.training_loss(net, x0, cond, lambda_eq=lam, generator=torch.Generator().manual_seed(0))

    parts = loss(1.0)
    (grad_eq,) = torch.autograd.grad(parts.total - loss(0.0).total, net.out.weight)
    assert parts.eq > 0
    assert grad_eq.abs().max() > 0  # the L_eq term alone has a gradient on the denoiser's weights
    assert all(p.grad is None for p in enc.parameters())  # and the encoder stays frozen


def test_principal_subspace_codec_whitens_and_projects():
    from equigen_core.weightspace.weights import PCAStats, codec_from_tensors

    flat = random_sirens(SPEC, 64, noise=0.5)
    pca = PCAStats.fit(flat, k=16)
    z = pca.normalize(flat)
    assert z.shape == (64, 16) and pca.dim == 16
    torch.testing.assert_close(z.std(0), torch.ones(16), atol=1e-3, rtol=0)  # whitened over the zoo
    proj = pca.project(flat)
    torch.testing.assert_close(pca.project(proj), proj, atol=1e-5, rtol=1e-4)  # a projection: idempotent
    full = PCAStats.fit(flat, k=63)  # rank of 64 centred points: the subspace holds every one of them
    torch.testing.assert_close(full.project(flat), flat, atol=1e-4, rtol=1e-4)
    assert isinstance(codec_from_tensors(pca.tensors("norm.")), PCAStats)
    assert isinstance(codec_from_tensors(NormStats.fit(flat).tensors("norm.")), NormStats)
    with pytest.raises(ValueError, match="PCA dimension"):
        PCAStats.fit(flat, k=65)


def test_pca_space_trains_samples_inside_the_subspace_and_refuses_the_transformer(tmp_path):
    from equigen_core.generation.fewshot import FewShotModel, generate
    from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
    from equigen_core.weightspace.weights import PCAStats
    from equigen_core.data.zoo import Zoo

    n = torch.arange(40)
    protos = random_sirens(SPEC, 4, noise=0.5)  # four tight clusters: structure a denoiser can learn
    flat = protos[n % 4] + 1e-3 * torch.randn(40, SPEC.num_params, generator=torch.Generator().manual_seed(0))
    zoo = Zoo(SPEC, flat, n % 10, torch.full((40,), 30.0), n, torch.zeros(40, dtype=torch.long))
    enc = WeightEncoder(SPEC, EncoderConfig(channels=2, feature_dim=8, proj_dim=4))
    enc.set_input_scale(zoo.weights)
    cfg = DiffusionTrainConfig(steps=80, batch_size=32, lr=2e-3, warmup=5, save_every=0, classes=None, space="pca",
                               pca_dim=3)
    r = train_diffusion(zoo, enc, cfg, DenoiserConfig(width=32, depth=1, emb_dim=16), out=tmp_path / "d",
                        progress=False)
    assert sum(r.losses[-20:]) < sum(r.losses[:20])
    model = FewShotModel.load(tmp_path / "d", enc)
    codec = model.process.weight_norm
    assert isinstance(codec, PCAStats) and codec.dim == 3 and model.config["denoiser"]["data_dim"] == 3
    out = generate(model, zoo.weights[:2], 4, steps=3)
    assert out.weights.shape == (4, SPEC.num_params)
    torch.testing.assert_close(codec.project(out.weights), out.weights, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="transformer"):
        build_denoiser(SPEC, DenoiserConfig(arch="transformer", width=16, heads=2, data_dim=12))


def random_zoo_and_probed_encoder(b: int, classes: int, probe_res: int):
    """A zoo of B random SIRENs (training split, labels i % classes) and a small encoder with a probe."""
    from equigen_core.data.zoo import Zoo

    flat = random_sirens(SPEC, b, noise=0.5)
    n = torch.arange(b)
    zoo = Zoo(SPEC, flat, n % classes, torch.full((b,), 30.0), n, torch.zeros(b, dtype=torch.long))
    enc = WeightEncoder(SPEC, EncoderConfig(channels=2, feature_dim=8, proj_dim=4, probe_res=probe_res)).eval()
    enc.set_input_scale(flat)
    return zoo, enc


def test_probe_condition_is_the_function_part_of_psi_and_round_trips_through_a_checkpoint(tmp_path):
    from equigen_core.nets.encoder import ProbeCondition, condition_encoder
    from equigen_core.generation.fewshot import FewShotModel
    from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
    from equigen_core.nets.models import encoder_fingerprint

    zoo, enc = random_zoo_and_probed_encoder(24, 3, probe_res=5)
    flat = zoo.weights
    view = condition_encoder(enc, "probe")
    assert isinstance(view, ProbeCondition) and view.out_dim == 25
    torch.testing.assert_close(view(flat), enc(flat)[:, 8:])  # exactly the probe part of ψ
    assert encoder_fingerprint(view) != encoder_fingerprint(enc)
    cfg = DiffusionTrainConfig(steps=3, batch_size=8, save_every=0, classes=None, condition="probe")
    train_diffusion(zoo, enc, cfg, DenoiserConfig(width=16, depth=1, emb_dim=8), out=tmp_path / "d", progress=False)
    model = FewShotModel.load(tmp_path / "d", enc)  # given the full encoder, it conditions on the probe again
    assert isinstance(model.encoder, ProbeCondition) and model.config["denoiser"]["cond_dim"] == 25
    assert model.features(flat[:2]).shape == (2, 25)
    with pytest.raises(ValueError, match="probe"):
        condition_encoder(WeightEncoder(SPEC, EncoderConfig(channels=2, feature_dim=8, proj_dim=4)), "probe")


def test_zoo_augmentation_feeds_augmented_inrs_with_their_own_condition(monkeypatch):
    """augment > 0: part of every batch is exact augmentations of zoo INRs, each conditioned on its own ψ."""
    import equigen_core.generation.diffusion as diffusion_mod
    from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion

    zoo, enc = random_zoo_and_probed_encoder(16, 2, probe_res=4)
    seen = []
    orig = diffusion_mod.WeightDiffusion.training_loss

    def spy(self, model, x0, cond, **kw):
        seen.append((x0.clone(), cond.clone()))
        return orig(self, model, x0, cond, **kw)

    monkeypatch.setattr(diffusion_mod.WeightDiffusion, "training_loss", spy)
    base = DiffusionTrainConfig(steps=2, batch_size=8, save_every=0, classes=None, condition="probe")
    dn = DenoiserConfig(width=16, depth=1, emb_dim=8)
    train_diffusion(zoo, enc, base, dn, progress=False)
    plain = seen[:]
    seen.clear()
    train_diffusion(zoo, enc, replace(base, augment=1.0, augment_share=0.5), dn, progress=False)
    (x_plain, c_plain), (x_aug, c_aug) = plain[0], seen[0]
    torch.testing.assert_close(x_aug[4:], x_plain[4:])  # same draw: the second half is untouched zoo INRs
    torch.testing.assert_close(c_aug[4:], c_plain[4:])
    assert (x_aug[:4] - x_plain[:4]).abs().max() > 1e-3  # the first half was augmented
    assert (c_aug[:4] - c_plain[:4]).abs().max() > 1e-3  # and conditioned on its own (augmented) ψ


def test_latent_codec_learns_reconstructions_and_round_trips_through_a_checkpoint(tmp_path):
    from equigen_core.data.zoo import Zoo
    from equigen_core.generation.fewshot import FewShotModel, generate
    from equigen_core.weightspace.inr import render_images
    from equigen_core.weightspace.latent import LatentCodec, LatentConfig, fit_latent_codec
    from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion

    n = torch.arange(48)
    protos = random_sirens(SPEC, 4, noise=0.5)  # four tight clusters: a 4-d code can tell them apart
    flat = protos[n % 4] + 1e-3 * torch.randn(48, SPEC.num_params, generator=torch.Generator().manual_seed(0))
    cfg = LatentConfig(dim=4, hidden=(64,), steps=150, batch_size=48, lr=3e-3, input_noise=0.0, latent_noise=0.0)
    codec, losses = fit_latent_codec(SPEC, flat, cfg)
    assert sum(losses[-15:]) < 0.5 * sum(losses[:15])  # the function-space reconstruction loss falls
    z = codec.normalize(flat)
    assert z.shape == (48, 4)
    torch.testing.assert_close(z.mean(0), torch.zeros(4), atol=1e-4, rtol=0)  # whitened over the training INRs
    torch.testing.assert_close(z.std(0), torch.ones(4), atol=1e-3, rtol=0)
    err = (render_images(SPEC, codec.project(flat)) - render_images(SPEC, flat)).pow(2).mean()
    base = (render_images(SPEC, flat.mean(0, keepdim=True).expand_as(flat)) - render_images(SPEC, flat)).pow(2).mean()
    assert err < 0.5 * base  # decodes each INR closer than the mean INR is
    again = LatentCodec.from_tensors(codec.tensors("norm."))
    torch.testing.assert_close(again.denormalize(z), codec.denormalize(z))
    with pytest.raises(ValueError, match="latent dim"):
        fit_latent_codec(SPEC, flat, LatentConfig(dim=SPEC.num_params))

    zoo = Zoo(SPEC, flat, n % 10, torch.full((48,), 30.0), n, torch.zeros(48, dtype=torch.long))
    enc = WeightEncoder(SPEC, EncoderConfig(channels=2, feature_dim=8, proj_dim=4))
    enc.set_input_scale(zoo.weights)
    tcfg = DiffusionTrainConfig(steps=10, batch_size=16, warmup=2, save_every=0, classes=None, space="latent",
                                latent_dim=4, latent_steps=5)
    train_diffusion(zoo, enc, tcfg, DenoiserConfig(width=16, depth=1, emb_dim=8), out=tmp_path / "d", progress=False)
    model = FewShotModel.load(tmp_path / "d", enc)
    assert isinstance(model.process.weight_norm, LatentCodec) and model.config["denoiser"]["data_dim"] == 4
    assert generate(model, flat[:2], 3, steps=2).weights.shape == (3, SPEC.num_params)


def test_prediction_types_give_their_x0_and_loss_weights():
    class Const(torch.nn.Module):  # a "network" that always outputs c
        def __init__(self, c):
            super().__init__()
            self.c, self.p = c, torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t, cond, mask):
            return self.c.expand_as(x)

    norm = NormStats(torch.zeros(3), torch.ones(3))
    x_t, out, t = torch.randn(2, 3), torch.randn(1, 3), torch.tensor([100, 900])
    procs = {p: WeightDiffusion(DiffusionConfig(prediction=p), weight_norm=norm) for p in ("x0", "v", "eps")}
    a = procs["x0"].alphas_cumprod[t].unsqueeze(1)
    torch.testing.assert_close(procs["x0"].predict_x0(Const(out), x_t, t), a.sqrt() * x_t + (1 - a).sqrt() * out)
    torch.testing.assert_close(procs["v"].predict_x0(Const(out), x_t, t), procs["x0"].predict_x0(Const(out), x_t, t))
    eps_x0 = ((x_t - (1 - a).sqrt() * out) / a.sqrt()).clamp(-5, 5)
    torch.testing.assert_close(procs["eps"].predict_x0(Const(out), x_t, t), eps_x0)
    a = a.squeeze(1)
    torch.testing.assert_close(procs["x0"].loss_weight(t), torch.ones(2))
    torch.testing.assert_close(procs["v"].loss_weight(t), (1 / (1 - a)).clamp(max=20.0))
    torch.testing.assert_close(procs["eps"].loss_weight(t), (a / (1 - a)).clamp(max=20.0))
    # with ε-prediction the x0-weighted loss is exactly the DDPM loss ||ε̂ − ε||² (where not capped or clipped)
    x0, noise = 0.1 * torch.randn(2, 3), torch.randn(2, 3)
    t = torch.tensor([700, 800])
    x_t = procs["eps"].q_sample(x0, t, noise)
    eps_hat = noise + 0.01 * torch.randn(2, 3)
    p = procs["eps"]
    x0_hat = p.predict_x0(Const(eps_hat), x_t, t)
    torch.testing.assert_close(p.loss_weight(t) * (x0_hat - x0).pow(2).mean(1), (eps_hat - noise).pow(2).mean(1),
                               rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match="prediction"):
        WeightDiffusion(DiffusionConfig(prediction="score"), weight_norm=norm)


def test_condition_corruption_trains_on_corrupted_conditions_and_tells_the_model_their_level():
    """cond_noise > 0 (Cascaded Diffusion Models' condition augmentation): in training each condition arrives
    corrupted by its own level s ≤ cond_noise, with s as its last entry; at sampling the level is the one asked for
    (capped at cond_noise). cond_noise = 0 leaves conditions untouched."""
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t, cond, mask):
            seen.append(cond.clone())
            return x * self.p

    cond = torch.randn(64, 32, generator=torch.Generator().manual_seed(0))
    x0 = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    norm = NormStats(torch.zeros(4), torch.ones(4))
    plain = WeightDiffusion(DiffusionConfig(lambda_eq=0.0), weight_norm=norm)
    plain.training_loss(Spy(), x0, cond, generator=torch.Generator().manual_seed(2))
    assert torch.equal(seen[-1], cond)
    proc = WeightDiffusion(DiffusionConfig(lambda_eq=0.0, cond_noise=0.5), weight_norm=norm)
    proc.training_loss(Spy(), x0, cond, generator=torch.Generator().manual_seed(2))
    got = seen[-1]
    level = got[:, -1]
    assert got.shape == (64, 33) and bool(((level >= 0) & (level <= 0.5)).all()) and level.std() > 0.05
    dev = (got[:, :32] - cond).std(1)  # rows corrupted more where their level is higher
    assert torch.corrcoef(torch.stack([level, dev]))[0, 1] > 0.8
    proc.sample(Spy(), 5, cond=cond[:5], steps=2, cond_level=0.3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(seen[-1][:, -1], torch.full((5,), 0.3)) and torch.equal(seen[-1][:, :32], cond[:5])
    proc.sample(Spy(), 5, cond=cond[:5], steps=2, cond_level=2.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(seen[-1][:, -1], torch.full((5,), 0.5))  # capped at the largest level trained on


def test_neighbour_pairing_conditions_on_same_class_neighbours_and_gives_their_rank():
    """pair_k > 0: neighbour_table lists each row's nearest rows of its own class (itself first); the process appends
    the rank fraction to the condition in training and γ (clipped to [0, 1]) at sampling, and ψ is not perturbed."""
    from equigen_core.training.stage2 import neighbour_table

    g = torch.Generator().manual_seed(0)
    cond = torch.randn(40, 6, generator=g)
    labels = torch.arange(40) % 3
    table = neighbour_table(cond, labels, 4)
    assert table.shape == (40, 4) and torch.equal(table[:, 0], torch.arange(40))
    assert bool((labels[table] == labels[:, None]).all())  # every neighbour is of the row's class
    for i in (0, 7, 31):  # rank 1..3 are the nearest others of its class, in order
        same = torch.nonzero(labels == labels[i]).squeeze(1)
        d = (cond[same] - cond[i]).norm(dim=1)
        d[same == i] = float("inf")
        assert torch.equal(table[i, 1:], same[d.argsort()[:3]])
    small = neighbour_table(cond[:4], torch.tensor([0, 0, 1, 1]), 3)  # classes of 2: the farthest one repeats
    assert torch.equal(small[0], torch.tensor([0, 1, 1]))

    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t, c, mask):
            seen.append(c.clone())
            return x * self.p

    cfg = DiffusionConfig(lambda_eq=0.0, pair_k=8)
    assert cfg.level_input and cfg.psi_noise(0.7) == 0.0 and cfg.sampling_level(3.0) == 1.0
    assert DiffusionConfig().psi_noise(0.7) == 0.7 and not DiffusionConfig().level_input
    proc = WeightDiffusion(cfg, weight_norm=NormStats(torch.zeros(4), torch.ones(4)))
    rank = torch.linspace(0, 1, 40)
    proc.training_loss(Spy(), torch.randn(40, 4), cond, cond_level=rank, generator=torch.Generator().manual_seed(1))
    assert torch.equal(seen[-1], torch.cat([cond, rank[:, None]], 1))  # the condition as given, plus its rank
    proc.sample(Spy(), 3, cond=cond[:3], steps=2, cond_level=0.25, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(seen[-1][:, -1], torch.full((3,), 0.25)) and torch.equal(seen[-1][:, :6], cond[:3])
