"""Moved to equigen_core.weightspace.latent; this path is the same module (kept for one release)."""
import sys

from equigen_core.weightspace import latent as _module

sys.modules[__name__] = _module
