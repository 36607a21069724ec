"""Moved to equigen_core.weightspace.weights; this path is the same module (kept for one release)."""
import sys

from equigen_core.weightspace import weights as _module

sys.modules[__name__] = _module
