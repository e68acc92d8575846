"""The node gives freed heap pages back to the system (gateway.memory)."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from gateway.memory import heap_trimmer


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(
    not hasattr(ctypes.CDLL(None), "malloc_trim"), reason="not glibc: no malloc_trim to call"
)
def test_freed_pages_between_live_blocks_go_back() -> None:
    """What a busy node's heap looks like: most blocks freed, a few survivors in between that
    keep glibc from shrinking its heap on its own."""
    release = heap_trimmer()
    release()
    blocks = [bytearray(2000) for _ in range(20_000)]  # ~40 MB, below glibc's mmap threshold
    survivors = blocks[::50]
    del blocks
    before = rss_kib()
    release()
    assert before - rss_kib() > 10_000, "the freed ~39 MB stayed resident"
    assert len(survivors) == 400
