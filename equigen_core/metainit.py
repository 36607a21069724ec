"""Moved to equigen_core.weightspace.metainit; this path is the same module (kept for one release)."""
import sys

from equigen_core.weightspace import metainit as _module

sys.modules[__name__] = _module
