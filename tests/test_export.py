"""Generated INRs leave in the common SIREN state-dict layout and come back identical."""
from __future__ import annotations

import json
import zipfile

import gradio as gr
import pytest
import torch

from equigen_core.weightspace.inr import render_images
from equigen_core.weightspace.weights import load_siren_state_dict
from equigen_studio.callbacks import Callbacks


def test_exported_state_dicts_round_trip_to_identical_renders(tiny_studio, tmp_path):
    st, _ = tiny_studio
    cb = Callbacks(st, tmp_path, frame_interval=0)
    with pytest.raises(gr.Error, match="generate samples first"):
        cb.export(None)
    *_, (grid, summary, rows, path, last) = cb.generate(cb.default_checkpoint(), "9", "0-3", 1.0, 0.1, 20, 5, 0, 28,
                                                        0.8, None, None)
    zpath = cb.export(last)
    with zipfile.ZipFile(zpath) as z:
        names = sorted(z.namelist())
        z.extractall(tmp_path / "x")
    assert names == [f"sample_{i:02d}.pth" for i in range(5)] + ["spec.json"]
    assert json.loads((tmp_path / "x" / "spec.json").read_text())["hidden"] == list(st.spec.hidden)
    back = torch.stack([load_siren_state_dict(tmp_path / "x" / f"sample_{i:02d}.pth", st.spec) for i in range(5)])
    assert torch.equal(back, last["weights"])
    assert torch.equal(render_images(st.spec, back, 28), render_images(st.spec, last["weights"], 28))
    sd = torch.load(tmp_path / "x" / "sample_00.pth", weights_only=True)  # what another tool reads
    assert sd["seq.0.weight"].shape == (st.spec.hidden[0], st.spec.in_dim)
