"""Ctrl-C and a scheduler's SIGTERM end a run, however busy it is when they arrive.

Python raises ``KeyboardInterrupt`` from the signal handler in whatever Python code runs at that
moment; when that is a finaliser (a ``__del__``, a weakref callback, a generator closed by the
garbage collector), CPython prints "Exception ignored in ..." and the run goes on as if nothing
happened — a Ctrl-C lost (one CI run ended 0 instead of 130 that way: issue 35). So the handler
also *records* the request, and the long loops (each training step, each generation batch) call
:func:`check`, which raises again until the run ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_requested: list[int] = []  # the signals received while :func:`handled` is active


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C or SIGTERM arrived and was swallowed on its way."""
    if _requested:
        raise KeyboardInterrupt


@contextmanager
def handled() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM both raise ``KeyboardInterrupt`` and are remembered for
    :func:`check`; outside it (and off the main thread, where Python runs no handler) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        _requested.append(signum)
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _requested.clear()
