"""Freed heap pages go back to the system (glibc's malloc_trim, called between units)."""

from __future__ import annotations

import platform

import pytest

from pile.heap import release_free_memory


def _anon_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_freed_pages_inside_the_heap_go_back_to_the_system():
    """200 MB of 1 kB blocks (malloc's heap, not Python's arenas), every 50th kept: the free
    blocks sit between live ones, so the heap cannot shrink from the top; after the call
    the process holds at least 100 MB less."""
    blocks = [bytes(1000) + i.to_bytes(4, "little") for i in range(200_000)]
    kept = blocks[::50]
    del blocks
    before = _anon_bytes()
    assert release_free_memory() is True
    after = _anon_bytes()
    assert before - after > 100 * 2**20, (before, after)
    assert len(kept) == 4000
