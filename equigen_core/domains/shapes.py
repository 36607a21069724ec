"""The 3D shape domain: occupancy-INR zoos of procedural shapes (data.shapes) or of meshes a user brings.

    domain = ShapeDomain.of(zoo)
    domain.index("airplane")                    # 0: a category by name or number (base.Domain.index)
    domain.reference_shapes(zoo, 0)             # the category's held-out shapes as exact geometry (procedural zoos)

Shapes have no yardstick classifier: the 3D protocol (evaluation.protocol3d) compares point clouds instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from equigen_core.domains.base import Domain


@dataclass(frozen=True)
class ShapeDomain(Domain):
    in_dim: ClassVar[int] = 3
    kind: ClassVar[str] = "shape"
    noun: ClassVar[str] = "category"

    @classmethod
    def default_names(cls, zoo, present: tuple[int, ...]) -> list[str]:
        from equigen_core.data.shapes import CATEGORIES

        return list(CATEGORIES)

    def reference_shapes(self, zoo, cls: int):
        """The category's held-out (test split) shapes as exact geometry (data.shapes.ShapeSet)."""
        from equigen_core.data.zoo import zoo_shapes

        test = zoo.test()
        return zoo_shapes(test.select(test.labels == cls))

    def classifier(self, root=None):
        return None
