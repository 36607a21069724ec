"""Moved to equigen_core.nets.denoiser; this path is the same module (kept for one release)."""
import sys

from equigen_core.nets import denoiser as _module

sys.modules[__name__] = _module
