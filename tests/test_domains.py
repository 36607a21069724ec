"""Any image zoo, not only MNIST: a colour image folder with 3 classes the test draws goes through `train all
--preset tiny`, `evaluate`, and the app's Generate tab, judged by the classifier `train all` trained on that data."""
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from equigen_core.cli import main

CLASSES = {"discs": (220, 40, 40), "squares": (40, 180, 60), "triangles": (50, 80, 230)}


def draw_folder(root, per_class: int = 20, size: int = 28):
    """root/<class>/<i>.png: coloured discs, squares and triangles at random places and sizes on black."""
    rng = np.random.default_rng(0)
    for name, colour in CLASSES.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = Image.new("RGB", (size, size))
            d = ImageDraw.Draw(img)
            r = int(rng.integers(6, 10))
            cx, cy = (int(v) for v in rng.integers(r + 1, size - r - 1, 2))
            box = (cx - r, cy - r, cx + r, cy + r)
            if name == "discs":
                d.ellipse(box, fill=colour)
            elif name == "squares":
                d.rectangle(box, fill=colour)
            else:
                d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
            img.save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("domains")
    data = draw_folder(base / "shapes2d")
    out, work = base / "ckpt", base / "work"
    assert main(["train", "all", "--preset", "tiny", "--dataset", "folder", "--data-dir", str(data),
                 "--class", "triangles", "--k", "3", "--out", str(out), "--work", str(work)]) == 0
    return out, work


def test_train_all_on_a_colour_folder_writes_a_root_with_its_own_classifier(folder_root):
    from equigen_core.data.zoo import load_zoo
    from equigen_core.domains.images import ImageDomain

    out, work = folder_root
    zoo = load_zoo(work / "zoo")
    assert zoo.spec.out_dim == 3 and zoo.meta["class_names"] == sorted(CLASSES) and len(zoo) == 60
    domain = ImageDomain.of(zoo)
    assert domain.classes() == [0, 1, 2] and not domain.is_mnist
    real = domain.real_images(zoo, 2)
    assert real.shape[1:] == (3, 28, 28) and len(real) == int(((zoo.labels == 2) & (zoo.split == 1)).sum())
    clf = domain.classifier(out)
    assert clf is not None and clf.cfg.channels == 3 and clf.cfg.num_classes == 3
    assert (out / "diffusion_triangles" / "config.json").is_file()
    # the yardstick reads the zoo's own renders of the held-out split
    from equigen_core.weightspace.inr import render_images

    test = zoo.test()
    acc = float((clf.predict(render_images(zoo.spec, test.weights, 28)) == test.labels).float().mean())
    assert acc >= 0.75, acc


def test_evaluate_runs_on_the_folder_root(folder_root, tmp_path, capsys):
    out, work = folder_root
    res = tmp_path / "frontier.json"
    assert main(["evaluate", "--checkpoint", str(out), "--zoo", str(work / "zoo"), "--class", "triangles", "--k", "3",
                 "--quick", "--json", str(res)]) == 0  # the root's own classifier, found by itself
    data = json.loads(res.read_text())
    rows = {r["method"]: r for r in data["summary"]}
    assert {"real images (a disjoint set)", "copies of the shots", "EquiGen span (base)"} <= set(rows)
    assert rows["copies of the shots"]["mean"]["aligned_novelty"] == 0.0
    real = rows["real images (a disjoint set)"]
    assert real["mean"]["accuracy"] >= 0.5  # the classifier knows the held-out triangles


def test_the_app_generates_from_the_folder_root(folder_root):
    from equigen_core.service.studio import Studio
    from equigen_studio.callbacks import Callbacks

    out, _ = folder_root
    st = Studio.load(out)
    assert st.classifier is not None and st.classifier.cfg.channels == 3  # the root's own yardstick
    cb = Callbacks(st, out.parent / "app_work", frame_interval=0)
    ck = cb.default_checkpoint()
    assert ck == "diffusion" and cb.default_class(ck) == 2
    from equigen_studio.common import class_choices

    names = list(st.domain.class_names)  # the folder's subfolders, sorted; the dropdown shows them by name
    assert class_choices(st) == [(f"{i}: {n}", str(i)) for i, n in enumerate(names)] and len(names) == 3
    assert st.candidates(names[2])[0].shape == st.candidates("2")[0].shape  # a class by name or by number
    frames = list(cb.generate(ck, "2", "0-1", 0.3, 0.3, 5, 4, 0, 28, 0.8, None, None))
    grid, summary, readout, weights_file, last = frames[-1]
    assert grid is not None and "4 samples" in summary and len(readout) == 4
    assert last["weights"].shape == (4, st.spec.num_params) and torch.isfinite(last["weights"]).all()
