"""How a long-running node keeps its memory level: the garbage collector's pace, and giving
freed memory back to the system.

bench/soak.py judges this: under hours of chat and mail a node's RSS must stop growing once its
caches are full.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway.lifecycle import stop_task

GC_YOUNG_THRESHOLD = 50_000
FULL_COLLECTION_SECONDS = 60.0


def tune_garbage_collector() -> None:
    """With a thousand chats open, CPython's default thresholds run a full collection every few
    seconds, each stalling every connection for ~200 ms (measured: p99 of the paced chat
    bench fell from ~500 ms to ~200 ms). Young collections stay frequent enough to reclaim
    cycles promptly; the expensive old-generation passes become rare."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)


async def garbage_context(app: web.Application) -> AsyncIterator[None]:
    """Everything built by start-up lives as long as the process: frozen, full passes never
    walk it again. With the raised thresholds cyclic garbage waits long for a full pass, and
    RSS crept ~1 MiB a minute under bench/soak.py: one a minute, over what was not frozen,
    keeps it level."""
    gc.freeze()
    task = asyncio.create_task(_collect_periodically(), name="garbage-collector")
    yield
    await stop_task(task)


async def _collect_periodically() -> None:
    release_free_heap = heap_trimmer()
    while True:
        await asyncio.sleep(FULL_COLLECTION_SECONDS)
        gc.collect()
        release_free_heap()


def heap_trimmer() -> Callable[[], None]:
    """glibc keeps the free pages between live allocations of its heap: under a steady load its
    heap grew ~2 MiB in five minutes while the memory in use stayed level (bench/soak.py, the
    node that took over the other's chats). `malloc_trim` hands those pages back; a few
    milliseconds a minute. Other C libraries (musl, macOS) have no such call and nothing to do."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int

    def release() -> None:
        trim(0)

    return release
