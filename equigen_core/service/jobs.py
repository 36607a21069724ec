"""Blocking work with progress callbacks → an iterator of progress items, cancellable by closing it.

Training loops and the sampler report progress through callbacks (`callback(step, loss)`, `on_step(...)`) and poll a
`should_stop()`; a streaming UI wants a generator it can yield from and cancel. `stream` runs the call in a worker
thread and hands its progress items over a queue:

    for item in stream(lambda emit, stop: train_encoder(..., callback=lambda s, l: emit((s, l)), should_stop=stop)):
        if isinstance(item, Done): result = item.value
        else: show(item)

Closing the iterator early (Gradio's Stop button closes the generator between yields) sets the stop flag, so the
worker ends at its next `should_stop()` check; an exception in the worker is re-raised in the consumer.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass
class Done:
    """The last item of a stream: what the call returned."""

    value: Any


@dataclass
class _Failed:
    error: BaseException


class Cancelled(RuntimeError):
    """Raised inside a worker (by `check`) once its consumer has gone away."""


def stream(fn: Callable[[Callable[[Any], None], Callable[[], bool]], Any], *,
           timeout: float | None = None) -> Iterator[Any]:
    """Run fn(emit, should_stop) in a thread; yield every emitted item, then Done(return value).

    timeout: seconds to wait for the next item before raising TimeoutError (None: wait for ever).
    """
    q: queue.Queue = queue.Queue()
    stop = threading.Event()

    def run():
        try:
            q.put(Done(fn(q.put, stop.is_set)))
        except BaseException as e:  # noqa: BLE001 — handed to the consumer, which re-raises it
            q.put(_Failed(e))

    worker = threading.Thread(target=run, name="equigen-job", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get(timeout=timeout)
            if isinstance(item, _Failed):
                raise item.error
            yield item
            if isinstance(item, Done):
                return
    except queue.Empty:
        raise TimeoutError(f"no progress from the worker for {timeout} s") from None
    finally:
        stop.set()


def check(should_stop: Callable[[], bool]) -> None:
    """Raise Cancelled when should_stop() says so (for callbacks that cannot return a flag)."""
    if should_stop():
        raise Cancelled("cancelled")
