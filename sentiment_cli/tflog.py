"""Keep TensorFlow's C++ log lines off the user's terminal without hiding anything else.

TensorFlow 2.21 logs from C++ through absl straight to file descriptor 2 (CUDA probing, oneDNN
notes, graph-attribute warnings), and TF_CPP_MIN_LOG_LEVEL no longer silences those written before
absl is initialised. So, once per process, fd 2 becomes a pipe read by a thread that drops lines in
absl's format and passes everything else through, while Python's own stderr (logging, Keras
progress, tracebacks) writes to the original descriptor directly. SENTIMENT_DEBUG=1 turns it off.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading

# I0000 00:00:1795659373.046144    3754 port.cc:153] ...   and absl's pre-init banner
_NATIVE_LINE = re.compile(rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]]+\] |"
                          rb"WARNING: All log messages before absl::InitializeLog\(\) is called)")
_installed = False


def _pump(read_fd: int, write_fd: int) -> None:
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        pending = b""
        while True:
            chunk = pipe.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line + b"\n" for line in lines if not _NATIVE_LINE.match(line)]
            if kept:
                os.write(write_fd, b"".join(kept))
        if pending and not _NATIVE_LINE.match(pending):
            os.write(write_fd, pending)


def filter_native_logs() -> None:
    """Install the filter (idempotent). A no-op when stderr is not the process's fd 2 (tests)."""
    global _installed
    if _installed or os.environ.get("SENTIMENT_DEBUG") == "1":
        return
    try:
        if sys.stderr.fileno() != 2:
            return
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return
    sys.stderr.flush()
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    old = sys.stderr
    sys.stderr = io.TextIOWrapper(io.FileIO(os.dup(original), "w"), encoding=encoding,
                                  errors="backslashreplace", line_buffering=True, write_through=True)
    import logging

    for logger in (logging.getLogger(), logging.getLogger("sentiment")):
        for handler in logger.handlers:  # keep log lines in order with direct writes
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(sys.stderr)
    threading.Thread(target=_pump, args=(read_fd, original), name="native-log-filter", daemon=True).start()
    _installed = True
