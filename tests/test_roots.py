"""Checkpoint roots on the command line, and what --limit means for every dataset."""
import json
from pathlib import Path

import pytest
import torch

from equigen_core.service.roots import RootError, class_index, held_out_class, resolve

ROOT = Path(__file__).resolve().parent.parent


def _ckpt(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


def _zoo(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "zoo.json").write_text("{}")
    return path


def test_a_root_resolves_to_the_adapted_model_for_the_class_else_the_base(tmp_path):
    root = tmp_path / "root"
    base, nine = _ckpt(root / "diffusion"), _ckpt(root / "diffusion_9")
    gallery = _zoo(root / "gallery")
    r = resolve(root, cls="9")
    assert (r.checkpoint, r.zoo, r.base, r.adapted) == (nine, gallery, base, nine)
    assert "adapted" in r.describe() and str(nine) in r.describe()
    assert resolve(root, cls="3").checkpoint == base  # no diffusion_3: the base model
    assert resolve(root, cls="9", prefer="base").checkpoint == base
    assert resolve(base).checkpoint == base and resolve(base).zoo == gallery  # the explicit form: the sibling gallery
    other = _zoo(tmp_path / "other")
    assert resolve(root, cls="9", zoo=other).zoo == other


def test_a_root_with_only_an_adapted_model_and_missing_pieces(tmp_path):
    shapes = tmp_path / "shapes"
    plane = _ckpt(shapes / "diffusion_airplane")
    _zoo(shapes / "gallery")
    assert resolve(shapes).checkpoint == plane  # its only adapted model
    assert resolve(shapes, cls="airplane", prefer="base").checkpoint == plane  # no base: the adapted one
    with pytest.raises(RootError, match=r"diffusion_car/, diffusion/"):
        resolve(shapes, cls="car")
    empty = tmp_path / "empty"
    _zoo(empty / "gallery")
    with pytest.raises(RootError, match="no diffusion model"):
        resolve(empty, cls="9")
    lonely = _ckpt(tmp_path / "lonely" / "diffusion")
    with pytest.raises(RootError, match=r"gallery/zoo.json; pass --zoo"):
        resolve(lonely)
    assert resolve(lonely, need_zoo=False).zoo is None
    with pytest.raises(RootError, match="no such checkpoint"):
        resolve(tmp_path / "nope")
    with pytest.raises(RootError, match="no zoo there"):
        resolve(lonely, zoo=tmp_path / "nope")


def test_classes_by_number_or_name_and_the_held_out_class():
    from equigen_core.data.zoo import load_zoo

    mnist, shapes = load_zoo(ROOT / "checkpoints/mnist/gallery"), load_zoo(ROOT / "checkpoints/shapes/gallery")
    assert class_index(mnist, "9") == 9 and class_index(shapes, "airplane") == 0 and class_index(shapes, 2) == 2
    with pytest.raises(RootError, match="no INRs of class 'boat'"):
        class_index(shapes, "boat")
    cfg = json.loads((ROOT / "checkpoints/mnist/diffusion/config.json").read_text())["config"]
    assert held_out_class(cfg, mnist) == "9"
    cfg3 = json.loads((ROOT / "checkpoints/shapes/diffusion/config.json").read_text())["config"]
    assert held_out_class(cfg3, shapes) == "airplane"


def test_generate_takes_the_shipped_root(tmp_path, capsys):
    from safetensors.torch import load_file

    from equigen_core.cli import main

    out = tmp_path / "out"
    assert main(["generate", "--checkpoint", str(ROOT / "checkpoints/mnist"), "--k", "10", "--n", "4",
                 "--steps", "5", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "checkpoints/mnist/diffusion (the base model" in said and "class 9" in said
    assert (out / "samples.png").is_file() and load_file(str(out / "samples.safetensors"))["weights"].shape[0] == 4
    assert main(["generate", "--checkpoint", str(tmp_path), "--out", str(out)]) == 2
    assert "no diffusion model (looked for one diffusion_<class>/, diffusion/" in capsys.readouterr().err


def test_balanced_subset_is_exact_and_spread_over_classes():
    from equigen_core.data import balanced_subset
    from equigen_core.data.mnist import balanced_index

    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2])
    assert balanced_subset(labels, 5).tolist() == [0, 1, 4, 5, 6]  # turns: 0, 1, 2, then 0, 1
    assert balanced_subset(labels, None).tolist() == list(range(9)) and len(balanced_subset(labels, 100)) == 9
    idx = balanced_index(8)
    assert len(idx) == 8 and len(balanced_index(200)) == 200  # the first 20 of each digit, as before
    assert balanced_index(200).tolist()[:20] == list(range(20))


def test_limit_bounds_a_shape_zoo(tmp_path):
    from equigen_core.data.zoo import build_shape_zoo
    from equigen_core.weightspace.fit import FitConfig

    zoo = build_shape_zoo(["airplane", "car", "chair"], 100, limit=8, points=256, rounds=1, iou_res=8,
                          progress=False, fit_cfg=FitConfig(loss="bce", target_psnr=None, max_steps=2, pool=8))
    assert len(zoo) == 8 and zoo.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert zoo.index.tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
