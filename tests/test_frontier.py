"""The few-shot frontier: baselines make valid INRs, SDEdit refinement, the learned baselines, `evaluate --quick`,
`ablate --quick` and `report` (on the tiny real pipeline of conftest's tiny_studio)."""
import json
import math

import pytest
import torch

from equigen_core.evaluation.protocol import augment_shots, interpolate_shots, noise_shots
from equigen_core.evaluation.frontier import METRICS, dominated_by, meets_goal, summarize
from equigen_core.weightspace.inr import render_images


@pytest.fixture(scope="module")
def tiny(tiny_studio):
    st, model = tiny_studio
    gallery = st.gallery
    shots = gallery.select(gallery.labels == 9).weights[:5]
    return st, model, shots


def test_cheap_baselines_make_valid_inrs(tiny):
    _, model, shots = tiny
    spec, g = model.spec, torch.Generator().manual_seed(0)
    for w in (noise_shots(shots, 12, 0.2, g), interpolate_shots(shots, 12, g), augment_shots(spec, shots, 1.0, g)):
        assert w.shape == (len(w), spec.num_params) and torch.isfinite(w).all()
        img = render_images(spec, w, 28)
        assert img.shape[1:] == (1, 28, 28) and torch.isfinite(img).all()
    # strength 0 is the identity; σ = 0 noise gives copies; interpolation stays on segments between shots
    assert torch.allclose(augment_shots(spec, shots, 0.0, g), shots, atol=1e-6)
    assert all(any(torch.equal(r, s) for s in shots) for r in noise_shots(shots, 6, 0.0, g))
    two = shots[:2]
    mid = interpolate_shots(two, 8, g)
    lam = ((mid - two[1]) / (two[0] - two[1])).median(dim=1).values
    assert torch.allclose(mid, lam[:, None] * two[0] + (1 - lam[:, None]) * two[1], atol=1e-5)


def test_refine_stays_near_its_starts_at_small_t0_and_drifts_at_large(tiny):
    from equigen_core.generation.fewshot import refine

    _, model, shots = tiny
    starts = shots[torch.arange(8) % len(shots)]
    target = render_images(model.spec, starts, 28)
    drift = {t0: float((refine(model, starts, start_t=t0, steps=20, seed=0).images - target).pow(2).mean())
             for t0 in (0, 500, 950)}
    assert drift[0] < 1e-3 < drift[950], drift
    assert drift[0] < drift[500] < drift[950], drift
    with pytest.raises(ValueError, match="start_t"):
        refine(model, starts, start_t=1000)


def test_plain_and_unconditional_finetuning_run_and_sample(tiny):
    import dataclasses

    from equigen_core.generation.fewshot import generate, sample_unconditional
    from equigen_core.training.stage3 import FinetuneConfig, finetune

    st, model, shots = tiny
    plain = finetune(model.path, shots, None, FinetuneConfig.plain(20, batch_size=16, lr=1e-3), progress=False)
    assert plain.best_step == 20 and plain.heldout_curve == []  # no early stopping: the last state is kept
    assert plain.shots_curve[-1][1] < plain.shots_curve[0][1]  # it fits the shots
    m = dataclasses.replace(model, denoiser=plain.model)
    assert torch.isfinite(generate(m, shots, 3, steps=4).weights).all()
    unc = finetune(model.path, shots, st.gallery, FinetuneConfig(steps=10, batch_size=16, holdout=0,
                                                                  unconditional=True, augment=None), progress=False)
    out = sample_unconditional(dataclasses.replace(model, denoiser=unc.model), 4, steps=4)
    assert out.weights.shape == (4, model.spec.num_params) and torch.isfinite(out.images).all()


def test_goal_and_domination_on_a_toy_summary():
    def row(name, family, acc, nov, div=0.3, speckle=1.0):
        m = {k: 0.0 for k in METRICS} | {"accuracy": acc, "aligned_novelty": nov, "diversity": div,
                                        "speckle": speckle}
        return {"method": name, "family": family, "knob": "", "value": None, "mean": m, "std": m}

    summary = [row("real", "reference", 0.95, 1.0), row("aug", "baseline", 0.9, 0.7),
               row("good", "equigen", 0.9, 0.85), row("copyish", "equigen", 0.9, 0.6),
               row("speckled", "equigen", 0.9, 0.9, speckle=3.0)]
    assert meets_goal(summary[2], summary) and not meets_goal(summary[4], summary)
    assert not meets_goal(summary[3], summary)
    assert dominated_by(summary[2], summary) == [] and dominated_by(summary[3], summary) == [summary[1]]
    noisy = row("noise", "baseline", 0.95, 0.95, speckle=5.0)  # better on both axes, but by adding speckle
    assert dominated_by(summary[2], summary + [noisy]) == []
    assert dominated_by(summary[4], summary + [noisy]) == []  # 3× vs 5×: still noisier
    assert dominated_by(row("x", "equigen", 0.9, 0.9, speckle=6.0), summary + [noisy]) == [noisy]


