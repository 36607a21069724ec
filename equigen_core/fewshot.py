"""Moved to equigen_core.generation.fewshot; this path is the same module (kept for one release)."""
import sys

from equigen_core.generation import fewshot as _module

sys.modules[__name__] = _module
