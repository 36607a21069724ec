"""Moved to equigen_core.service.studio3d; this path is the same module (kept for one release)."""
import sys

from equigen_core.service import studio3d as _module

sys.modules[__name__] = _module
