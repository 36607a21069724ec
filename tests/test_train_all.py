"""`train all --preset tiny` end to end: meta-learned zoo → encoder → diffusion in the principal subspace → adaptation,
and the outputs work together (the gallery carries the zoo's init; `generate` runs on them)."""
import json

import torch

from equigen_core.cli import main
from equigen_core.data.zoo import load_zoo
from equigen_core.generation.fewshot import FewShotModel
from equigen_core.weightspace.weights import PCAStats


def test_train_all_tiny_makes_a_consistent_set_of_checkpoints(tmp_path):
    out, work = tmp_path / "ckpt", tmp_path / "work"
    assert main(["train", "all", "--preset", "tiny", "--out", str(out), "--work", str(work)]) == 0
    zoo, gallery = load_zoo(work / "zoo"), load_zoo(out / "gallery")
    assert zoo.meta["init"] == "meta" and zoo.meta["meta_init"]["excluded_classes"] == [9]
    assert gallery.init is not None and torch.equal(gallery.init, zoo.init)  # uploads are fitted from the same w0
    enc_cfg = json.loads((out / "encoder" / "config.json").read_text())["config"]
    assert enc_cfg["encoder"]["probe_in_head"] and enc_cfg["train"]["classes"] == list(range(9))
    model = FewShotModel.load(out / "diffusion")
    assert isinstance(model.process.weight_norm, PCAStats)
    assert torch.equal(model.inr_init, zoo.init)  # stored exactly, although the checkpoint is saved at half size
    assert torch.equal(FewShotModel.load(out / "diffusion_9").inr_init, zoo.init)
    assert main(["generate", "--checkpoint", str(out / "diffusion"), "--zoo", str(out / "gallery"), "--k", "2",
                 "--n", "4", "--steps", "3", "--out", str(tmp_path / "gen")]) == 0
    assert (tmp_path / "gen" / "samples.png").stat().st_size > 0


def test_train_all_tiny3d_fits_the_zoo_from_a_meta_init_without_the_held_out_category(tmp_path):
    """`train all --preset tiny3d`: the shape path of the same recipe (Reptile init that never saw airplanes → zoo →
    encoder → diffusion over the weights, conditioned on the probe → adaptation), and the root works as a whole."""
    out, work = tmp_path / "ckpt", tmp_path / "work"
    assert main(["train", "all", "--preset", "tiny3d", "--category", "airplane", "--val-class", "chair", "--k", "3",
                 "--out", str(out), "--work", str(work)]) == 0
    zoo, gallery = load_zoo(work / "zoo"), load_zoo(out / "gallery")
    assert zoo.meta["init"] == "meta" and zoo.meta["meta_init"]["excluded_classes"] == [0, 2]  # airplane, chair
    assert zoo.meta["meta_init"]["shapes"] == 16  # the training split (4 of 5) of the four other categories
    assert gallery.meta["validation_class"] == "chair"
    train = FewShotModel.load(out / "diffusion").config["train"]
    assert train["classes"] == [1, 3, 4, 5] and train["test_class"] == 0 and train["validation_class"] == 2
    assert gallery.init is not None and torch.equal(gallery.init, zoo.init)  # uploads are fitted from the same w0
    model = FewShotModel.load(out / "diffusion_airplane")
    assert model.config["diffusion"]["condition"] == "probe" and torch.equal(model.inr_init, zoo.init)
    from equigen_core.generation.fewshot import generate

    samples = generate(model, zoo.weights[zoo.labels == 0][:3], 2, steps=3, guidance=0.0).weights
    assert samples.shape == (2, zoo.spec.num_params) and torch.isfinite(samples).all()
