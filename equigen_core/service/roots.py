"""Checkpoint roots: what a folder such as `checkpoints/mnist` holds, and which of its pieces a command uses.

A root is a folder written by `train all`:

    ROOT/diffusion/          the base diffusion model (trained without the held-out class)
    ROOT/diffusion_<class>/  a model adapted to that class (stage 3), e.g. diffusion_9, diffusion_airplane
    ROOT/encoder/            the stage-1 encoder they were trained with
    ROOT/gallery/            a small zoo of target INRs per class

`resolve("checkpoints/mnist", cls="9")` picks the adapted model for the class when the root has one, else the base
model, and the root's gallery; `resolve("checkpoints/mnist/diffusion")` (a checkpoint directory itself) keeps working,
with the gallery beside it. A missing piece raises RootError naming what is missing and where it looked.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from equigen_core.domains import domain_of
from equigen_core.storage.checkpoint import CONFIG_FILE

BASE = "diffusion"
GALLERY = "gallery"


class RootError(FileNotFoundError):
    """A checkpoint root (or checkpoint) lacks a piece a command needs; the message says what and where."""


@dataclass(frozen=True)
class Resolved:
    checkpoint: Path  # the diffusion checkpoint to sample from
    zoo: Path | None  # where target INRs come from (None: not found and not required)
    base: Path | None  # the root's base model, when there is one
    adapted: Path | None  # the root's model adapted to the class, when there is one
    root: Path | None  # the root, when a root was given

    def describe(self) -> str:
        """One line saying what was picked (the commands print it)."""
        which = ("the model adapted to this class" if self.checkpoint == self.adapted else
                 "the base model" + (", no adapted model for this class" if self.root else ""))
        zoo = f"; targets from {self.zoo}" if self.zoo else ""
        return f"using {self.checkpoint} ({which}){zoo}"


def is_checkpoint(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file()


def resolve(path: str | Path, *, cls: str | int | None = None, zoo: str | Path | None = None,
            need_zoo: bool = True, prefer: str = "adapted") -> Resolved:
    """Resolve a checkpoint directory or a checkpoint root to the model and zoo a command uses.

    cls: the class (2D) or category (3D) name, for the root's `diffusion_<cls>`; zoo: an explicit zoo (wins over the
    gallery); prefer: "adapted" (the adapted model when present, else the base) or "base" (the base when present)."""
    path = Path(path)
    if prefer not in ("adapted", "base"):
        raise ValueError(f"prefer must be 'adapted' or 'base', got {prefer!r}")
    if not path.exists():
        raise RootError(f"{path}: no such checkpoint or checkpoint root")
    if is_checkpoint(path):  # the explicit form: a checkpoint directory, the gallery beside it
        root, base, adapted, ckpt = None, None, None, path
        gallery = path.parent / GALLERY
    elif path.is_dir():
        root = path
        base = path / BASE if is_checkpoint(path / BASE) else None
        if cls is not None:
            adapted = path / f"{BASE}_{cls}" if is_checkpoint(path / f"{BASE}_{cls}") else None
        else:  # no class given: the root's only adapted model, if it has exactly one
            found = [p for p in sorted(path.glob(f"{BASE}_*")) if is_checkpoint(p)]
            adapted = found[0] if len(found) == 1 else None
        ckpt = (adapted or base) if prefer == "adapted" else (base or adapted)
        if ckpt is None:
            looked = (f"{BASE}_{cls}/, " if cls is not None else f"one {BASE}_<class>/, ") + f"{BASE}/"
            raise RootError(f"{path}: no diffusion model (looked for {looked} holding {CONFIG_FILE})")
        gallery = path / GALLERY
    else:
        raise RootError(f"{path}: not a checkpoint directory or checkpoint root")
    if zoo is not None:
        zoo = Path(zoo)
        if not (zoo / "zoo.json").is_file():
            raise RootError(f"{zoo}: no zoo there (no zoo.json)")
    elif (gallery / "zoo.json").is_file():
        zoo = gallery
    elif need_zoo:
        raise RootError(f"no zoo of target INRs: looked for {gallery / 'zoo.json'}; pass --zoo DIR")
    return Resolved(ckpt, zoo, base, adapted, root)


def class_index(zoo, cls: str | int) -> int:
    """A class by number ("9") or name ("airplane") → the zoo's label (domains: the zoo's class names); RootError when
    the zoo has no INRs of that class."""

    domain = domain_of(zoo)
    try:
        idx = domain.index(cls)
    except ValueError:
        idx = -1
    if idx not in domain.labels:
        raise RootError(f"the zoo has no INRs of class {str(cls)!r}; its classes are {list(domain.class_names)}")
    return idx


def held_out_class(config: dict, zoo) -> str | None:
    """The model's few-shot (test) class, by name: the one its training recorded as `test_class`, else the first class
    of the zoo its base training left out (a model trained with a validation class leaves out two)."""

    train = config.get("train") or {}
    trained = train.get("classes")
    domain = domain_of(zoo)
    if train.get("test_class") is not None and train["test_class"] in domain.labels:
        return domain.class_names[train["test_class"]]
    if not trained:
        return None
    held = [c for c in domain.labels if c not in trained]
    return domain.class_names[held[0]] if held else None
