"""The app's service layer (service.studio, service.jobs): streaming, cancellation, upload checks, the
equivariance check and the γ sweep, on a tiny trained pipeline."""
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from equigen_core.service import inspection
from equigen_core.service import studio as core
from equigen_core.service.jobs import Done, stream


def test_stream_yields_progress_then_the_result():
    def work(emit, stop):
        for i in range(3):
            emit(i)
        return "done"

    items = list(stream(work))
    assert items[:3] == [0, 1, 2] and isinstance(items[3], Done) and items[3].value == "done"


def test_stream_reraises_worker_errors():
    def work(emit, stop):
        emit(1)
        raise ValueError("bad thing")

    with pytest.raises(ValueError, match="bad thing"):
        list(stream(work))


def test_closing_the_stream_stops_the_worker():
    finished = threading.Event()
    seen = []

    def work(emit, stop):
        for i in range(10_000):
            if stop():
                finished.set()
                return "stopped"
            emit(i)
            time.sleep(0.001)
        return "ran to the end"

    it = stream(work)
    for item in it:
        seen.append(item)
        if len(seen) == 3:
            break
    it.close()
    assert finished.wait(5), "the worker did not see the stop flag"


def test_generation_streams_every_step_then_the_result(tiny_studio):
    st, model = tiny_studio
    w, _ = st.candidates(9)
    items = list(core.generate_stream(model, w[:3], n=4, sampler="noise", gamma=0.3, guidance=0.0, steps=6, seed=1))
    frames = [i for i in items if isinstance(i, core.Frame)]
    assert [f.step for f in frames] == [1, 2, 3, 4, 5, 6]
    assert frames[0].images.shape == (4, 1, 28, 28)
    res = items[-1].value
    assert res.weights.shape == (4, st.spec.num_params)
    again = list(core.generate_stream(model, w[:3], n=4, sampler="noise", gamma=0.3, guidance=0.0, steps=6, seed=1))[-1].value
    other = list(core.generate_stream(model, w[:3], n=4, sampler="noise", gamma=0.3, guidance=0.0, steps=6, seed=2))[-1].value
    set_level = list(core.generate_stream(model, w[:3], n=4, sampler="noise", steps=6, seed=1, mode="set"))[-1].value
    assert (set_level.target_index == -1).all() and set_level.images.shape == (4, 1, 28, 28)
    assert torch.equal(res.weights, again.weights) and not torch.allclose(res.weights, other.weights)


@pytest.mark.parametrize("kw, msg", [(dict(k=0), "K = 0"), (dict(k=33), "at most 32"), (dict(n=0), "1–64"),
                                     (dict(gamma=-0.1), "γ"), (dict(steps=0), "steps"), (dict(guidance=2), "λ_g"),
                                     (dict(sampler="diffuse"), "sampler")])
def test_generation_arguments_are_checked(tiny_studio, kw, msg):
    st, model = tiny_studio
    w, _ = st.candidates(9)
    args = dict(k=3, n=4, gamma=0.3, guidance=0.1, steps=10) | kw
    k = args.pop("k")
    with pytest.raises(core.StudioError, match=msg):
        list(core.generate_stream(model, w[torch.arange(k) % len(w)], **args))


def test_equivariance_check_permutes_weights_but_not_function_or_features(tiny_studio):
    st, model = tiny_studio
    w, _ = st.candidates(3)
    chk = inspection.equivariance_check(model.encoder, st.spec, w[0], seed=0)
    assert chk.weight_change > 1e-2
    assert chk.render_change < 1e-5
    assert chk.feature_change < 1e-5 * max(1.0, chk.feature_scale)


def test_readouts_and_saved_samples(tiny_studio, tmp_path):
    from safetensors.torch import load_file

    st, model = tiny_studio
    w, imgs = st.candidates(9)
    res = list(core.generate_stream(model, w[:2], n=3, steps=4, seed=0))[-1].value
    reads = core.readouts(imgs[:2], imgs[:2], st.classifier)  # the targets themselves: distance 0
    assert [r.nearest_shot for r in reads] == [0.0, 0.0] and all(0 <= r.confidence <= 1 for r in reads)
    path = core.save_samples(tmp_path / "out" / "samples.safetensors", st.spec, res)
    assert torch.equal(load_file(str(path))["weights"], res.weights)


def _png(path, size=(28, 28), value=0):
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8)).save(path)
    return path