def test_summarize_gives_mean_and_std_over_seeds():
    from equigen_core.evaluation.frontier import Point

    pts = [Point("m", "equigen", "γ", 0.3, s, {k: float(s) for k in METRICS}, 0.1) for s in (0, 2)]
    (row,) = summarize(pts)
    assert row["seeds"] == [0, 2] and row["mean"]["accuracy"] == 1.0 and row["std"]["accuracy"] == 1.0


@pytest.fixture(scope="module")
def quick_json(tiny, tmp_path_factory):
    from equigen_core.cli import main

    st, model, _ = tiny
    out = tmp_path_factory.mktemp("frontier") / "data" / "frontier_quick.json"
    assert main(["evaluate", "--quick", "--checkpoint", str(model.path), "--zoo", str(st.root / "gallery"),
                 "--k", "5", "--json", str(out)]) == 0
    return out


def test_evaluate_quick_writes_every_field(quick_json):
    data = json.loads(quick_json.read_text())
    assert {"command", "date", "machine", "checkpoint", "zoo", "config", "seconds", "goal"} <= set(data["meta"])
    methods = {r["method"] for r in data["summary"]}
    for expected in ("real images (a disjoint set)", "INRs of real images of the class", "copies of the shots",
                     "shots + weight noise", "interpolation of two shots", "exact geometric augmentations",
                     "interpolation + geometric augmentation", "mixtures of the shots (no augmentation)",
                     "span starts: mixtures + geometric augmentation (no denoiser)", "EquiGen span (base)",
                     "EquiGen from noise (base)", "EquiGen from augmentations (base)", "EquiGen span (adapted)",
                     "plain fine-tuning on the shots", "unconditional diffusion on base + shots"):
        assert expected in methods
    assert data["meta"]["protocol"] == 2
    assert {"accuracy", "coverage_vs_noise", "no_baseline_ahead"} <= set(data["verdict"])
    # the span sampler's γ = 0 row starts from the shots themselves: its starts row is a set of copies
    starts0 = next(r for r in data["summary"] if r["method"].startswith("span starts") and r["value"] == 0.0)
    assert starts0["mean"]["aligned_novelty"] == 0.0
    for r in data["summary"]:
        assert set(r["mean"]) == set(METRICS), r
        assert all(math.isfinite(v) for k, v in r["mean"].items() if k != "fd"), r  # FD: nan below 3 distinct
    copies = next(r for r in data["summary"] if r["method"] == "copies of the shots")
    assert copies["mean"]["aligned_novelty"] == 0.0 and copies["mean"]["novelty"] == 0.0
    assert len(data["points"]) == len(data["summary"])  # one seed in quick mode


def test_ablate_quick_and_report_render_from_the_fixture(tiny, quick_json):
    from equigen_core.evaluation.ablations import AblationConfig, run
    from equigen_core.nets.classifier import default_classifier_path, load_classifier
    from equigen_core.cli import main
    from equigen_core.reporting.report import render_results

    st, model, _ = tiny
    out_dir = quick_json.parent.parent
    with pytest.raises(FileNotFoundError, match="frontier"):
        render_results(out_dir / "empty")
    assert main(["report", "--out", str(out_dir / "empty")]) == 2
    enc = model.encoder
    ab = run(AblationConfig.quick(k=5, n=8, condition="features"), zoo=st.gallery, encoder=enc, encoder_smooth=enc,
             base_model=model,
             classifier=load_classifier(default_classifier_path()), other_zoo=lambda init: st.gallery,
             progress=False)
    assert [r["variant"] for r in ab["stage2"]] == ["default (shipped recipe)", "class label"]
    assert all(0 <= r["held_in_accuracy"] <= 1 and r["steps"] > 0 for r in ab["stage2"])
    assert ab["meta"]["protocol"] == 2 and ab["meta"]["config"]["cls"] == 8  # measured on the validation class
    for r in ab["stage2"]:  # protocol v2 from noise and with the span sampler
        assert all(0 <= r[f"{s}_{m}"] <= 1 for s in ("noise", "span") for m in ("accuracy", "coverage")), r
        # (a few training steps may draw faint samples with no stray ink at all: a ratio of 0 is a measurement)
        assert math.isfinite(r["noise_off_stroke_ratio"]) and r["noise_off_stroke_ratio"] >= 0, r
        assert r["span_vendi"] >= 1 and r["cpu_seconds"] > 0
    assert {r["mode"] for r in ab["mode"]} == {"per-target", "set"}
    (out_dir / "data" / "ablations.json").write_text(json.dumps(ab))
    (out_dir / "results_log.md").write_text("# Old\n\n## A hand-written section\n")
    path = render_results(out_dir)
    text = path.read_text()
    assert "(protocol v2)" in text and "| copies of the shots |" in text and "### Verdict" in text
    assert "**no_baseline_ahead**" in text and "## Ablations (protocol v2)" in text and "class label" in text
    assert "| noise: accuracy |" in text
    assert "## A hand-written section" in text
    assert (out_dir / "img" / "frontier_quick.png").stat().st_size > 10_000


