"""Randomness without hidden global state (the ground floor, beside presets).

The library draws its random numbers from `torch.Generator`s it is given or seeds itself. What cannot take a generator
— a module's initial weights, dropout — runs inside `own_rng(seed)`: a private copy of torch's RNG seeded from the
run's config, so a run is reproducible from its seed whatever the caller did before, and the caller's global RNG is
left exactly as it was.

    @seeded   # the function's `cfg` argument carries `seed`
    def train_classifier(train_x, ..., cfg: ClassifierConfig = ClassifierConfig()): ...
"""
from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import torch

F = TypeVar("F", bound=Callable)


@contextmanager
def own_rng(seed: int) -> Iterator[None]:
    """Run the block on torch's RNG (CPU, and every CUDA device there is) seeded with `seed`; restore the caller's
    state afterwards."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def seeded(fn: F) -> F:
    """Decorate a training function whose `cfg` argument has a `seed`: it runs inside own_rng(cfg.seed)."""
    sig = inspect.signature(fn)
    if "cfg" not in sig.parameters:
        raise TypeError(f"{fn.__qualname__}: @seeded needs a `cfg` parameter carrying the seed")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        with own_rng(int(bound.arguments["cfg"].seed)):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
