"""The Gradio app on a tiny real pipeline: it builds, its callbacks stream and validate, and a launched server answers
gradio_client calls (streaming, concurrency, errors)."""
import socket
import time

import gradio as gr
import pytest

from app.callbacks import Callbacks, parse_selection
from app.ui import build_demo, launch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    outs = list(cb.generate(ck, "9", "0-3", 0.3, 0.1, 5, 4, 0, 28, None, None))
    assert len(outs) == 6  # 5 DDIM steps, then the final grid
    assert "DDIM step 1/5" in outs[0][1]
    grid, summary, rows, path, last = outs[-1]
    assert grid.size[0] > 28 and "4 samples" in summary and len(rows) == 4 and path.endswith("samples.safetensors")
    big = cb.rerender(last, 112)
    assert big.size[0] > grid.size[0] // 2
    with pytest.raises(gr.Error, match="γ must be"):
        list(cb.generate(ck, "9", "0-3", -1, 0.1, 5, 4, 0, 28, None, None))
    with pytest.raises(gr.Error, match="K = 0"):
        list(cb.generate(ck, "9", "", 0.3, 0.1, 5, 4, 0, 28, None, None))


def test_verify_callback_shows_equal_renders(tiny_studio, tmp_path):
    st, _ = tiny_studio
    cb = Callbacks(st, tmp_path, frame_interval=0)
    img, fig, md = cb.verify(cb.default_checkpoint(), "9", 0, 1, None, None)
    assert "rendered image" in md and fig is not None and img.size[0] > 0


def test_client_generate_streams_and_returns_image_and_weights(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    job = client.submit("diffusion", "9", "0-4", 0.3, 0.0, 8, 4, 0, 28, api_name="/generate")
    while not job.done():
        time.sleep(0.05)
    outs = job.outputs()
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
        while not j.done():
            time.sleep(0.05)
        files.append(j.outputs()[-1][3])
    from safetensors.torch import load_file

    weights = [load_file(str(f))["weights"] for f in files]
    assert all(w.shape[0] == 2 for w in weights)
    assert not (weights[0] == weights[1]).all(), "different seeds must give different samples"


def test_client_bad_values_come_back_as_errors(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    # out-of-range slider values are refused by the component itself, with the bound in the message
    for args, msg in [((-0.5, 0.0, 5, 2), "less than minimum value 0"), ((0.3, 0.0, 0, 2), "minimum value 5"),
                      ((0.3, 0.0, 5, 0), "minimum value 1")]:
        with pytest.raises(Exception, match=msg):
            client.predict("diffusion", "9", "0-4", *args, 0, 28, api_name="/generate")
    with pytest.raises(Exception, match="K = 0"):
        client.predict("diffusion", "9", "", 0.3, 0.0, 5, 2, 0, 28, api_name="/generate")
    with pytest.raises(Exception, match="out of range"):
        client.predict("diffusion", "9", "0,99", 0.3, 0.0, 5, 2, 0, 28, api_name="/generate")
    with pytest.raises(Exception, match="not a checkpoint directory"):
        client.predict("no/such/model", "9", "0-4", 0.3, 0.0, 5, 2, 0, 28, api_name="/generate")
