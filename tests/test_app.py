"""The Gradio app on a tiny real pipeline: it builds, its callbacks stream and validate, and a launched server answers
gradio_client calls (streaming, concurrency, errors)."""
import time

import gradio as gr
import pytest

from equigen_core.evaluation.metrics import off_stroke_ink
from equigen_core.weightspace.inr import render_images
from equigen_studio.callbacks import Callbacks, parse_selection
from equigen_studio.ui import build_demo, launch
from tests.conftest import free_port, wait_done


@pytest.fixture(scope="module")
def demo(tiny_studio, tmp_path_factory):
    st, _ = tiny_studio
    return build_demo(st, work_dir=tmp_path_factory.mktemp("work"), autostart=False)


@pytest.fixture(scope="module")
def server(demo):
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_demo_builds_with_every_named_endpoint(demo):
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"generate", "tradeoff", "tsne", "train", "verify", "adapt", "rerender", "train_data", "train_encoder",
            "train_finetune", "fit_uploads"} <= names


def test_a_click_toggles_a_target_and_k_stays_at_most_32():
    from equigen_studio.common import toggled

    assert toggled([0, 3], 3) == [0] and toggled([0], 5) == [0, 5]
    assert len(toggled(list(range(31)), 40)) == 32
    with pytest.raises(gr.Error, match="at most 32 targets"):  # the 2D and the 3D gallery share this bound
        toggled(list(range(32)), 40)


def test_selection_parsing():
    assert parse_selection("0, 3, 5-7", 10) == [0, 3, 5, 6, 7]
    assert parse_selection("", 10) == []
    with pytest.raises(ValueError, match="out of range"):
        parse_selection("12", 10)
    with pytest.raises(ValueError, match="gallery indices"):
        parse_selection("a", 10)


def test_generate_callback_streams_frames_then_results(tiny_studio, tmp_path):
    st, _ = tiny_studio
    cb = Callbacks(st, tmp_path, frame_interval=0)
    ck = cb.default_checkpoint()
    outs = list(cb.generate(ck, "9", "0-3", 0.3, 0.1, 5, 4, 0, 28, 1.0, None, None, False, "from noise (EquiGen)"))
    assert len(outs) == 6  # 5 DDIM steps, then the final grid
    assert "DDIM step 1/5" in outs[0][1] and "from noise" in outs[-1][1]
    # the default, the span sampler, runs only the DDIM steps at t ≤ t0 (t0 = 50 of 1,000: 2 of 50)
    span_outs = list(cb.generate(ck, "9", "0-3", 1.0, 0.1, 50, 4, 0, 28, 1.0, None, None))
    assert len(span_outs) == 3 and "span sampler" in span_outs[-1][1] and "DDIM step 1/2" in span_outs[0][1]
    with pytest.raises(gr.Error, match="unknown sampler"):
        list(cb.generate(ck, "9", "0-3", 1.0, 0.1, 20, 4, 0, 28, 1.0, None, None, False, "magic"))
    grid, summary, rows, path, last = outs[-1]
    assert grid.size[0] > 28 and "4 samples" in summary and len(rows) == 4 and path.endswith("samples.safetensors")
    big = cb.rerender(last, 112)
    assert big.size[0] > grid.size[0] // 2
    with pytest.raises(gr.Error, match=r"γ \(gamma\) = -1, expected 0–2"):
        list(cb.generate(ck, "9", "0-3", -1, 0.1, 5, 4, 0, 28, 1.0, None, None))
    with pytest.raises(gr.Error, match="K = 0"):
        list(cb.generate(ck, "9", "", 0.3, 0.1, 5, 4, 0, 28, 1.0, None, None))