def test_evaluate_fewshot_cli_writes_the_protocol_table(tiny, tmp_path, capsys):
    from equigen_core.cli import main

    st, model, _ = tiny
    out = tmp_path / "fewshot.json"
    assert main(["evaluate", "fewshot", "--checkpoint", str(model.path), "--zoo", str(st.root / "gallery"),
                 "--k", "5", "--n", "8", "--gammas", "0,0.5", "--steps", "4", "--json", str(out)]) == 0
    said = capsys.readouterr().out
    assert "| samples | accuracy |" in said and "class 9" in said  # the class the model held out, by default
    res = json.loads(out.read_text())
    rows = {r["name"]: r for r in res["rows"]}
    assert res["class"] == 9 and res["k"] == 5 and {"base γ=0", "base γ=0.5"} <= set(rows)
    assert rows["baseline: copies of the shots"]["aligned_novelty"] == 0.0
    assert all(r["n"] == 8 and 0 <= r["accuracy"] <= 1 for r in res["rows"])


def test_v2_verdict_names_a_baseline_ahead_on_all_three_and_only_then():
    from equigen_core.evaluation.frontier import INR_REFERENCE, NOISE, SPAN, Point, verdict

    def pts(method, family, knob, value, acc, cov, ink, jitter=0.01):
        return [Point(method, family, knob, value, s, {k: 0.5 for k in METRICS} | {
            "accuracy": acc + jitter * s, "coverage": cov + jitter * s, "off_stroke": ink + jitter * s,
            "aligned_novelty": 0.7}, 0.0) for s in range(5)]

    points = (pts(INR_REFERENCE, "reference", "", None, 1.0, 0.9, 1.0)
              + pts(SPAN, "equigen", "γ", 0.0, 0.95, 0.20, 0.8) + pts(SPAN, "equigen", "γ", 1.0, 0.92, 0.45, 0.8)
              + pts(NOISE, "equigen", "γ", 0.3, 0.9, 0.2, 3.0)
              + pts("all three", "baseline", "", None, 0.99, 0.60, 0.5)  # more accurate, covering and cleaner
              + pts("two of three", "baseline", "", None, 0.99, 0.60, 2.0))  # but inkier
    from dataclasses import asdict

    res = {"points": [asdict(p) for p in points], "summary": summarize(points),
           "meta": {"config": {"sampling": {"gamma": 1.0}}}}
    v = verdict(res)
    assert v["no_baseline_ahead"]["value"] == ["all three"] and not v["no_baseline_ahead"]["met"]
    assert v["accuracy"]["met"] and v["coverage_vs_noise"]["met"] and v["off_stroke_ratio"]["met"]
    assert v["gamma_sweep"]["met"] and v["gamma_sweep"]["value"]["peak"] == 1.0


def _toy_result(span_cov, rival_cov):
    """A protocol-v2 result with the span row, one clean and accurate baseline and the INR yardstick, over seeds."""
    from equigen_core.evaluation.frontier import INR_REFERENCE, SPAN

    rows = [(SPAN, "γ", 1.0, "equigen", span_cov), ("interpolation of two shots", "", None, "baseline", rival_cov),
            (INR_REFERENCE, "", None, "reference", [0.9] * len(span_cov))]
    points, summary = [], []
    for method, knob, value, family, cov in rows:
        for seed, c in enumerate(cov):
            points.append({"method": method, "knob": knob, "value": value, "seed": seed,
                           "metrics": {"accuracy": 0.97, "coverage": c, "off_stroke": 1.0, "aligned_novelty": 0.7}})
        summary.append({"method": method, "knob": knob, "value": value, "family": family,
                        "mean": {"accuracy": 0.97, "coverage": sum(cov) / len(cov), "off_stroke": 1.0,
                                 "aligned_novelty": 0.7}})
    return {"meta": {"config": {"sampling": {"gamma": 1.0}}}, "summary": summary, "points": points}


def test_the_stretch_check_needs_the_paired_difference_beyond_its_interval():
    from equigen_core.evaluation.frontier import verdict

    noisy = verdict(_toy_result([0.62, 0.30, 0.64, 0.35, 0.57], [0.50, 0.45, 0.48, 0.47, 0.52]))
    assert noisy["stretch"]["value"]["coverage"] > noisy["stretch"]["value"]["its_coverage"]  # ahead on the means
    assert not noisy["stretch"]["met"]  # but not beyond the interval of the paired difference
    clear = verdict(_toy_result([0.60, 0.58, 0.62, 0.61, 0.59], [0.50, 0.47, 0.52, 0.49, 0.51]))
    value = clear["stretch"]["value"]
    assert clear["stretch"]["met"] and value["paired_diff"] > value["paired_ci95"]
