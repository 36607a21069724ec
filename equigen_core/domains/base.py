"""What every domain knows about a zoo: its class names, the labels it holds, where it came from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Domain:
    class_names: tuple[str, ...]
    labels: tuple[int, ...]  # the labels present in the zoo, sorted
    source: str
    in_dim: ClassVar[int] = 0  # the INR's input dimension the domain is for (2: images, 3: shapes)
    kind: ClassVar[str] = ""

    @classmethod
    def default_names(cls, zoo, present: tuple[int, ...]) -> list[str]:
        """Class names when the zoo stores none."""
        return [str(c) for c in range(max(present, default=-1) + 1)]

    @classmethod
    def of(cls, zoo):
        if zoo.spec.in_dim != cls.in_dim:
            raise ValueError(f"the {cls.kind} domain needs {cls.in_dim}D INRs; this zoo's spec is {zoo.spec}")
        present = tuple(sorted(int(c) for c in zoo.labels.unique()))
        names = zoo.meta.get("class_names") or cls.default_names(zoo, present)
        return cls(tuple(names), present, str(zoo.meta.get("source", "")))

    def classes(self) -> list[int]:
        return list(self.labels)
