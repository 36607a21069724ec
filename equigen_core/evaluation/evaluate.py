"""Renamed to equigen_core.evaluation.protocol (the runner's entry is evaluation.frontier.evaluate); this path is the
same module (kept for one release)."""
import sys

from equigen_core.evaluation import protocol as _module

sys.modules[__name__] = _module
