"""The 3D shape domain: occupancy-INR zoos of procedural shapes (data.shapes) or of meshes a user brings.

    domain = ShapeDomain.of(zoo)
    domain.index("airplane")                    # 0: a category by name or number (base.Domain.index)
    domain.reference_shapes(zoo, 0)             # the category's held-out shapes as exact geometry (procedural zoos)

Shapes have no yardstick classifier: the 3D protocol (evaluation.protocol3d) compares point clouds instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from equigen_core.data.shapes import CATEGORIES
from equigen_core.data.zoo import zoo_shapes
from equigen_core.domains.base import Domain
from equigen_core.weightspace.augment import geometric_augment
from equigen_core.weightspace.render import shape_views


@dataclass(frozen=True)
class ShapeDomain(Domain):
    in_dim: ClassVar[int] = 3
    kind: ClassVar[str] = "shape"
    noun: ClassVar[str] = "category"
    live_frames: ClassVar[int] = 10  # a ray-cast preview costs more than a DDIM step
    live_res, live_size = 24, 96  # the live x̂0 previews: a 24³ occupancy grid, 96 px views
    final_res, final_size = 64, 128  # final pictures: 64³ (as the metrics), 128 px
    # whether the app, the CLI's pictures and the meshes show each shape's largest connected piece only
    # (render.largest_piece). Off: on the validation category (chair) the filter made every cheap and learned row's
    # MMD worse, as the pieces it removes are thin real parts (legs) as often as floaters. Protocol v2 reports the
    # metrics both ways (docs/RESULTS.md).
    floater_filter: ClassVar[bool] = False

    @classmethod
    def preview(cls, spec, weights: Tensor, *, live: bool = False, res: int | None = None) -> Tensor:
        """Shaded ray-cast views (B, 3, S, S) of the occupancy grids (no OpenGL needed), floaters filtered out when
        `floater_filter` is on."""

        if live:
            return shape_views(spec, weights, res=res or cls.live_res, size=cls.live_size, largest=cls.floater_filter)
        return shape_views(spec, weights, res=res or cls.final_res, size=cls.final_size, largest=cls.floater_filter)

    @classmethod
    def shown(cls, metrics: dict) -> dict:
        """Protocol-v2 metrics of a set (protocol3d.score_grids' keys) as the app shows the shapes: those after the
        floater filter (the `_f` keys) in place of the raw ones when `floater_filter` is on, else unchanged."""
        if not cls.floater_filter:
            return metrics
        return {**metrics, **{k[:-2]: v for k, v in metrics.items() if k.endswith("_f")}}

    @classmethod
    def exact_augment(cls, spec, weights: Tensor, generator, strength: float = 1.0) -> Tensor:
        """Turn about y ≤ 15°, scale ±10 %, shift ±0.1 (× strength); no colour: occupancy has none."""

        return geometric_augment(spec, weights, strength, generator=generator)

    @classmethod
    def default_names(cls, zoo, present: tuple[int, ...]) -> list[str]:
        return list(CATEGORIES)

    def reference_shapes(self, zoo, cls: int):
        """The category's held-out (test split) shapes as exact geometry (data.shapes.ShapeSet)."""

        test = zoo.test()
        return zoo_shapes(test.select(test.labels == cls))

    def classifier(self, root=None):
        return None
