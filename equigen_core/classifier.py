"""Moved to equigen_core.nets.classifier; this path is the same module (kept for one release)."""
import sys

from equigen_core.nets import classifier as _module

sys.modules[__name__] = _module
