"""Protocol v2's section of docs/RESULTS.md and its figure (also the app's Trade-off plot for v2 results).

    frontier2_figure(result["summary"])             # plotly: coverage vs accuracy, off-stroke ink vs Vendi
    section(result, "frontier_mnist9_v2", img_dir)  # markdown: table with 95 % intervals, the verdict

A v2 result is what `evaluate` writes (evaluation.frontier; meta["protocol"] == 2).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from equigen_core.evaluation.frontier import GOAL, off_stroke_ratio
from equigen_core.evaluation.protocol3d import checks_3d
from equigen_core.evaluation.runner import curves, row_label
from equigen_core.reporting.plotstyle import finish_plotly, mpl_style, plotly_style, save_png, two_panels


def _ci(row: dict, m: str, fmt: str = ".2f") -> str:
    h = row.get("ci95", {}).get(m, float("nan"))
    v = row["mean"][m]
    return f"{v:{fmt}} ± {h:{fmt}}" if h == h and h > 0 else f"{v:{fmt}}"


def _rows(curve, summary: Sequence[dict]) -> list[dict]:
    return [r for r in summary if r["method"] == curve.method]


def _intervals(curve, summary: Sequence[dict]) -> dict[str, list[float]]:
    """The curve's 95 % half-widths of the plotted metrics (0 where there is none: one seed)."""
    out = {}
    for m in ("accuracy", "coverage", "vendi"):
        vals = [r.get("ci95", {}).get(m, 0.0) for r in _rows(curve, summary)]
        out[m] = [0.0 if v != v else v for v in vals]
    return out


def _ratios(curve, summary: Sequence[dict]) -> list[float]:
    return [off_stroke_ratio(r, summary) for r in _rows(curve, summary)]


