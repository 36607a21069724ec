"""Moved to equigen_core.evaluation.protocol3d; this path is the same module (kept for one release)."""
import sys

from equigen_core.evaluation import protocol3d as _module

sys.modules[__name__] = _module
