"""Moved to equigen_core.reporting.report; this path is the same module (kept for one release)."""
import sys

from equigen_core.reporting import report as _module

sys.modules[__name__] = _module