def test_verify_callback_shows_equal_renders(tiny_studio, tmp_path):
    import numpy as np

    st, _ = tiny_studio
    cb = Callbacks(st, tmp_path, frame_interval=0)
    img, fig, md = cb.verify(cb.default_checkpoint(), "9", 0, 1, None, None)
    assert "rendered image" in md and fig is not None
    pix = np.asarray(img).astype(float)  # before | after, tiled with 1-px padding, then upscaled 4×
    w = (pix.shape[1] // 4 - 3) // 2  # render side in pixels
    before = pix[4: 4 * (1 + w), 4: 4 * (1 + w)]
    after = pix[4: 4 * (1 + w), 4 * (w + 2): 4 * (2 * w + 2)]
    assert before.shape == after.shape == (4 * w, 4 * w)
    assert before.std() > 1 and np.abs(before - after).max() <= 1  # a real image, the same after the permutation


def test_client_generate_streams_and_returns_image_and_weights(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    job = client.submit("diffusion", "9", "0-4", 0.3, 0.0, 8, 4, 0, 28, api_name="/generate")
    outs = wait_done(job)
    assert len(outs) > 1, "generate should stream intermediate x̂0 grids"
    final = outs[-1]
    assert final[0] and final[3] and str(final[3]).endswith("samples.safetensors")


def test_client_concurrent_generate_calls_all_succeed(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    jobs = [client.submit("diffusion", "9", "0-4", 0.5, 0.0, 5, 2, seed, 28, api_name="/generate")
            for seed in range(8)]
    files = []
    for j in jobs:
        files.append(wait_done(j)[-1][3])
    from safetensors.torch import load_file

    weights = [load_file(str(f))["weights"] for f in files]
    assert all(w.shape[0] == 2 for w in weights)
    assert not (weights[0] == weights[1]).all(), "different seeds must give different samples"


def test_client_bad_values_come_back_as_errors(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    # out-of-range slider values are refused by the component itself, with the bound (presets.BOUNDS) in the message
    for args, msg in [((-0.5, 0.0, 5, 2), "less than minimum value 0"), ((0.3, 0.0, 0, 2), "minimum value 1"),
                      ((0.3, 0.0, 5, 0), "minimum value 1"), ((0.3, 1.5, 5, 2), "greater than maximum value 1")]:
        with pytest.raises(Exception, match=msg):
            client.predict("diffusion", "9", "0-4", *args, 0, 28, api_name="/generate")
    with pytest.raises(Exception, match="K = 0"):
        client.predict("diffusion", "9", "", 0.3, 0.0, 5, 2, 0, 28, api_name="/generate")
    with pytest.raises(Exception, match="out of range"):
        client.predict("diffusion", "9", "0,99", 0.3, 0.0, 5, 2, 0, 28, api_name="/generate")
    with pytest.raises(Exception, match="minimum value 0.05"):
        client.predict("diffusion", "9", "0-4", 0.3, 0.0, 5, 2, 0, 28, 0.0, api_name="/generate")  # τ = 0
    with pytest.raises(Exception, match="not one this server offers"):
        client.predict("no/such/model", "9", "0-4", 0.3, 0.0, 5, 2, 0, 28, api_name="/generate")


def noprog(*a, **k):  # stands in for gr.Progress outside a request
    pass


def _last(gen):
    out = None
    for out in gen:
        pass
    return out


def test_train_tab_builds_a_zoo_and_trains_all_three_stages(tiny_studio, tmp_path):
    st, _ = tiny_studio
    cb = Callbacks(st, tmp_path / "work", frame_interval=0)
    plot, md, *_ = _last(cb.train_data("mnist", "", 40, 22, "z", progress=noprog))
    zoo = "zoos/z"  # what the Train tab wrote is offered by name (the server reads nothing else)
    assert "40 INRs" in md and zoo in cb.zoos()
    plot, md, *_ = _last(cb.train_encoder(zoo, "tiny", 4, 16, 1e-3, False, "e", progress=noprog))
    enc = "encoders/e"
    assert "kNN accuracy" in md and enc in cb.encoders()
    plot, md, ck, *_ = _last(cb.train_diffusion(zoo, enc, "tiny", 6, 16, 1e-3, 0.1, "d", progress=noprog))
    assert "Wrote" in md and "diffusion/d" in ck["choices"]
    base = "diffusion/d"
    plot, md, *_ = _last(cb.train_finetune(base, zoo, "9", 3, 4, 0.1, "d9", progress=noprog))
    assert "early stopping" in md and (tmp_path / "work" / "diffusion" / "d9" / "config.json").is_file()
    with pytest.raises(gr.Error, match="output name"):
        _last(cb.train_encoder(zoo, "tiny", 4, 16, 1e-3, False, "../evil", progress=noprog))


def test_cancelling_training_stops_the_worker_and_keeps_the_last_good_checkpoint(tiny_studio, tmp_path,
                                                                                  monkeypatch):
    import equigen_core.training.stage1 as train

    st, _ = tiny_studio
    cb = Callbacks(st, tmp_path / "work", frame_interval=0)
    _last(cb.train_data("mnist", "", 40, 22, "z", progress=noprog))
    zoo = "zoos/z"
    _last(cb.train_encoder(zoo, "tiny", 3, 16, 1e-3, False, "e", progress=noprog))
    weights = tmp_path / "work" / "encoders" / "e" / "model.safetensors"
    before = weights.read_bytes()
    steps = []  # one entry per training step: the loop asks should_stop once a step
    real = train.train_encoder

    def counted(*a, should_stop=None, **k):
        def stop():
            steps.append(1)
            return should_stop()
        return real(*a, should_stop=stop, **k)

    monkeypatch.setattr(train, "train_encoder", counted)
    run = cb.train_encoder(zoo, "tiny", 100_000, 16, 1e-3, False, "e", progress=noprog)  # far too long
    next(run)  # the run has started (its first progress update)
    deadline = time.monotonic() + 60
    while len(steps) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(steps) >= 5, "the worker did not start stepping"
    run.close()  # what Gradio's Cancel does to a generator
    time.sleep(1.0)  # the worker sees the stop flag at its next step
    stopped_at = len(steps)
    time.sleep(1.0)
    assert len(steps) == stopped_at < 100_000  # the counter stopped: the worker ended, not just the generator
    assert weights.read_bytes() == before


def test_missing_checkpoints_give_a_readable_page_not_a_traceback(tmp_path):
    demo = build_demo(root=tmp_path / "nowhere", work_dir=tmp_path)
    text = " ".join(str(getattr(b, "value", "")) for b in demo.blocks.values())
    assert "could not be loaded" in text and "gallery" in text


def test_adapt_and_tradeoff_callbacks(tiny_studio, tmp_path):
    st, _ = tiny_studio
    cb = Callbacks(st, tmp_path, frame_interval=0)
    adapted, dd, md, fig = cb.adapt(cb.default_checkpoint(), "9", "0-5", 20, None, progress=noprog)
    assert "Adapted" in md and dd["value"] == "(adapted in this session)" and adapted.denoiser is not None
    outs = list(cb.generate(dd["value"], "9", "0-5", 0.3, 0.0, 3, 2, 0, 28, 1.0, None, adapted))
    assert "2 samples" in outs[-1][1]
    outs = list(cb.generate(dd["value"], "9", "0-5", 0.3, 0.0, 3, 2, 0, 28, 1.0, None, adapted, True))  # set-level
    assert "2 samples" in outs[-1][1]
    with pytest.raises(gr.Error, match="K ≥ 3"):
        cb.adapt(cb.default_checkpoint(), "9", "0,1", 20, None, progress=noprog)
    fig, rows, verdict = cb.tradeoff(cb.default_checkpoint(), "9", "0-5", "0, 1", 8, 0, None, None, steps=3,
                                     progress=noprog)
    assert [r[0] for r in rows[:2]] == ["span γ=0", "span γ=1"] and len(rows) == 9 and "γ" in verdict
    assert "only γ varies" in verdict and "3 DDIM steps" in verdict
    # the cheap baselines, then the INRs of the class's other gallery images: the off-stroke yardstick
    assert rows[2][0] == "copies of the shots" and rows[-1][0] == "INRs of real images of the class"
    assert len(fig.data) == 2 * 8  # protocol v2's two panels, 8 curves
    with pytest.raises(gr.Error, match="numbers separated by commas"):
        cb.tradeoff(cb.default_checkpoint(), "9", "0-5", "0, x", 8, 0, None, None, progress=noprog)


@pytest.mark.parametrize("sampler", ["span of the targets (default)", "from noise (EquiGen)"])
def test_a_sweep_at_the_generate_tabs_gamma_reproduces_its_accuracy(tiny_studio, tmp_path, sampler):
    """The Trade-off tab sweeps with the Generate tab's knobs: its point at Generate's γ is Generate's samples."""
    st, _ = tiny_studio
    cb = Callbacks(st, tmp_path, frame_interval=0)
    ck, gamma, guidance, steps, n, seed, temperature, t0 = cb.default_checkpoint(), 0.7, 0.2, 30, 16, 3, 0.9, 80
    *_, (grid, summary, rows, path, last) = cb.generate(ck, "9", "0-9", gamma, guidance, steps, n, seed, 28,
                                                        temperature, None, None, False, sampler, t0)
    generated = sum(r[2] == 9 for r in rows) / n
    _, trows, verdict = cb.tradeoff(ck, "9", "0-9", f"0, {gamma}", n, seed, None, None, sampler, guidance, steps,
                                    temperature, t0, False, progress=noprog)
    swept = next(r for r in trows if r[0].endswith(f"γ={gamma:g}"))
    assert swept[1] == round(generated, 3), (swept, generated, summary)
    # accuracy alone is often 1.0 for both: the off-stroke ink of the very same samples pins them down
    ink = float(off_stroke_ink(render_images(st.spec, last["weights"], 28)).mean())
    assert swept[5] == round(ink, 3), (swept, ink)


def test_uploads_are_fitted_into_candidates_and_bad_files_refused(tiny_studio, tmp_path):
    import numpy as np
    from PIL import Image

    st, _ = tiny_studio
    cb = Callbacks(st, tmp_path, frame_interval=0)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    Image.fromarray(digit).save(tmp_path / "one.png")
    uploads, items, selection, md, chosen = cb.fit_uploads([str(tmp_path / "one.png")], "9", None, progress=noprog)
    n = len(st.candidates(9)[0])
    assert len(items) == n + 1 and selection == str(n) and "(upload)" in items[-1][1]
    assert "K = 1" in md and [c for _, c in chosen] == [f"#{n}"]  # the selected thumbnails are shown
    outs = list(cb.generate(cb.default_checkpoint(), "9", selection, 0.3, 0.0, 3, 2, 0, 28, 1.0, uploads, None))
    assert "K = 1" in outs[-1][1]
    (tmp_path / "evil.png").write_text("<script>not an image</script>")
    with pytest.raises(gr.Error, match="evil.png"):
        cb.fit_uploads([str(tmp_path / "evil.png")], "9", None, progress=noprog)


def test_every_event_has_an_api_name(demo):
    unnamed = [d for d in demo.fns.values() if not d.api_name]
    assert not unnamed, f"events without an api_name: {[d.name for d in unnamed]}"
