"""Ctrl-C during `train` that is never lost.

Python's own SIGINT handler raises KeyboardInterrupt wherever the main thread happens to be. Inside
TensorFlow that is often a finalizer (`__del__` of an iterator or a tensor) or a callback that
Python reports as "Exception ignored in ..." and drops, and the run then trains on and writes its
model as if nothing had happened (seen once in tests/test_resume.py). Here the handler also
records the request, and the epoch loop and the step before anything is written check it, so an
interrupt swallowed on the way is raised again at the next of those points.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

_requested = threading.Event()


@contextlib.contextmanager
def recorded() -> Iterator[None]:
    """Within: SIGINT records itself, then raises KeyboardInterrupt as Python's handler does.
    Outside the main thread (a library caller's worker thread) signals cannot be handled: no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        _requested.set()
        raise KeyboardInterrupt

    _requested.clear()
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


def check() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C arrived whose own KeyboardInterrupt was swallowed."""
    if _requested.is_set():
        raise KeyboardInterrupt
