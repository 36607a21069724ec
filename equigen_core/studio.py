"""Moved to equigen_core.service.studio; this path is the same module (kept for one release)."""
import sys

from equigen_core.service import studio as _module

sys.modules[__name__] = _module
