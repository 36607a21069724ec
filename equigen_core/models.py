"""Moved to equigen_core.storage.models; this path is the same module (kept for one release)."""
import sys

from equigen_core.storage import models as _module

sys.modules[__name__] = _module
