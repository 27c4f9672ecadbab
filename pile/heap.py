"""Giving freed heap memory back to the system between units of work.

A worker's Python heap keeps the high-water mark of its largest batch or document: glibc's
allocator reuses freed chunks but returns the pages to the kernel only at the top of the
heap, so one 4 MB document (a few tens of MB while it is tokenized) leaves the worker that
much larger for the rest of the build, and a larger corpus, whose largest documents are
larger, looks like one that grows. `malloc_trim(0)` hands every free page back (about a
millisecond); the worker calls it after each unit, the driver after each phase. Elsewhere
than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Callable


def _trim_function() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to call
        return None


_TRIM = _trim_function()


def release_free_memory() -> bool:
    """Return the heap's free pages to the system; True if this platform can."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


__all__ = ["release_free_memory"]
