"""A one-line progress count for long steps (tokenizing a large file, word vectors), on stderr
only when it is a terminal and informational logging is on: a log file or a pipe gets the summary
line each step logs when it ends, not a stream of carriage returns."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("sentiment")


class Progress:
    """`update(n)` adds n done; at most one redraw a second; `close()` clears the line."""

    def __init__(self, what: str, unit: str, total: int | None = None, every: float = 1.0) -> None:
        self.what, self.unit, self.total, self.every = what, unit, total, every
        self.done = 0
        self.start = self._last = time.perf_counter()
        stream = sys.stderr
        self.on = bool(getattr(stream, "isatty", lambda: False)()) and log.isEnabledFor(logging.INFO)
        self._drawn = False

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.on and now - self._last >= self.every:
            self._last = now
            rate = self.done / max(now - self.start, 1e-9)
            of = f" of {self.total:,}" if self.total else ""
            sys.stderr.write(f"\rsentiment: {self.what}: {self.done:,}{of} {self.unit} ({rate:,.0f} {self.unit}/s)  ")
            sys.stderr.flush()
            self._drawn = True

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._drawn = False
