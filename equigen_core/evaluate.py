"""Moved to equigen_core.evaluation.protocol; this path is the same module (kept for one release)."""
import sys

from equigen_core.evaluation import protocol as _module

sys.modules[__name__] = _module
