"""Checkpoints: a directory holding `config.json` (what to rebuild) beside `model.safetensors` (the tensors).

    ckpt_dir/
        config.json         {"schema_version", "kind", "library_version", "config", "summary", "created"}
        model.safetensors   named tensors, e.g. "model.*" (a module's state dict) and "norm.mean" / "norm.std"
        <extra files>       optional small files (e.g. a preview PNG), written verbatim

Nothing is pickled. Saving is atomic at the directory level: everything is written and fsynced into a sibling temporary
directory, which then replaces the target by rename (the old checkpoint is moved aside first and deleted last), so a
failed save leaves the previous checkpoint untouched. Loading validates every file and raises `CheckpointError`, whose
message names the file and the problem.

    save_checkpoint(path, kind="denoiser", config=config_to_dict(cfg), tensors=module_tensors(net))
    ckpt = load_checkpoint(path, kind="denoiser"); load_into_module(net, ckpt)
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

LIBRARY_VERSION = "0.1.0"  # equigen_core.__version__ (pyproject.toml says the same), recorded in every checkpoint
SCHEMA_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
_REQUIRED_KEYS = ("schema_version", "kind", "library_version", "config", "summary")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file path and what is wrong with it."""


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A validated checkpoint. `tensors` are CPU tensors keyed by their saved names."""

    path: Path  # the checkpoint directory
    kind: str
    config: dict
    summary: dict
    tensors: dict[str, Tensor]
    library_version: str

    def extra_file(self, name: str) -> bytes:
        """The bytes of an extra file saved with `extra_files={name: ...}`."""
        f = self.path / name
        if not _is_plain_name(name) or not f.is_file():
            raise CheckpointError(f"{f}: no such extra file in the checkpoint")
        return f.read_bytes()


def config_to_dict(obj) -> dict:
    """A (nested) dataclass instance → a JSON-ready dict, tuples turned into lists."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"config_to_dict expects a dataclass instance, got {type(obj).__name__}")

    def fix(v):
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        return v

    return fix(dataclasses.asdict(obj))


def module_tensors(module: torch.nn.Module, prefix: str = "model.") -> dict[str, Tensor]:
    """module.state_dict() → {prefix + name: detached CPU copy}, ready for `save_checkpoint(tensors=...)`."""
    return {prefix + k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


# ----------------------------------------------------------------------------------------------------------------------
# Saving


def _is_plain_name(name: str) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and not name.startswith(".")
            and "/" not in name and "\\" not in name and "\0" not in name)


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    if directory and os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY if directory else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prepare_tensors(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    if not isinstance(tensors, dict) or not tensors:
        raise ValueError("tensors must be a non-empty dict {name: Tensor}")
    out = {}
    for name, t in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"tensor names must be non-empty strings, got {name!r}")
        if not isinstance(t, Tensor):
            raise TypeError(f"tensor {name!r} is a {type(t).__name__}, expected a torch.Tensor")
        t = t.detach().to("cpu", copy=True).contiguous()  # a copy: safetensors refuses tensors sharing memory
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            raise ValueError(f"tensor {name!r} has non-finite values (NaN/inf); such a checkpoint could not be "
                             "loaded, so it is not saved: fix the training run first")
        out[name] = t
    return out


