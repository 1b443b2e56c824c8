"""Give memory Python has freed back to the operating system.

Texts of a kilobyte or two are malloc'ed one by one; after half a million of them are freed,
glibc keeps their pages in its heap, so the process's RSS (what the OS counts, and what an
out-of-memory killer looks at) does not drop: freeing the texts of 500,000 reviews returned nothing
until `malloc_trim`, which then returned ~650 MB. A no-op without glibc (macOS, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def return_freed_memory() -> None:
    """glibc's malloc_trim(0): unmap the free pages of the heap."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
