"""Meshes a user brings: folder layouts, formats, normalisation, occupancy (open3d and the torch fallback agree),
warnings for non-watertight meshes, clear errors, and a mesh zoo built from the CLI."""
import os
import warnings

import numpy as np
import pytest
import torch
import trimesh

from equigen_core.data import DataError
from equigen_core.data.meshes import find_mesh_files, load_mesh, load_meshes, mesh_occupancy


def box(extents=(2.0, 1.0, 0.5), center=(3.0, 0.0, 0.0)):
    m = trimesh.creation.box(extents=extents)
    m.apply_translation(center)
    return m


@pytest.fixture
def shapenet_like(tmp_path):
    """<root>/<category>/<id>/models/model_normalized.obj, in two categories, plus other formats."""
    root = tmp_path / "ShapeNetLike"
    for cat, makers in {"02691156": [box, lambda: trimesh.creation.cylinder(radius=0.3, height=2.0)],
                        "03001627": [lambda: trimesh.creation.icosphere(subdivisions=2)]}.items():
        for i, make in enumerate(makers):
            d = root / cat / f"id{i}" / "models"
            d.mkdir(parents=True)
            make().export(d / "model_normalized.obj")
            (d / "notes.txt").write_text("not a mesh")
    return root


def test_shapenet_layout_categories_and_limit(shapenet_like):
    found = find_mesh_files(shapenet_like)
    assert [c for c, _ in found] == ["02691156", "02691156", "03001627"]
    assert all(p.name == "model_normalized.obj" for _, p in found)
    ms = load_meshes(shapenet_like, limit=2)  # at most 2 in all, spread over the categories
    assert ms.class_names == ["02691156", "03001627"] and ms.labels.tolist() == [0, 1]
    assert load_meshes(shapenet_like, limit=1).labels.tolist() == [0]
    assert len(load_meshes(shapenet_like, categories=["03001627"])) == 1
    with pytest.raises(DataError, match="no mesh files"):
        find_mesh_files(shapenet_like, categories=["nope"])


@pytest.mark.parametrize("ext", ["obj", "off", "ply", "stl", "glb"])
def test_formats_load_and_normalise_to_the_unit_cube(tmp_path, ext):
    path = tmp_path / f"b.{ext}"
    box().export(path)
    m = load_mesh(path)
    assert m.watertight and len(m.faces) == 12
    assert np.allclose(m.vertices.min(0), [-0.9, -0.45, -0.225], atol=1e-5)  # longest side 2 → 1.8, centred
    assert np.allclose(m.vertices.max(0), [0.9, 0.45, 0.225], atol=1e-5)


def _has_open3d() -> bool:
    try:
        import open3d  # noqa: F401
    except Exception:
        return False
    return True


def test_winding_occupancy_is_exact_on_a_box(tmp_path):
    path = tmp_path / "b.stl"
    box().export(path)
    m = load_mesh(path)
    pts = torch.tensor([[0.0, 0.0, 0.0], [0.8, 0.4, 0.2], [0.95, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, -0.3]])
    assert torch.equal(mesh_occupancy(m, pts, "winding"), torch.tensor([True, True, False, False, False]))
    grid = torch.rand(3000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert float(mesh_occupancy(m, grid, "winding").float().mean()) == pytest.approx(1.8 * 0.9 * 0.45 / 8, abs=0.02)


@pytest.mark.skipif(not _has_open3d(), reason="open3d-cpu is not importable here (Debian needs libusb-1.0-0): the "
                    "two occupancy backends cannot be compared")
def test_open3d_and_winding_backends_agree_on_a_box_and_on_a_shipped_mesh(tmp_path):
    path = tmp_path / "b.stl"
    box().export(path)
    m = load_mesh(path)
    grid = torch.rand(3000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.equal(mesh_occupancy(m, grid, "open3d"), mesh_occupancy(m, grid, "winding"))
    import gradio

    sofia = os.path.join(os.path.dirname(gradio.__file__), "media_assets", "models3d", "sofia.stl")
    if os.path.exists(sofia):  # a real, watertight mesh shipped with gradio
        s = load_mesh(sofia)
        assert s.watertight
        a = mesh_occupancy(s, grid[:300], "open3d")
        assert torch.equal(a, mesh_occupancy(s, grid[:300], "winding"))


def test_open3d_backend_when_available_and_a_clear_message_when_not(tmp_path):
    path = tmp_path / "b.ply"
    box().export(path)
    m = load_mesh(path)
    try:
        import open3d  # noqa: F401
    except Exception:
        with pytest.raises(DataError, match="open3d-cpu"):
            mesh_occupancy(m, torch.zeros(1, 3), "open3d")
    else:
        assert bool(mesh_occupancy(m, torch.zeros(1, 3), "open3d"))


def test_non_watertight_warns_and_bad_files_are_clear_errors(tmp_path):
    open_box = box()
    open_box.faces = open_box.faces[:-2]  # remove one side
    d = tmp_path / "open"
    d.mkdir()
    open_box.export(d / "open.obj")
    with pytest.warns(UserWarning, match="not watertight"):
        ms = load_meshes(d)
    assert ms.class_names == ["open"]
    (tmp_path / "bad.obj").write_text("this is not an obj file\n")
    with pytest.raises(DataError, match="bad.obj"):
        load_mesh(tmp_path / "bad.obj")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="not a mesh file"):
        load_mesh(tmp_path / "x.txt")
    with pytest.raises(DataError, match="not a directory"):
        find_mesh_files(tmp_path / "missing")


def test_mesh_training_points_and_a_mesh_zoo_from_the_cli(shapenet_like, tmp_path):
    from equigen_core.cli import main
    from equigen_core.data.zoo import load_zoo

    ms = load_meshes(shapenet_like)
    pts, occ = ms.training_points(400, seed=0)
    assert pts.shape == (3, 400, 3) and torch.equal(occ.bool(), ms.occupancy(pts))
    assert occ[:, :200].mean() > occ[:, 200:].mean()  # near-surface points are inside more often
    out = tmp_path / "zoo"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # these meshes are watertight: no warning expected
        assert main(["build-zoo", "--dataset", "meshes", "--data-dir", str(shapenet_like), "--max-steps", "5",
                     "--points", "256", "--meta-steps", "2", "--out", str(out)]) == 0
    zoo = load_zoo(out)
    assert len(zoo) == 3 and zoo.meta["class_names"] == ["02691156", "03001627"] and len(zoo.meta["meshes"]) == 3
    assert main(["build-zoo", "--dataset", "meshes", "--out", str(tmp_path / "z2")]) == 2  # no --data-dir
