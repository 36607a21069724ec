"""The 3D shape domain: occupancy-INR zoos of procedural shapes (data.shapes) or of meshes a user brings.

    domain = ShapeDomain.of(zoo)
    domain.index("airplane")                    # 0: a category by name or number
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

    @classmethod
    def default_names(cls, zoo, present: tuple[int, ...]) -> list[str]:
        from equigen_core.data.shapes import CATEGORIES

        return list(CATEGORIES)

    def index(self, category: str | int) -> int:
        """A category by name ("airplane") or number ("0") → its label; ValueError naming the choices otherwise."""
        names = list(self.class_names)
        if isinstance(category, str) and not category.isdigit():
            if category not in names:
                raise ValueError(f"unknown category {category!r}; expected one of {names}")
            return names.index(category)
        c = int(category)
        if not 0 <= c < len(names):
            raise ValueError(f"category index {c} out of range 0–{len(names) - 1}")
        return c

    def reference_shapes(self, zoo, cls: int):
        """The category's held-out (test split) shapes as exact geometry (data.shapes.ShapeSet)."""
        from equigen_core.data.zoo import zoo_shapes

        test = zoo.test()
        return zoo_shapes(test.select(test.labels == cls))

    def classifier(self, root=None):
        return None
