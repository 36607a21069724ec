"""What the commands share: data sources, class lists, checkpoint-root resolution, sampler defaults, result JSON.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from equigen_core.data import DataError
from equigen_core.data.sources import load_source
from equigen_core.data.zoo import load_zoo
from equigen_core.presets import Sampling, sampling_for
from equigen_core.service.roots import RootError, held_out_class, resolve
from equigen_core.storage.atomic import atomic_write_text


def load_images(args):
    return load_source(args.dataset, args.data_dir, limit=args.limit, size=args.size,
                       channels=3 if args.inr == "cifar" else 1)


def parse_classes(text: str) -> tuple[int, ...] | None:
    """A comma-separated class list ("0,1,2"); "all" → None (every class); "" → ()."""
    return None if text == "all" else tuple(int(c) for c in text.split(",") if c.strip())


def sampling_from_args(args, in_dim: int) -> Sampling:
    """The sampler options given on the command line over the domain's defaults (presets.sampling_for), checked once
    against presets.BOUNDS (DataError naming the knob, printed by `main` as one line)."""
    given = {name: getattr(args, name, None) for name in ("sampler", "gamma", "guidance", "temperature", "steps", "t0")}
    try:
        return sampling_for(in_dim).replace(**given)
    except ValueError as e:
        raise DataError(str(e)) from None


def fill_sampling(args, in_dim: int) -> Sampling:
    """Fill the sampler options the user left out with the domain's defaults (checked: `sampling_from_args`)."""
    s = sampling_from_args(args, in_dim)
    for name in ("sampler", "gamma", "guidance", "temperature", "steps", "t0"):
        if hasattr(args, name):
            setattr(args, name, getattr(s, name))
    return s


def resolve_checkpoint(args, *, prefer: str = "adapted", need_zoo: bool = True):
    """--checkpoint (a checkpoint root such as checkpoints/mnist, or a checkpoint directory) and --zoo / --class →
    (roots.Resolved, the class name). Without --class, the class the model's base training held out. Prints what it
    picked; a missing piece raises RootError, which `main` prints as one line naming it."""

    cls = getattr(args, "cls", None)
    r = resolve(args.checkpoint, cls=cls, zoo=getattr(args, "zoo", None), prefer=prefer, need_zoo=need_zoo)
    if cls is None and r.zoo is not None:
        cfg = json.loads((r.checkpoint / "config.json").read_text()).get("config", {})
        cls = held_out_class(cfg, load_zoo(r.zoo))
        if cls is None:
            raise RootError(f"{r.checkpoint}: its training held no class out; pass --class")
        r = resolve(args.checkpoint, cls=cls, zoo=getattr(args, "zoo", None), prefer=prefer, need_zoo=need_zoo)
    print(r.describe() + (f"; class {cls}" if cls is not None else ""))
    return r, cls


def command_line() -> str:
    """This run's command as a reader would type it (recorded in every result JSON)."""

    return "python -m equigen_core " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""


def write_json(path: Path, result: dict) -> None:
    """Write a result atomically (a temp file, then rename), so an interrupted run never leaves half a JSON."""
    atomic_write_text(path, json.dumps(result, indent=1))
    print(f"wrote {path}")
