"""The served app reads only its own files: checkpoints, zoos and encoders by name under its roots, training data only
from uploads (or a configured data root); any path only when launched with --allow-paths."""
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from equigen_core.service.access import AccessError, AccessPolicy, name_under
from tests.conftest import free_port


@pytest.fixture(scope="module")
def layout(tiny_studio, tmp_path_factory):
    """A copy of the tiny studio's root (so symlinks added here touch no other test), a copy of its checkpoint
    outside every root, a symlink inside the root to that copy, and a work dir."""
    from equigen_core.service.studio import Studio

    st, _ = tiny_studio
    base = tmp_path_factory.mktemp("access")
    root = base / "root"
    shutil.copytree(st.root, root)
    outside = base / "elsewhere" / "diffusion"
    shutil.copytree(st.root / "diffusion", outside)
    (root / "escape").symlink_to(outside.parent, target_is_directory=True)  # root/escape/diffusion → outside
    work = base / "work"
    work.mkdir()
    return Studio.load(root), root, outside, work


def test_policy_accepts_names_under_its_roots_only(layout):
    _, root, outside, work = layout
    pol = AccessPolicy(checkpoints=(root, work), zoos=(root,))
    assert pol.checkpoint("diffusion") == root / "diffusion"
    assert pol.zoo("gallery") == root / "gallery"
    with pytest.raises(AccessError) as e:
        pol.checkpoint("no_such_model")
    ref = str(e.value).replace(repr("no_such_model"), "<v>")
    for bad in (str(root / "diffusion"), str(outside), "../elsewhere/diffusion", "escape/diffusion",
                "diffusion/../../elsewhere/diffusion"):
        with pytest.raises(AccessError) as e:
            pol.checkpoint(bad)
        assert str(e.value).replace(repr(bad), "<v>") == ref  # the same words whether it exists or not
    with pytest.raises(AccessError, match="no checkpoint given"):
        pol.checkpoint("")
    assert name_under(root / "diffusion", (work, root)) == "diffusion"
    opened = AccessPolicy(checkpoints=(root,), allow_paths=True)
    assert opened.checkpoint(str(outside)) == outside
    with pytest.raises(AccessError, match="uploads"):
        AccessPolicy().data_dir("/etc")
    data_root = outside.parent
    assert AccessPolicy(data_root=data_root).data_dir("diffusion") == data_root / "diffusion"
    with pytest.raises(AccessError):
        AccessPolicy(data_root=data_root).data_dir("../root")


def _serve(demo):
    from equigen_studio.ui import launch

    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def servers(layout):
    from equigen_studio.ui import build_demo

    st, root, outside, work = layout
    closed = build_demo(st, work_dir=work, autostart=False, root3d=None)
    opened = build_demo(st, work_dir=work, autostart=False, root3d=None, allow_paths=True)
    yield _serve(closed), _serve(opened)
    closed.close()
    opened.close()


def _generate(client, checkpoint):
    return client.predict(checkpoint, "9", "0-2", 0.3, 0.0, 5, 2, 0, 28, api_name="/generate")


def test_client_paths_are_refused_by_default_and_accepted_with_the_flag(layout, servers):
    from gradio_client import Client

    _, root, outside, _ = layout
    closed, opened = (Client(s, verbose=False) for s in servers)
    assert _generate(closed, "diffusion")[0]  # a listed name works
    for bad in (str(root / "diffusion"), str(outside), "../../etc", "escape/diffusion", "../elsewhere/diffusion"):
        with pytest.raises(Exception, match="not one this server offers") as e:
            _generate(closed, bad)
        assert "config.json" not in str(e.value) and "elsewhere/" not in str(e.value).replace(bad, "")
    with pytest.raises(Exception, match="uploads") as e:  # a data folder is not listed, nor its content
        closed.predict("folder", "/etc", 4, 22, "z", "meta", "9", None, api_name="/train_data")
    assert "PackageKit" not in str(e.value)
    with pytest.raises(Exception, match="not one this server offers"):
        closed.predict(str(root / "gallery"), "tiny", 2, 8, 1e-3, False, "e", "9", api_name="/train_encoder")
    assert _generate(opened, str(outside))[0]  # --allow-paths: a copy outside the roots loads
    assert _generate(opened, str(root / "diffusion"))[0]


def _digit_zip(path, classes=("a", "b"), per=3):
    with zipfile.ZipFile(path, "w") as zf:
        for c in classes:
            for i in range(per):
                img = Image.fromarray((np.random.default_rng(i).random((12, 12)) * 255).astype(np.uint8))
                tmp = path.parent / f"{c}{i}.png"
                img.save(tmp)
                zf.write(tmp, f"data/{c}/{i}.png")
        zf.writestr("../../evil.png", b"not written outside")
        zf.writestr("notes.txt", b"ignored")
    return path


def test_training_data_from_an_uploaded_zip(layout, tmp_path):
    from equigen_core.data import DataError
    from equigen_core.data.images import extract_image_zip, load_image_folder
    from equigen_studio.callbacks import Callbacks

    folder = extract_image_zip(_digit_zip(tmp_path / "up.zip"), tmp_path / "x")
    data = load_image_folder(folder)
    assert len(data) == 6 and data.class_names == ["a", "b"]  # the "../../" member is not among them
    assert not (tmp_path / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK not really")
    with pytest.raises(DataError, match="not a readable .zip"):
        extract_image_zip(bad, tmp_path / "y")

    st, _, _, work = layout
    cb = Callbacks(st, work, frame_interval=0)
    out = None
    for out in cb.train_data("folder", "", 0, 20, "up", "shared", "none", str(tmp_path / "up.zip"),
                             progress=lambda *a, **k: None):
        pass
    assert "6 INRs" in out[1] and "zoos/up" in cb.zoos()
