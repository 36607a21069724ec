"""Moved to equigen_core.evaluation.features; this path is the same module (kept for one release)."""
import sys

from equigen_core.evaluation import features as _module

sys.modules[__name__] = _module
