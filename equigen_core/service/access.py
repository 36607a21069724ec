"""What a served app may read: checkpoints, zoos and encoders by *name* under the folders it owns, and training data
only from uploads or a data root its operator configured.

A name is a relative path such as "diffusion" or "zoos/mine", looked up under each allowed root in turn; it is accepted
only if the folder it resolves to (symlinks followed) lies inside that root. Absolute paths, ".." that leaves the root,
symlinks out of it and copies elsewhere are refused with a message that names nothing on the server's disk. An app
launched with `--allow-paths` (local use) also takes any path.

    policy = AccessPolicy(checkpoints=(root, work / "diffusion"), zoos=(...), encoders=(...))
    policy.checkpoint("diffusion")       # → Path under one of the roots
    policy.checkpoint("../../etc")       # AccessError
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class AccessError(ValueError):
    """A path the server will not read; the message reveals nothing about the server's file system."""


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def name_under(path: str | Path, roots) -> str:
    """How a folder is offered in the app: its path relative to the first root that holds it (else as given)."""
    p = Path(path).resolve()
    for root in map(Path, roots):
        r = root.resolve()
        if _inside(p, r) and p != r:
            return p.relative_to(r).as_posix()
    return str(path)


@dataclass(frozen=True)
class AccessPolicy:
    checkpoints: tuple[Path, ...] = ()
    zoos: tuple[Path, ...] = ()
    encoders: tuple[Path, ...] = ()
    data_root: Path | None = None  # training data folders the operator allows (None: uploads only)
    allow_paths: bool = False  # local use: any path is accepted as well

    def _resolve(self, value, roots, what: str, marker: str) -> Path:
        text = str(value or "").strip()
        if not text:
            raise AccessError(f"no {what} given")
        p = Path(text)
        if not p.is_absolute() and ".." not in p.parts:
            for root in map(Path, roots):
                cand = root / p
                if (cand / marker).is_file() and _inside(cand.resolve(), root.resolve()):
                    return cand
        if self.allow_paths and (p / marker).is_file():
            return p
        raise AccessError(f"{what} {text!r} is not one this server offers; pick one from the list"
                          + ("" if self.allow_paths else " (paths are accepted only when the app is started with "
                                                         "--allow-paths)"))

    def checkpoint(self, value) -> Path:
        return self._resolve(value, self.checkpoints, "checkpoint", "config.json")

    def zoo(self, value) -> Path:
        return self._resolve(value, self.zoos, "zoo", "zoo.json")

    def encoder(self, value) -> Path:
        return self._resolve(value, self.encoders, "encoder", "config.json")

    def data_dir(self, value) -> Path:
        """A training-data folder: under the configured data root (by name), or any folder with --allow-paths."""
        text = str(value or "").strip()
        p = Path(text)
        if text and self.data_root is not None and not p.is_absolute() and ".." not in p.parts:
            cand = self.data_root / p
            if cand.is_dir() and _inside(cand.resolve(), self.data_root.resolve()):
                return cand
        if text and self.allow_paths and p.is_dir():
            return p
        raise AccessError("this server reads training data only from uploads"
                          + (" or by folder name under its data root" if self.data_root is not None else "")
                          + (f"; {text!r} is not one of them" if text else "")
                          + ("" if self.allow_paths else " (start the app with --allow-paths to read local folders)"))
