"""What the encoder's features know: kNN accuracy and 2-D t-SNE plots (HTML or PNG) of features by class.
"""
from __future__ import annotations

from pathlib import Path

from torch import Tensor

from equigen_core.storage.atomic import atomic_path


def knn_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, k: int = 5) -> float:
    """Held-out accuracy of a cosine kNN classifier."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(train_x.numpy(), train_y.numpy())
    return float((clf.predict(test_x.numpy()) == test_y.numpy()).mean())


def tsne_2d(features: Tensor, seed: int = 0):
    """(B, D) → (B, 2) t-SNE embedding (numpy)."""
    from sklearn.manifold import TSNE

    n = len(features)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    return TSNE(n_components=2, perplexity=min(30.0, max(1.0, (n - 1) / 3)), random_state=seed,
                init="pca").fit_transform(features.numpy())


def write_tsne(path: Path, features: Tensor, labels: Tensor, *, title: str = "t-SNE", seed: int = 0) -> Path:
    """2-D t-SNE of features coloured by label: a standalone plotly HTML (plotly.js inlined: works offline), or a PNG
    (matplotlib) when `path` ends in .png."""
    xy = tsne_2d(features, seed)
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".png":
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels.numpy(), cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
            fig.colorbar(sc, ax=ax, ticks=range(10), label="class")
            ax.set_title(title, fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
            fig.tight_layout()
            fig.savefig(tmp, format="png")
            plt.close(fig)
        else:
            import plotly.express as px

            fig = px.scatter(x=xy[:, 0], y=xy[:, 1], color=[str(int(l)) for l in labels], title=title,
                             labels={"x": "t-SNE 1", "y": "t-SNE 2", "color": "class"})
            fig.write_html(str(tmp), include_plotlyjs=True)
    return path
