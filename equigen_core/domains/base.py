"""What every domain knows about a zoo: its class names, the labels it holds, where it came from; and, from the INR
spec alone, how its INRs are pictured (`preview`), augmented exactly (`exact_augment`) and sampled by default
(`sampling`). The studio, the app and the protocol runner call these instead of asking "2D or 3D?"."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from equigen_core.data.types import index_of  # noqa: F401  (a class by name or number; also used here)
from equigen_core.presets import Sampling, sampling_for


@dataclass(frozen=True)
class Domain:
    class_names: tuple[str, ...]
    labels: tuple[int, ...]  # the labels present in the zoo, sorted
    source: str
    in_dim: ClassVar[int] = 0  # the INR's input dimension the domain is for (2: images, 3: shapes)
    kind: ClassVar[str] = ""
    noun: ClassVar[str] = "class"  # what its classes are called in messages
    live_frames: ClassVar[int | None] = None  # live previews per sampling run (None: one per DDIM step)

    @classmethod
    def default_sampling(cls) -> Sampling:
        """The sampler's defaults for this domain (presets.sampling_for: read when asked, so a changed preset is
        what every surface gets)."""
        return sampling_for(cls.in_dim)

    @classmethod
    def preview(cls, spec, weights, *, live: bool = False, res: int | None = None):
        """Pictures of B INRs (B, C, S, S) in [0, 1]; live: the cheap kind shown during sampling; res: the sampling
        resolution (pixels per side of an image, grid cells per side of a shape) instead of the domain's."""
        raise NotImplementedError

    @classmethod
    def exact_augment(cls, spec, weights, generator, strength: float = 1.0):
        """Exact augmentations of B INRs (the same function, transformed: moved, scaled, recoloured) → (B, P)."""
        raise NotImplementedError

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

    def index(self, value: str | int) -> int:
        """A class by number ("9") or name ("airplane") → its label; ValueError naming the choices otherwise."""
        return index_of(self.class_names, value, noun=self.noun)