def frontier2_figure(summary: Sequence[dict], title: str = ""):
    """Left: accuracy against coverage of real images of the class (up and right is better); right: Vendi score
    against off-stroke ink relative to the INRs of real images (up and left is better). Error bars: 95 % intervals."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("faithful vs covering the class", "clean vs diverse"))
    for i, c in enumerate(curves(summary)):
        ci, ratio = _intervals(c, summary), _ratios(c, summary)
        common = plotly_style(c, i)
        fig.add_trace(go.Scatter(x=c.mean["coverage"], y=c.mean["accuracy"],
                                 error_x=dict(array=ci["coverage"], thickness=1),
                                 error_y=dict(array=ci["accuracy"], thickness=1),
                                 hovertemplate=f"{c.method} %{{text}}: accuracy %{{y:.2f}}, coverage %{{x:.2f}}"
                                               "<extra></extra>", **common), row=1, col=1)
        fig.add_trace(go.Scatter(x=ratio, y=c.mean["vendi"], showlegend=False,
                                 error_y=dict(array=ci["vendi"], thickness=1),
                                 hovertemplate=f"{c.method} %{{text}}: Vendi %{{y:.1f}}, off-stroke %{{x:.2f}}×"
                                               "<extra></extra>", **common), row=1, col=2)
    fig.add_hline(y=GOAL["accuracy"], line=dict(dash="dash", color="grey", width=1), row=1, col=1)
    fig.add_vline(x=GOAL["off_stroke_ratio"], line=dict(dash="dash", color="grey", width=1), row=1, col=2)
    return finish_plotly(fig, title, [
        (dict(title_text="coverage of real images of the class (PRDC, k = 5)"),
         dict(title_text="classified as the class", range=[-0.02, 1.02])),
        (dict(title_text="off-stroke ink (× INRs of real images; 1 = as clean)", type="log"),
         dict(title_text="Vendi score (pixel RBF kernel)"))])


def frontier2_png(summary: Sequence[dict], path: Path, title: str = "") -> Path:
    """The same two panels as a static PNG (matplotlib) for the markdown report."""
    fig, axes, cmap = two_panels()
    for i, c in enumerate(curves(summary)):
        color, marker, line = mpl_style(c, i, cmap)
        ci, ratio = _intervals(c, summary), _ratios(c, summary)
        axes[0].errorbar(c.mean["coverage"], c.mean["accuracy"], xerr=ci["coverage"], yerr=ci["accuracy"],
                         fmt=line + marker, color=color, lw=1.2, ms=7, capsize=2, label=c.method)
        axes[1].errorbar(ratio, c.mean["vendi"], yerr=ci["vendi"], fmt=line + marker, color=color, lw=1.2, ms=7,
                         capsize=2)
        if c.knob:
            for x, y, v in zip(c.mean["coverage"], c.mean["accuracy"], c.values):
                axes[0].annotate(f"{v:g}", (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    axes[0].axhline(GOAL["accuracy"], color="grey", ls=":", lw=1)
    axes[1].axvline(GOAL["off_stroke_ratio"], color="grey", ls=":", lw=1)
    axes[0].set(xlabel="coverage of real images of the class (PRDC, k = 5)", ylabel="classified as the class",
                ylim=(-0.02, 1.03), title="faithful vs covering the class (labels: knob; bars: 95 % intervals)")
    axes[1].set(xlabel="off-stroke ink (× INRs of real images; 1 = as clean)", ylabel="Vendi score (pixel RBF)",
                xscale="log", title="clean vs diverse")
    axes[0].legend(fontsize=6, loc="lower left")
    return save_png(fig, path, title)


def section(data: dict, name: str, img_dir: Path) -> str:
    """The markdown of one v2 result: how it was run, the table (mean ± 95 % interval over seeds) and the verdict."""
    meta, summary = data["meta"], data["summary"]
    cfg, smp = meta["config"], meta["config"]["sampling"]
    title = (f"MNIST, class {cfg['cls']}, K = {cfg['k']}, n = {cfg['n']}, {len(cfg['seeds'])} seeds "
             f"(protocol v2)")
    frontier2_png(summary, img_dir / f"{name}.png", title)
    lines = [f"## {title}", "",
             f"`{meta['command'] or 'python -m equigen_core evaluate ...'}` — seeds {cfg['seeds']} (each seed draws "
             f"its own K shots and its own reference halves), {meta['date']}, {meta['machine']}; "
             f"{meta['seconds'] / 60:.1f} min. Checkpoint `{meta['checkpoint']}`, shots from "
             f"`{meta.get('zoo', '?')}`. Default sampler: {smp['sampler']}, γ = {smp['gamma']:g}, t0 = {smp['t0']}, "
             f"mix = {smp['mix']}, augmentation {smp['augment']:g}, λ_g = {smp['guidance']:g}, τ = "
             f"{smp['temperature']:g}, {smp['steps']} DDIM steps. Mean ± t-based 95 % interval over seeds.", "",
             f"![protocol v2](img/{name}.png)", "",
             "| method | knob | accuracy | aligned novelty | coverage | density | Vendi | off-stroke × | FD | "
             "pixel diversity |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        knob = f"{r['knob']} = {r['value']:g}" if r["knob"] else ""
        lines.append(f"| {r['method']} | {knob} | {_ci(r, 'accuracy')} | {_ci(r, 'aligned_novelty')} | "
                     f"{_ci(r, 'coverage')} | {_ci(r, 'density')} | {_ci(r, 'vendi', '.1f')} | "
                     f"{off_stroke_ratio(r, summary):.2f} | {_ci(r, 'fd', '.0f')} | {_ci(r, 'diversity', '.3f')} |")
    lines += ["", "### Verdict (computed from the points above; paired over seeds)", ""]
    for key, check in data.get("verdict", {}).items():
        lines.append(f"- **{key}**: {'met' if check['met'] else 'not met'} — {_value(check['value'])} (goal: "
                     f"{check['goal']})")
    return "\n".join(lines)


def stage2_table(data: dict) -> list[str]:
    """The stage-2 rows of a v2 `ablate` result (evaluation.ablations): each variant at equal CPU time, measured on
    the validation class from noise and with the span sampler (mean ± 95 % interval over its seeds)."""
    cfg, rows = data["meta"]["config"], data["stage2"]

    def ci(r, key, fmt=".2f"):
        h = r.get(f"{key}_ci95", float("nan"))
        return f"{r[key]:{fmt}} ± {h:{fmt}}" if h == h and h > 0 else f"{r[key]:{fmt}}"

    lines = [f"### Stage 2 at equal CPU time ({cfg['seconds']:g} CPU-s each, `cpu` preset unless stated; protocol v2)",
             "", f"Every variant trains on the base classes (neither the validation class {cfg['cls']} nor the test "
             f"class {cfg['test_class']}). Held-in accuracy: one sample per held-out INR, {cfg['per_class']} per base "
             f"class, γ = 0, τ = {cfg['temperature']}. On the validation class {cfg['cls']}, seeds {cfg['seeds']}, "
             f"{cfg['n']} samples each from K = {cfg['k']} shots, no adaptation: from noise at γ = "
             f"{cfg['noise_gamma']:g}, and the span sampler (γ = {cfg['sampling']['gamma']:g}, t0 = "
             f"{cfg['sampling']['t0']}); off-stroke ink relative to the INRs of real images of the class.", "",
             "| variant | steps | CPU-s | held-in acc. | noise: accuracy | noise: aligned nov. | noise: coverage | "
             "noise: off-stroke × | span: accuracy | span: coverage | span: off-stroke × |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        knobs = ", ".join(f"{k} = {v:g}" for k, v in r.get("sampling", {}).items())
        lines.append(f"| {r['variant']}{f' (sampled at {knobs})' if knobs else ''} | {r['steps']} | "
                     f"{r.get('cpu_seconds', float('nan')):.0f} | {r['held_in_accuracy']:.3f} | "
                     f"{ci(r, 'noise_accuracy')} | {ci(r, 'noise_aligned_novelty')} | {ci(r, 'noise_coverage')} | "
                     f"{r['noise_off_stroke_ratio']:.2f} | {ci(r, 'span_accuracy')} | {ci(r, 'span_coverage')} | "
                     f"{r['span_off_stroke_ratio']:.2f} |")
    default = next((r for r in rows if r["variant"].startswith("default")), None)
    if default is not None:
        lines.append("")
        for r in rows:
            if r is default:
                continue
            d_acc = r["noise_accuracy"] - default["noise_accuracy"]
            d_cov = r["noise_coverage"] - default["noise_coverage"]
            lines.append(f"- **{r['variant']}** against the default, from noise: accuracy {d_acc:+.2f}, coverage "
                         f"{d_cov:+.2f} (intervals ± {r.get('noise_accuracy_ci95', float('nan')):.2f} / ± "
                         f"{r.get('noise_coverage_ci95', float('nan')):.2f}).")
    return lines


def _value(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.3g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]" if v else "none"
    return str(v)


__all__ = ["frontier2_figure", "section", "stage2_table", "row_label"]


def shapes_section(data: dict, name: str, img_dir: Path | None = None) -> str:
    """Protocol v2 for shapes (evaluation.protocol3d.evaluate_3d; meta["protocol"] == 2) as markdown: every row's
    mean ± 95 % interval over seeds, as drawn and after the floater filter, then the bar (checks_3d) for each
    learned row, both ways."""
    meta = data.get("meta", {})
    cat = meta.get("category_name", f"category {data['category']}")
    role = "validation" if meta.get("validation") else "test"
    lines = [f"## Protocol v2 for shapes (`{name}`): {role} category {cat}, K = {data['k']}, n = {data['n']} samples "
             f"and {data['n']} fresh reference shapes per seed", "",
             f"`{meta.get('command', 'python -m equigen_core evaluate shapes ...')}` — seeds {data['seeds']}, "
             f"{meta.get('date', '')}, {meta.get('machine', '')}; {data['seconds'] / 60:.1f} min. Model "
             f"`{meta.get('checkpoint', '?')}`. Each seed draws its own K shots from the zoo's training split and "
             f"two disjoint sets of {data['n']} procedural {cat}s that no zoo INR was fitted to: one is the "
             "reference, the other is scored as if it were samples (the real-vs-real ceiling). Clouds of 2,048 "
             "surface points from 64³ marching cubes, centred and scaled; Chamfer on squared L2. MMD ×10³ (lower is "
             "better), COV (higher), 1-NNA (0.5 ideal; an empty sample counts as told apart), novelty = median "
             "Chamfer distance to the nearest shot over the same for the reference (copies score well below 1), "
             "empty = no surface (left out of MMD / COV / novelty), floaters = share of samples with a second piece "
             "of ≥ 1 % of their volume. *Filtered*: the same after keeping each sample's largest piece (what the app "
             "shows). Mean ± 95 % t-interval over seeds.", "",
             "| method | MMD ×10³ | COV | 1-NNA | novelty | empty | floaters | filtered: MMD | COV | 1-NNA | novelty |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["summary"]:
        cells = [_ci(r, m) for m in ("mmd", "cov", "nna", "novelty")] + [f"{r['mean']['empty']:.2f}",
                                                                         f"{r['mean']['multi']:.2f}"]
        cells += [_ci(r, f"{m}_f") for m in ("mmd", "cov", "nna", "novelty")]
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    if meta.get("chosen"):
        lines += ["", f"**Chosen on this category** (the highest filtered COV among learned rows whose filtered MMD is "
                      f"at or below interpolation's): {meta['chosen']}."]
    for r in data["summary"] if role == "test" else ():
        if r["family"] != "equigen":
            continue
        for filtered in (False, True):
            checks = checks_3d(data, r["method"], filtered=filtered)
            met = sum(ok for _, ok, _ in checks)
            lines += ["", f"**{r['method']}, {'after the floater filter' if filtered else 'as drawn'}: {met} of "
                          f"{len(checks)} checks met.** " + "; ".join(
                              f"{what}: {'met' if ok else 'not met'} ({fig})" for what, ok, fig in checks) + "."]
    img = f"img/{name}.png"
    if img_dir is not None and (img_dir.parent / img).exists():
        lines += ["", f"![samples]({img})"]
    return "\n".join(lines)
