"""The measured results that ship with the repository (docs/data/*.json, written by `evaluate`), for the app to show
before a visitor has run anything: the shipped MNIST model's protocol-v2 frontier and the shipped shape model's 3D
protocol. Offline: read from the checkout, never downloaded; None when they are not there (an installed package).
"""
from __future__ import annotations

import json
from pathlib import Path

# the result of each shipped checkpoint root's measured default (docs/RESULTS.md)
SHIPPED = {"image": "frontier_mnist9_v2.json", "shape": "shapes_v2_airplane.json"}


def data_dirs(root: str | Path | None = None) -> list[Path]:
    """Where docs/data may be: beside the checkpoint root's checkout, the working directory's, this source tree's."""
    here = Path(__file__).resolve().parents[2]
    up = Path(root).resolve().parents if root is not None else ()
    out = [up[1] / "docs" / "data"] if len(up) > 1 else []  # ROOT = <checkout>/checkpoints/<name>
    return out + [Path.cwd() / "docs" / "data", here / "docs" / "data"]


def shipped_result(kind: str, root: str | Path | None = None) -> tuple[dict, Path] | None:
    """(the JSON result, its path) of the shipped model of a domain kind (Domain.kind: "image" / "shape"), or None."""
    name = SHIPPED.get(kind)
    for d in data_dirs(root) if name else []:
        path = d / name
        if path.is_file():
            try:
                return json.loads(path.read_text()), path
            except (OSError, json.JSONDecodeError):
                return None
    return None
