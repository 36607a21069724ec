"""Plotly figures for the app (loss curves, the γ trade-off, the t-SNE map, the equivariance check)."""
from __future__ import annotations

from types import SimpleNamespace

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from equigen_core.domains.shapes import ShapeDomain
from equigen_core.reporting.protocol2 import frontier2_figure
from equigen_core.weightspace.weights import WeightSpace

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


def loss_figure(steps: list[int], values: list[float], *, title: str, ylabel: str = "loss") -> go.Figure:
    fig = go.Figure(go.Scatter(x=steps, y=values, mode="lines", name=ylabel))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=ylabel, height=320, margin=dict(l=40, r=10, t=40,
                                                                                                   b=40))
    return fig


def tradeoff_figure(tr) -> go.Figure:
    """The γ sweep and the cheap baselines on protocol v2's axes — the same figure code as docs/RESULTS.md
    (equigen_core.reporting.protocol2.frontier2_figure)."""
    return frontier2_figure(tr.summary(), "your targets (one seed)")


def shipped_tradeoff_figure(result: dict, source: str) -> go.Figure:
    """The shipped model's multi-seed protocol-v2 frontier (docs/data), as docs/RESULTS.md draws it."""
    meta = result.get("meta", {})
    cfg = meta.get("config", {})
    seeds = len(cfg.get("seeds", [])) or "several"
    return frontier2_figure(result["summary"], f"shipped model, class {cfg.get('cls', '?')}, {seeds} seeds, "
                                               f"n = {cfg.get('n', '?')} ({source})")


def shipped_tradeoff3d_figure(result: dict, source: str) -> go.Figure:
    """The shipped shape model's 3D protocol (docs/data), in the 3D sweep's figure."""
    rows = [{"method": r["method"], "knob": r["knob"], "value": r["value"], **r["mean"]} for r in result["summary"]]
    fig = tradeoff3d_figure(SimpleNamespace(rows=rows))
    fig.update_layout(title=f"shipped model, {result.get('category', '?')}, {len(result.get('seeds', []))} seeds, "
                            f"n = {result.get('n', '?')} ({source})")
    return fig


def tsne_figure(fm, title: str, *, names: list[str] | None = None) -> go.Figure:
    """Zoo INRs as dots coloured by class; targets as stars; generated samples as crosses, each linked by a thin line
    to the target that conditioned it. names: class names for the legend (3D categories), else the class numbers.
    Points that can become targets (the target class's gallery INRs and the targets) carry their candidate index as
    customdata: a box or lasso selection on the map picks them (the page's script reads `plotly_selected`)."""
    fig = go.Figure()
    xy = fm.xy.numpy()
    refs = list(fm.refs) if fm.refs else [None] * len(xy)
    if fm.links:
        lx, ly = [], []
        for a, b in fm.links:
            lx += [xy[a, 0], xy[b, 0], None]
            ly += [xy[a, 1], xy[b, 1], None]
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", name="sample → its target", hoverinfo="skip",
                                 line=dict(color="rgba(0,0,0,0.25)", width=1)))
    symbols = {"zoo": "circle", "target": "star", "sample": "x"}
    sizes = {"zoo": 7, "target": 14, "sample": 10}
    for kind in ("zoo", "target", "sample"):
        labels = sorted({lab for lab, k in zip(fm.labels, fm.kinds) if k == kind})
        for lab in labels:
            idx = [i for i, (l2, k) in enumerate(zip(fm.labels, fm.kinds)) if k == kind and l2 == lab]
            color = PALETTE[int(lab) % 10] if lab.isdigit() else "#000000"
            shown = (names[int(lab)] if names and lab.isdigit() and int(lab) < len(names) else
                     f"class {lab}" if lab.isdigit() else "unknown")
            fig.add_trace(go.Scatter(x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=f"{kind} · {shown}",
                                     text=[fm.hover[i] for i in idx], hoverinfo="text",
                                     customdata=[-1 if refs[i] is None else refs[i] for i in idx],
                                     marker=dict(symbol=symbols[kind], size=sizes[kind], color=color,
                                                 line=dict(width=1, color="black") if kind != "zoo" else None)))
    fig.update_layout(title=title, height=520, margin=dict(l=20, r=10, t=40, b=20), xaxis=dict(visible=False),
                      yaxis=dict(visible=False), legend=dict(font=dict(size=10)), dragmode="select")
    return fig


def weights_figure(check, spec) -> go.Figure:
    """The hidden-to-hidden weight matrix W_2 of the target before and after the permutation, as heatmaps."""

    ws = WeightSpace.from_flat(spec, check.weights[None]).weights
    wp = WeightSpace.from_flat(spec, check.permuted[None]).weights
    layer = 1 if len(ws) > 2 else 0
    fig = make_subplots(rows=1, cols=2, subplot_titles=("W₂ of the target", "W₂ after permuting neurons"))
    vmax = float(ws[layer].abs().max())
    for col, w in ((1, ws[layer][0]), (2, wp[layer][0])):
        fig.add_trace(go.Heatmap(z=w.numpy(), zmin=-vmax, zmax=vmax, colorscale="RdBu", showscale=col == 2),
                      row=1, col=col)
    fig.update_layout(height=330, margin=dict(l=20, r=10, t=40, b=20))
    fig.update_yaxes(autorange="reversed")
    return fig


def tradeoff3d_figure(tr) -> go.Figure:
    """The 3D sweep: MMD (faithfulness to unseen shapes of the category, lower is better) against Chamfer novelty
    (well below 1 = copies of the targets, ≈ 1 = as new as unseen shapes), and COV against γ / t0, beside the
    baselines; after the floater filter when the app shows shapes that way (ShapeDomain.floater_filter)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("MMD×10³ (lower: more faithful) vs novelty",
                                                        "COV (higher: more of the category covered)"))
    families = {}
    for r in map(ShapeDomain.shown, tr.rows):  # the metrics of the shapes as the app shows them
        families.setdefault(r["method"], []).append(r)
    for i, (method, rows) in enumerate(families.items()):
        color = PALETTE[i % len(PALETTE)]
        labels = [f"{r['knob']} = {r['value']:g}" if r["knob"] else method for r in rows]
        fig.add_trace(go.Scatter(x=[r["novelty"] for r in rows], y=[r["mmd"] for r in rows], name=method,
                                 mode="lines+markers" if len(rows) > 1 else "markers", text=labels,
                                 hovertemplate="%{text}<br>novelty %{x:.2f}<br>MMD %{y:.2f}<extra></extra>",
                                 marker=dict(color=color, size=9), legendgroup=method), row=1, col=1)
        fig.add_trace(go.Bar(x=labels, y=[r["cov"] for r in rows], name=method, marker_color=color,
                             legendgroup=method, showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="Chamfer novelty ratio", row=1, col=1)
    fig.update_yaxes(title_text="MMD×10³", row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_layout(height=420, margin=dict(l=40, r=10, t=40, b=80), legend=dict(font=dict(size=10)))
    return fig
