"""Checkpoints: save/load round-trip, atomic replacement, and one error per way a checkpoint can be broken."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import equigen_core
from equigen_core.storage import checkpoint as ckpt_mod
from equigen_core.storage.checkpoint import (SCHEMA_VERSION, CheckpointError, config_to_dict, load_checkpoint,
                                             load_into_module, module_tensors, save_checkpoint)


@dataclass(frozen=True)
class TinyConfig:
    width: int = 4
    hidden: tuple[int, ...] = (3, 2)
    mode: str = "eps"


def _tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"model.w": torch.randn(4, 3, generator=g), "model.b": torch.randn(4, generator=g),
            "norm.mean": torch.zeros(7), "steps": torch.arange(5)}


def _save(path, seed=0, **kw):
    kw.setdefault("kind", "denoiser")
    kw.setdefault("config", config_to_dict(TinyConfig()))
    return save_checkpoint(path, tensors=_tensors(seed), **kw)


def check_same_tensors(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def test_round_trip(tmp_path):
    path = _save(tmp_path / "ck", summary={"loss": 0.25}, extra_files={"preview.txt": b"hi"})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors", "preview.txt"]
    ck = load_checkpoint(path, kind="denoiser")
    check_same_tensors(ck.tensors, _tensors())
    assert ck.config == {"width": 4, "hidden": [3, 2], "mode": "eps"} and ck.summary == {"loss": 0.25}
    assert ck.kind == "denoiser" and ck.library_version == equigen_core.__version__ and ck.path == path
    assert ck.extra_file("preview.txt") == b"hi"
    header = json.loads((path / "config.json").read_text())
    assert header["schema_version"] == SCHEMA_VERSION and "created" in header
    assert sorted(os.listdir(tmp_path)) == ["ck"]  # no temp / backup directories left


def test_overwrite_keeps_only_the_new_checkpoint(tmp_path):
    _save(tmp_path / "ck", seed=0, extra_files={"old.txt": b"x"})
    _save(tmp_path / "ck", seed=1, kind="other")
    ck = load_checkpoint(tmp_path / "ck")
    check_same_tensors(ck.tensors, _tensors(1))
    assert ck.kind == "other" and not (tmp_path / "ck" / "old.txt").exists()
    assert sorted(os.listdir(tmp_path)) == ["ck"]


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    _save(tmp_path / "ck", seed=0)
    before = {p.name: p.read_bytes() for p in (tmp_path / "ck").iterdir()}

    def broken_save_file(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ckpt_mod, "save_file", broken_save_file)
    with pytest.raises(RuntimeError, match="disk full"):
        _save(tmp_path / "ck", seed=1)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="non-finite"):  # refused before anything is written
        save_checkpoint(tmp_path / "ck", kind="denoiser", config={}, tensors={"x": torch.tensor([float("nan")])})
    assert {p.name: p.read_bytes() for p in (tmp_path / "ck").iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["ck"]
    check_same_tensors(load_checkpoint(tmp_path / "ck").tensors, _tensors(0))


def test_failed_swap_restores_previous_checkpoint(tmp_path, monkeypatch):
    _save(tmp_path / "ck", seed=0)
    real_rename, calls = os.rename, []

    def flaky_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # 1: old → backup, 2: temp → target fails
            raise OSError("rename failed")
        return real_rename(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "rename", flaky_rename)
    with pytest.raises(OSError, match="rename failed"):
        _save(tmp_path / "ck", seed=1)
    monkeypatch.undo()
    check_same_tensors(load_checkpoint(tmp_path / "ck").tensors, _tensors(0))
    assert sorted(os.listdir(tmp_path)) == ["ck"]


def test_save_refuses_bad_inputs(tmp_path):
    (tmp_path / "notckpt").mkdir()
    (tmp_path / "notckpt" / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="not a checkpoint"):
        _save(tmp_path / "notckpt")
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "a", kind="k", config={"x": object()}, tensors=_tensors())
    with pytest.raises(ValueError, match="extra file name"):
        _save(tmp_path / "a", extra_files={"../escape": b""})
    assert sorted(os.listdir(tmp_path)) == ["notckpt"]


def test_truncated_and_garbage_safetensors(tmp_path):
    path = _save(tmp_path / "ck")
    model = path / "model.safetensors"
    raw = model.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 1):  # broken header; intact header but short data
        model.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="model.safetensors"):
            load_checkpoint(path)
    model.write_bytes(os.urandom(256))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(path)
    model.unlink()
    with pytest.raises(CheckpointError, match="model.safetensors.*missing"):
        load_checkpoint(path)


def test_bad_config_json(tmp_path):
    path = _save(tmp_path / "ck")
    cfg = path / "config.json"
    header = json.loads(cfg.read_text())
    cfg.write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json.*invalid JSON"):
        load_checkpoint(path)
    cfg.write_text(json.dumps({**header, "schema_version": 99}))
    with pytest.raises(CheckpointError, match="schema_version 99.*reads schema_version 1"):
        load_checkpoint(path)
    cfg.write_text(json.dumps({k: v for k, v in header.items() if k != "config"}))
    with pytest.raises(CheckpointError, match="missing keys \\['config'\\]"):
        load_checkpoint(path)
    cfg.unlink()
    with pytest.raises(CheckpointError, match="config.json.*missing"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")


def test_wrong_kind(tmp_path):
    path = _save(tmp_path / "ck", kind="denoiser")
    with pytest.raises(CheckpointError, match="'denoiser', expected 'zoo'"):
        load_checkpoint(path, kind="zoo")


def test_expected_names_shapes_dtypes(tmp_path):
    path = _save(tmp_path / "ck")
    spec = {k: (tuple(v.shape), v.dtype) for k, v in _tensors().items()}
    load_checkpoint(path, expected=spec)
    with pytest.raises(CheckpointError, match=r"'model.w' has shape \(4, 3\), expected \(4, 5\)"):
        load_checkpoint(path, expected={**spec, "model.w": ((4, 5), torch.float32)})
    with pytest.raises(CheckpointError, match="'steps' has dtype torch.int64, expected torch.float32"):
        load_checkpoint(path, expected={**spec, "steps": ((5,), torch.float32)})
    partial = {k: v for k, v in spec.items() if k != "steps"}
    with pytest.raises(CheckpointError, match=r"unexpected tensors \['steps'\]"):
        load_checkpoint(path, expected=partial)
    load_checkpoint(path, expected=partial, allow_extra=True)
    with pytest.raises(CheckpointError, match=r"missing tensors \['model.extra'\]"):
        load_checkpoint(path, expected={**spec, "model.extra": ((1,), torch.float32)}, allow_extra=True)


def test_nan_tensor_is_named(tmp_path):
    from safetensors.torch import save_file  # write the bad file directly: save_checkpoint refuses NaN

    path = _save(tmp_path / "ck")
    bad = _tensors()
    bad["model.b"][2] = float("inf")
    save_file(bad, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="model.safetensors.*'model.b'.*non-finite"):
        load_checkpoint(path)


def test_module_round_trip_and_mismatch(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    path = save_checkpoint(tmp_path / "net", kind="mlp", config={"widths": [3, 4, 2]},
                           tensors={**module_tensors(net), "norm.std": torch.ones(3)})
    ck = load_checkpoint(path, kind="mlp")
    twin = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    load_into_module(twin, ck)
    x = torch.randn(5, 3)
    assert torch.equal(twin(x), net(x))

    wider = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    shape_msg = r"model.safetensors.*'model.0.weight' has shape \(4, 3\), expected \(8, 3\)"
    with pytest.raises(CheckpointError, match=shape_msg):
        load_into_module(wider, ck)
    deeper = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match=r"missing tensors \['model.3.bias', 'model.3.weight'\]"):
        load_into_module(deeper, ck)
    with pytest.raises(CheckpointError, match="no tensors start with 'ema.'"):
        load_into_module(twin, ck, prefix="ema.")


def test_half_storage_round_trips_within_float16_precision(tmp_path):
    t = {"model.w": torch.randn(64, 32)}
    save_checkpoint(tmp_path / "h", kind="k", config={}, tensors=t, half=True)
    full = save_checkpoint(tmp_path / "f", kind="k", config={}, tensors=t)
    assert (tmp_path / "h" / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    back = load_checkpoint(tmp_path / "h", kind="k").tensors["model.w"]
    assert back.dtype == torch.float32
    torch.testing.assert_close(back, t["model.w"], atol=2e-3, rtol=1e-3)


def test_atomic_writer_keeps_the_old_file_when_a_write_fails(tmp_path):
    from equigen_core.storage.atomic import atomic_path, atomic_write_text

    path = atomic_write_text(tmp_path / "sub" / "result.json", '{"ok": 1}')
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(path) as tmp:
            tmp.write_text('{"ok": ')  # half written, then the writer dies
            raise RuntimeError("disk full")
    assert path.read_text() == '{"ok": 1}' and sorted(p.name for p in path.parent.iterdir()) == ["result.json"]
    atomic_write_text(path, '{"ok": 2}')
    assert path.read_text() == '{"ok": 2}' and len(list(path.parent.iterdir())) == 1
