import socket

import pytest
import torch

from equigen_core.weightspace.inr import PRESETS, siren_init


@pytest.fixture
def mnist_spec():
    return PRESETS["mnist"]


def random_sirens(spec, b, seed=0, noise=0.05):
    """B distinct SIRENs: SIREN init plus noise (so every INR differs and no entry is degenerate)."""
    g = torch.Generator().manual_seed(seed)
    w = siren_init(spec, b, generator=g)
    return w + noise * torch.randn(w.shape, generator=g) * w.abs().mean()


@pytest.fixture
def sirens(mnist_spec):
    return random_sirens(mnist_spec, 6)


@pytest.fixture(scope="session")
def tiny_studio(tmp_path_factory):
    """A real, tiny pipeline for the app's tests (seconds to train; no shipped checkpoint needed): a 100-INR zoo
    (10 per digit) as the gallery, a 4-channel encoder and a small MLP denoiser trained on digits 0–8.
    → (Studio, FewShotModel)."""
    from equigen_core.data import load_mnist
    from equigen_core.data.zoo import build_zoo, save_zoo
    from equigen_core.nets.denoiser import DenoiserConfig
    from equigen_core.nets.encoder import EncoderConfig
    from equigen_core.weightspace.fit import FitConfig
    from equigen_core.service.studio import Studio
    from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
    from equigen_core.training.stage1 import EncoderTrainConfig, train_encoder

    root = tmp_path_factory.mktemp("studio")
    data = load_mnist(split="all")
    idx = torch.arange(len(data))
    idx = idx[(idx % 500) < 10]
    zoo = build_zoo(data.select(idx), spec=PRESETS["mnist"], index=idx, progress=False,
                    fit_cfg=FitConfig(target_psnr=25.0, max_steps=150))
    save_zoo(root / "gallery", zoo)
    enc = train_encoder(zoo, EncoderTrainConfig(steps=10, batch_size=32), EncoderConfig(channels=4, feature_dim=16,
                        proj_dim=8), out=root / "encoder", progress=False, tsne=None).encoder
    train_diffusion(zoo, enc, DiffusionTrainConfig(steps=60, batch_size=64, lr=2e-3, warmup=10, ema_decay=0.9,
                                                   save_every=0),
                    DenoiserConfig(width=64, depth=2, emb_dim=32, cond_dim=16), out=root / "diffusion",
                    progress=False, encoder_path=root / "encoder")
    st = Studio.load(root)
    return st, st.model("diffusion")


@pytest.fixture(scope="session")
def tiny_studio3d(tmp_path_factory):
    """A real, tiny 3D pipeline for the 3D mode's tests: 18 occupancy INRs (airplane, car, table; 6 each, a few
    fitting steps) as the gallery, a 2-channel encoder and a small denoiser trained on car and table.
    → (Studio, FewShotModel)."""
    from equigen_core.data.zoo import build_shape_zoo, save_zoo
    from equigen_core.nets.denoiser import DenoiserConfig
    from equigen_core.nets.encoder import EncoderConfig
    from equigen_core.weightspace.fit import FitConfig
    from equigen_core.service.studio import Studio
    from equigen_core.training.stage2 import DiffusionTrainConfig, train_diffusion
    from equigen_core.training.stage1 import EncoderTrainConfig, train_encoder

    root = tmp_path_factory.mktemp("studio3d")
    zoo = build_shape_zoo(["airplane", "car", "table"], 6, fit_cfg=FitConfig(loss="bce", target_psnr=None,
                          max_steps=40, lr=1e-3, pool=18), points=512, rounds=2, iou_res=16, progress=False)
    save_zoo(root / "gallery", zoo)
    enc = train_encoder(zoo, EncoderTrainConfig(steps=2, batch_size=8), EncoderConfig(channels=2, feature_dim=8,
                        proj_dim=4, probe_res=3), out=root / "encoder", progress=False, tsne=None).encoder
    train_diffusion(zoo, enc, DiffusionTrainConfig(steps=3, batch_size=8, lambda_eq=0.0, classes=(1, 3),
                                                   save_every=0),
                    DenoiserConfig(width=32, depth=1, emb_dim=16), out=root / "diffusion", progress=False,
                    encoder_path=root / "encoder")
    st = Studio.load(root, classifier=None)
    return st, st.model("diffusion")


def free_port() -> int:
    """A TCP port nothing listens on now (for the tests that launch a server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_done(job, timeout: float = 180.0):
    """Wait for a gradio_client job with a deadline (a stuck server fails the test instead of hanging CI)
    → its streamed outputs."""
    import time

    deadline = time.monotonic() + timeout
    while not job.done():
        if time.monotonic() > deadline:
            job.cancel()
            raise TimeoutError(f"the app did not finish a job within {timeout:.0f} s")
        time.sleep(0.05)
    return job.outputs()
