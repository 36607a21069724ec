"""Moved to equigen_core.evaluation.ablations; this path is the same module (kept for one release)."""
import sys

from equigen_core.evaluation import ablations as _module

sys.modules[__name__] = _module
