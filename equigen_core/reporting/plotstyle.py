"""How every frontier figure draws a method's curve (the first protocol's, protocol v2's, the app's Trade-off):
one colour per method across both panels, a marker and line style per family, knob values as hover text."""
from __future__ import annotations


def plotly_style(curve, i: int) -> dict:
    """The go.Scatter keywords of curve i (runner.Curve) that both panels share."""
    import plotly.express as px

    palette = px.colors.qualitative.Dark24
    fam = curve.family
    color = "black" if fam == "reference" else palette[i % len(palette)]
    marker = dict(symbol="star" if fam == "equigen" else ("diamond" if fam == "baseline" else "x"), size=10,
                  color=color)
    return dict(mode="lines+markers" if len(curve.values) > 1 else "markers", name=curve.method,
                legendgroup=curve.method, text=[f"{curve.knob}={v:g}" if curve.knob else "" for v in curve.values],
                line=dict(dash="solid" if fam == "equigen" else ("dot" if fam == "baseline" else None), color=color),
                marker=marker)


def mpl_style(curve, i: int, cmap) -> tuple[object, str, str]:
    """(colour, marker, line style) of curve i in the matplotlib PNGs."""
    fam = curve.family
    color = "k" if fam == "reference" else cmap((2 * i) % 20 + (2 * i) // 20)
    return color, "*" if fam == "equigen" else ("D" if fam == "baseline" else "x"), "-" if fam == "equigen" else "--"


def two_panels():
    """A 14 × 5.8 in matplotlib figure with two panels (Agg, no screen) → (fig, axes, the colour map)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(14, 5.8))
    return fig, axes, plt.get_cmap("tab20")


def save_png(fig, path, title: str = ""):
    """Title, lay out, write at 110 dpi and close a matplotlib figure → path."""
    import matplotlib.pyplot as plt

    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def finish_plotly(fig, title: str, axes: list[tuple[dict, dict]]):
    """Axis titles per panel ((x keywords, y keywords) for columns 1, 2) and the shared layout → fig."""
    for col, (x, y) in enumerate(axes, start=1):
        fig.update_xaxes(row=1, col=col, **x)
        fig.update_yaxes(row=1, col=col, **y)
    fig.update_layout(title=title, height=480, margin=dict(l=40, r=10, t=60, b=40), legend=dict(font=dict(size=10)))
    return fig
