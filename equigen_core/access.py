"""Moved to equigen_core.service.access; this path is the same module (kept for one release)."""
import sys

from equigen_core.service import access as _module

sys.modules[__name__] = _module
