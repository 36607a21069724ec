"""One sampling object: a default or a bound changed in presets is what the library, the CLI and the app's sliders
use, with nothing else edited."""
from __future__ import annotations

from dataclasses import replace

import gradio as gr
import pytest
import torch

from equigen_core import presets
from equigen_core.cli import build_parser
from equigen_core.commands.common import sampling_from_args
from equigen_core.data import DataError
from equigen_core.generation import fewshot
from equigen_studio.ui import build_demo


def _slider(demo: gr.Blocks, label_start: str) -> gr.Slider:
    found = [b for b in demo.blocks.values() if isinstance(b, gr.Slider) and (b.label or "").startswith(label_start)]
    assert len(found) >= 1, f"no slider labelled {label_start!r}"
    return found[0]  # the 2D Generate tab's comes first


def test_sampling_check_names_every_knob_out_of_range():
    with pytest.raises(ValueError) as e:
        presets.IMAGES.replace(gamma=-1.0, guidance=3.0)
    assert "γ (gamma) = -1" in str(e.value) and "λ_g (guidance) = 3" in str(e.value)
    with pytest.raises(ValueError, match="sampler='magic'"):
        presets.IMAGES.replace(sampler="magic")
    assert presets.IMAGES.replace(gamma=None) == presets.IMAGES  # None keeps a knob


def test_a_default_or_bound_changes_in_one_place_and_every_surface_follows(monkeypatch, tiny_studio, tmp_path):
    st, model = tiny_studio
    w, _ = st.candidates(9)
    targets = w[:3]
    high = 2.5  # beyond the shipped γ bound (0–2)
    with pytest.raises(ValueError, match="γ"):
        fewshot.span(model, targets, 2, gamma=high, steps=2)

    changed = replace(presets.IMAGES, gamma=0.65, guidance=0.45)
    monkeypatch.setattr(presets, "IMAGES", changed)
    monkeypatch.setitem(presets.BOUNDS, "gamma", (0.0, 3.0))

    # the library: defaults and the bound
    assert fewshot.sampling_for(2) == changed
    out = fewshot.span(model, targets, 2, steps=2, seed=3)
    ref = fewshot.sample(model, targets, 2, changed.replace(steps=2), seed=3)
    assert torch.equal(out.weights, ref.weights)
    noisy = fewshot.generate(model, targets, 2, steps=2, seed=3)  # λ_g and γ from the changed default
    assert torch.equal(noisy.weights, fewshot.sample(model, targets, 2, changed.replace(sampler="noise", steps=2),
                                                     seed=3).weights)
    assert not torch.equal(noisy.weights, fewshot.generate(model, targets, 2, steps=2, seed=3, guidance=0.3).weights)
    assert fewshot.span(model, targets, 2, gamma=high, steps=2).weights.shape == (2, model.spec.num_params)

    # the command line: its defaults, its check and its help
    parser = build_parser()
    args = parser.parse_args(["generate", "--checkpoint", "x", "--out", str(tmp_path)])
    s = sampling_from_args(args, 2)
    assert (s.gamma, s.guidance) == (0.65, 0.45)
    assert sampling_from_args(parser.parse_args(["generate", "--checkpoint", "x", "--out", str(tmp_path),
                                                 "--gamma", str(high)]), 2).gamma == high
    with pytest.raises(DataError, match="γ"):
        sampling_from_args(parser.parse_args(["generate", "--checkpoint", "x", "--out", str(tmp_path),
                                              "--gamma", "3.5"]), 2)
    gamma_help = next(a.help for a in parser._subparsers._group_actions[0].choices["generate"]._actions
                      if "--gamma" in a.option_strings)
    assert "0.65 for images" in gamma_help and "0–3" in gamma_help

    # the app: the Generate tab's sliders
    demo = build_demo(st, work_dir=tmp_path / "work", autostart=False, root3d=None)
    gamma = _slider(demo, "γ — diversity")
    assert (gamma.value, gamma.minimum, gamma.maximum) == (0.65, 0.0, 3.0)
    assert _slider(demo, "λ_g").value == 0.45