def save_checkpoint(path: str | Path, *, kind: str, config: dict, tensors: dict[str, Tensor],
                    summary: dict | None = None, extra_files: dict[str, bytes] | None = None,
                    half: bool = False) -> Path:
    """Write the checkpoint directory `path` atomically (see module docstring) → its Path.

    half=True stores float32 tensors as float16 (half the size, for shipped checkpoints); loading casts them back.

    An existing `path` is replaced only if it is a checkpoint (has config.json) or an empty directory.
    """
    target = Path(path)
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string such as 'denoiser', got {kind!r}")
    if not isinstance(config, dict) or not isinstance(summary or {}, dict):
        raise TypeError("config and summary must be dicts (use config_to_dict(dataclass_instance))")
    extra_files = dict(extra_files or {})
    for name, data in extra_files.items():
        if not _is_plain_name(name) or name in (CONFIG_FILE, MODEL_FILE):
            raise ValueError(f"extra file name {name!r} must be a plain, non-hidden file name other than "
                             f"{CONFIG_FILE} / {MODEL_FILE}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"extra file {name!r} must be bytes, got {type(data).__name__}")
    if target.exists():
        if not target.is_dir():
            raise ValueError(f"{target} exists and is not a directory; choose another checkpoint path")
        if not (target / CONFIG_FILE).is_file() and any(target.iterdir()):
            raise ValueError(f"{target} is a non-empty directory without {CONFIG_FILE}; refusing to replace "
                             "something that is not a checkpoint: choose another path or empty it")
    header = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "library_version": LIBRARY_VERSION,
        "config": config,
        "summary": summary or {},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if half:
        header["storage_dtype"] = "float16"
    try:
        header_text = json.dumps(header, indent=2, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"config/summary must be JSON-serialisable with finite numbers ({e}); convert dataclasses "
                         "with config_to_dict and tensors with .tolist()") from e
    prepared = _prepare_tensors(tensors)
    if half:
        prepared = {k: v.half() if v.dtype == torch.float32 else v for k, v in prepared.items()}

    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{target.name}.tmp-{secrets.token_hex(6)}"
    try:
        tmp.mkdir()
        (tmp / CONFIG_FILE).write_text(header_text + "\n", encoding="utf-8")
        save_file(prepared, str(tmp / MODEL_FILE), metadata={"kind": kind, "schema_version": str(SCHEMA_VERSION)})
        for name, data in extra_files.items():
            (tmp / name).write_bytes(bytes(data))
        for f in tmp.iterdir():
            _fsync_path(f)
        _fsync_path(tmp, directory=True)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_path(parent, directory=True)
    return target


def _swap_into_place(tmp: Path, target: Path) -> None:
    """rename(tmp → target); an existing target is moved to a sibling backup first and deleted only at the end."""
    if not target.exists():
        os.rename(tmp, target)
        return
    backup = target.parent / f".{target.name}.old-{secrets.token_hex(6)}"
    os.rename(target, backup)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(backup, target)  # put the previous checkpoint back
        raise
    shutil.rmtree(backup, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------------------------
# Loading


def _read_header(ckpt_dir: Path) -> dict:
    cfg_path = ckpt_dir / CONFIG_FILE
    if not cfg_path.is_file():
        hint = ""
        backups = sorted(ckpt_dir.parent.glob(f".{ckpt_dir.name}.old-*"))
        if backups:
            hint = f"; an interrupted save left the previous checkpoint at {backups[-1]}: rename it back to {ckpt_dir}"
        raise CheckpointError(f"{cfg_path}: missing; a checkpoint directory needs {CONFIG_FILE} and {MODEL_FILE}{hint}")
    try:
        header = json.loads(cfg_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{cfg_path}: not UTF-8 text ({e})") from e
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{cfg_path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{cfg_path}: expected a JSON object, got {type(header).__name__}")
    if "schema_version" not in header:
        raise CheckpointError(f"{cfg_path}: no 'schema_version'; this is not an equigen_core checkpoint")
    version = header["schema_version"]
    if version != SCHEMA_VERSION:
        raise CheckpointError(f"{cfg_path}: schema_version {version!r} is not supported; this library "
                              f"(equigen_core {LIBRARY_VERSION}) reads schema_version {SCHEMA_VERSION}: "
                              "re-save the checkpoint with a matching library version")
    missing = [k for k in _REQUIRED_KEYS if k not in header]
    if missing:
        raise CheckpointError(f"{cfg_path}: missing keys {missing}; expected {list(_REQUIRED_KEYS)}")
    for key, typ in (("kind", str), ("library_version", str), ("config", dict), ("summary", dict)):
        if not isinstance(header[key], typ):
            raise CheckpointError(f"{cfg_path}: {key!r} must be a {typ.__name__}, got {type(header[key]).__name__}")
    return header


def _read_tensors(model_path: Path) -> dict[str, Tensor]:
    if not model_path.is_file():
        raise CheckpointError(f"{model_path}: missing; a checkpoint directory needs {CONFIG_FILE} and {MODEL_FILE}")
    try:
        tensors = load_file(str(model_path), device="cpu")
    except Exception as e:  # safetensors raises SafetensorError / OSError / ValueError for truncated or corrupt files
        raise CheckpointError(f"{model_path}: not a readable safetensors file ({type(e).__name__}: {e}); "
                              "the file is truncated or corrupt: re-save or re-download it") from e
    for name, t in tensors.items():
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{model_path}: tensor {name!r} has {bad} non-finite value(s) (NaN/inf)")
    return tensors


def _check_expected(model_path: Path, tensors: dict[str, Tensor],
                    expected: dict[str, tuple[tuple[int, ...], torch.dtype]], *, allow_extra: bool) -> None:
    missing = sorted(set(expected) - set(tensors))
    unexpected = [] if allow_extra else sorted(set(tensors) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    for name, (shape, dtype) in expected.items():
        if name not in tensors:
            continue
        t = tensors[name]
        if tuple(t.shape) != tuple(shape):
            problems.append(f"tensor {name!r} has shape {tuple(t.shape)}, expected {tuple(shape)}")
        if t.dtype != dtype:
            problems.append(f"tensor {name!r} has dtype {t.dtype}, expected {dtype}")
    if problems:
        raise CheckpointError(f"{model_path}: " + "; ".join(problems)
                              + " (was it saved with a different config or architecture?)")


def load_checkpoint(path: str | Path, *, kind: str | None = None,
                    expected: dict[str, tuple[tuple[int, ...], torch.dtype]] | None = None,
                    allow_extra: bool = False) -> LoadedCheckpoint:
    """Read and validate the checkpoint directory `path`.

    kind: required kind, when given. expected: {name: (shape, dtype)} that the tensors must match exactly;
    allow_extra: tolerate tensors not listed in `expected`.
    """
    ckpt_dir = Path(path)
    if not ckpt_dir.is_dir():
        what = "is a file" if ckpt_dir.exists() else "does not exist"
        raise CheckpointError(f"{ckpt_dir}: {what}; a checkpoint is a directory holding {CONFIG_FILE} and {MODEL_FILE}")
    header = _read_header(ckpt_dir)
    if kind is not None and header["kind"] != kind:
        raise CheckpointError(f"{ckpt_dir / CONFIG_FILE}: checkpoint kind is {header['kind']!r}, expected {kind!r}; "
                              "pass the right checkpoint")
    model_path = ckpt_dir / MODEL_FILE
    tensors = _read_tensors(model_path)
    if header.get("storage_dtype") == "float16":  # stored at half size; computation is float32
        tensors = {k: v.float() if v.dtype == torch.float16 else v for k, v in tensors.items()}
    if expected is not None:
        _check_expected(model_path, tensors, expected, allow_extra=allow_extra)
    return LoadedCheckpoint(ckpt_dir, header["kind"], header["config"], header["summary"], tensors,
                            header["library_version"])


def load_into_module(module: torch.nn.Module, ckpt: LoadedCheckpoint, prefix: str = "model.") -> None:
    """Copy the checkpoint tensors named `prefix + key` into module.state_dict()[key], checking names/shapes/dtypes."""
    model_path = ckpt.path / MODEL_FILE
    sub = {k[len(prefix):]: v for k, v in ckpt.tensors.items() if k.startswith(prefix)}
    if not sub:
        prefixes = sorted({k.split(".", 1)[0] + "." for k in ckpt.tensors})
        raise CheckpointError(f"{model_path}: no tensors start with {prefix!r}; found prefixes {prefixes}")
    own = module.state_dict()
    expected = {prefix + k: (tuple(v.shape), v.dtype) for k, v in own.items()}
    _check_expected(model_path, {prefix + k: v for k, v in sub.items()}, expected, allow_extra=False)
    module.load_state_dict(sub, strict=True)
