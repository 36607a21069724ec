"""Moved to equigen_core.storage.checkpoint; this path is the same module (kept for one release)."""
import sys

from equigen_core.storage import checkpoint as _module

sys.modules[__name__] = _module
