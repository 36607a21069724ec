"""Plotly figures for the app (loss curves, the γ trade-off, the t-SNE map, the equivariance check)."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


def loss_figure(steps: list[int], values: list[float], *, title: str, ylabel: str = "loss") -> go.Figure:
    fig = go.Figure(go.Scatter(x=steps, y=values, mode="lines", name=ylabel))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=ylabel, height=320, margin=dict(l=40, r=10, t=40,
                                                                                                   b=40))
    return fig


def tradeoff_figure(tr) -> go.Figure:
    """Left: accuracy against aligned novelty (the frontier; up and right is better). Right: coverage and FD
    against γ."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("faithfulness vs novelty", "coverage and FD vs γ"),
                        specs=[[{}, {"secondary_y": True}]])
    s = tr.samples
    fig.add_trace(go.Scatter(x=[r.aligned_novelty for r in s], y=[r.accuracy for r in s], mode="lines+markers",
                             text=[f"γ={g:g}" for g in tr.gammas], hovertemplate="%{text}: accuracy %{y:.2f}, "
                             "aligned novelty %{x:.2f}<extra></extra>", name="generator (hover: γ)"), row=1, col=1)
    for i, b in enumerate(tr.baselines):
        fig.add_trace(go.Scatter(x=[b.aligned_novelty], y=[b.accuracy], mode="markers", name=b.name,
                                 marker=dict(symbol="diamond", size=11, color=PALETTE[(i + 3) % 10])), row=1, col=1)
    fig.add_trace(go.Scatter(x=tr.gammas, y=[r.coverage for r in s], mode="lines+markers", name="coverage"),
                  row=1, col=2)
    fig.add_trace(go.Scatter(x=tr.gammas, y=[r.fd for r in s], mode="lines+markers", name="FD (classifier features)",
                             line=dict(dash="dot")), row=1, col=2, secondary_y=True)
    fig.update_xaxes(title_text="aligned novelty (0 = copies, 1 = as new as real digits)", row=1, col=1)
    fig.update_yaxes(title_text="class accuracy", range=[-0.02, 1.02], row=1, col=1)
    fig.update_xaxes(title_text="γ", row=1, col=2)
    fig.update_yaxes(title_text="coverage", row=1, col=2, secondary_y=False)
    fig.update_yaxes(title_text="FD", row=1, col=2, secondary_y=True)
    fig.update_layout(height=430, margin=dict(l=40, r=10, t=40, b=40), legend=dict(font=dict(size=10)))
    return fig


def tsne_figure(fm, title: str) -> go.Figure:
    """Zoo INRs as dots coloured by class; targets as stars; generated samples as crosses."""
    fig = go.Figure()
    xy = fm.xy.numpy()
    symbols = {"zoo": "circle", "target": "star", "sample": "x"}
    sizes = {"zoo": 7, "target": 14, "sample": 10}
    for kind in ("zoo", "target", "sample"):
        labels = sorted({lab for lab, k in zip(fm.labels, fm.kinds) if k == kind})
        for lab in labels:
            idx = [i for i, (l2, k) in enumerate(zip(fm.labels, fm.kinds)) if k == kind and l2 == lab]
            color = PALETTE[int(lab) % 10] if lab.isdigit() else "#000000"
            fig.add_trace(go.Scatter(x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=f"{kind} · class {lab}",
                                     text=[fm.hover[i] for i in idx], hoverinfo="text",
                                     marker=dict(symbol=symbols[kind], size=sizes[kind], color=color,
                                                 line=dict(width=1, color="black") if kind != "zoo" else None)))
    fig.update_layout(title=title, height=520, margin=dict(l=20, r=10, t=40, b=20), xaxis=dict(visible=False),
                      yaxis=dict(visible=False), legend=dict(font=dict(size=10)))
    return fig


def weights_figure(check, spec) -> go.Figure:
    """The hidden-to-hidden weight matrix W_2 of the target before and after the permutation, as heatmaps."""
    from equigen_core.weights import WeightSpace

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
