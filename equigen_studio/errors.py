"""Library errors → gr.Error with the message, for every callback (the UI shows it; the API returns it)."""
from __future__ import annotations

import functools
import inspect

import gradio as gr

from equigen_core.data import DataError
from equigen_core.service.studio import StudioError
from equigen_core.storage.checkpoint import CheckpointError


def errors(fn):
    """Library errors → gr.Error with the message (the UI shows it; the API returns it)."""

    expected = (StudioError, DataError, CheckpointError, ValueError, FileNotFoundError)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*a, **k):
            try:
                yield from fn(*a, **k)
            except gr.Error:
                raise
            except expected as e:
                raise gr.Error(str(e)) from e
        return gen

    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except gr.Error:
            raise
        except expected as e:
            raise gr.Error(str(e)) from e
    return wrapper
