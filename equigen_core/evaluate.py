"""Moved to equigen_core.evaluation.evaluate; this path is the same module (kept for one release)."""
import sys

from equigen_core.evaluation import evaluate as _module

sys.modules[__name__] = _module
