"""Moved to equigen_core.generation.diffusion; this path is the same module (kept for one release)."""
import sys

from equigen_core.generation import diffusion as _module

sys.modules[__name__] = _module