def test_uploads_are_checked_by_content_size_and_count(tmp_path):
    good = _png(tmp_path / "a.png", value=255)  # white paper: inverted to MNIST's white-on-black
    x = core.images_from_files([good])
    assert x.shape == (1, 1, 28, 28) and float(x.max()) == 0.0
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image at all")
    with pytest.raises(core.StudioError, match="fake.png"):
        core.images_from_files([fake])
    big = _png(tmp_path / "big.png", size=(4100, 8))
    with pytest.raises(core.StudioError, match="4096"):
        core.images_from_files([big])
    with pytest.raises(core.StudioError, match="at most 32"):
        core.images_from_files([good] * 33)
    with pytest.raises(core.StudioError, match="no images"):
        core.images_from_files([])


def test_uploads_fit_to_targets_aligned_with_the_gallery(tiny_studio, tmp_path):
    st, _ = tiny_studio
    from equigen_core.weightspace.inr import render_images

    _, imgs = st.candidates(9)
    Image.fromarray((imgs[0, 0].numpy() * 255).astype(np.uint8)).save(tmp_path / "nine.png")
    x = core.images_from_files([tmp_path / "nine.png"])
    w = core.fit_targets(st.spec, x, fit_cfg=st.fit_config(), init=st.fit_init)
    assert st.fit_init is not None and torch.equal(st.fit_init, st.gallery.init)
    other_w0 = st.fit_init + 0.01
    start = core.fit_targets(st.spec, x, fit_cfg=replace(st.fit_config(), max_steps=0), init=other_w0)
    assert torch.equal(start[0], other_w0)  # fitting starts from the w0 it is given, not the recipe's seeded draw
    up = st.add_uploads(None, w)
    cw, cimgs = st.candidates(9, up)
    assert len(cw) == len(st.candidates(9)[0]) + 1
    assert float((render_images(st.spec, w, 28) - x).abs().mean()) < 0.05


def test_tradeoff_sweeps_gamma_beside_the_baselines(tiny_studio):
    st, model = tiny_studio
    w, _ = st.candidates(9)
    calls = []
    tr = core.tradeoff(model, w[:4], 9, st.classifier, gammas=(0.0, 1.0, 2.0), n=8, steps=3,
                       on_progress=lambda i, t, what: calls.append((i, t)))
    assert [r.name for r in tr.samples] == ["span γ=0", "span γ=1", "span γ=2"] and len(tr.baselines) == 6
    assert tr.sampling.steps == 3 and tr.method == "EquiGen span"
    assert "span starts" in tr.baselines[-1].name  # what the span sampler starts from is its own baseline row
    assert tr.baselines[0].name == "copies of the shots" and tr.baselines[0].aligned_novelty == 0.0
    assert tr.baselines[-1].aligned_novelty > 0.0 and tr.samples[0].vendi > 0.0  # scored on their own samples
    assert calls[0] == (0, 4) and calls[-1] == (3, 4)
    rows = tr.summary()  # the frontier format the report's figure reads
    assert len(rows) == 9 and {r["family"] for r in rows} == {"equigen", "baseline"}
    assert "span sampler's promise" in tr.verdict
    noise = core.tradeoff(model, w[:4], 9, st.classifier, gammas=(0.0, 1.0), n=8, steps=3, sampler="noise")
    assert [r.name for r in noise.samples] == ["from noise γ=0", "from noise γ=1"]
    with pytest.raises(core.StudioError, match="at least 2 targets"):
        core.tradeoff(model, w[:1], 9, st.classifier, n=8)
    with pytest.raises(core.StudioError, match="γ"):
        core.tradeoff(model, w[:4], 9, st.classifier, gammas=(0.5, 9.0), n=8)


def test_feature_map_places_zoo_targets_and_samples(tiny_studio):
    st, model = tiny_studio
    w, _ = st.candidates(9)
    fm = inspection.feature_map(model.encoder, st.gallery, w[:2], w[2:5], target_class=9, sample_labels=[1, 2, 3])
    assert fm.xy.shape == (len(st.gallery) + 5, 2)
    assert fm.kinds.count("target") == 2 and fm.kinds.count("sample") == 3 and fm.labels[-1] == "3"


def test_missing_gallery_and_checkpoints_are_clear_errors(tiny_studio, tmp_path):
    from equigen_core.storage.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="gallery"):
        core.Studio.load(tmp_path)
    st, _ = tiny_studio
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        st.model(tmp_path / "nowhere")
    with pytest.raises(core.StudioError, match="class index 42 out of range"):
        st.candidates(42)
    with pytest.raises(core.StudioError, match="unknown class 'seven'"):
        st.candidates("seven")
