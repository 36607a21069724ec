"""Moved to equigen_core.storage.roots; this path is the same module (kept for one release)."""
import sys

from equigen_core.storage import roots as _module

sys.modules[__name__] = _module
