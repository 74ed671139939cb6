"""What a worker keeps in memory: start-up objects frozen out of the garbage collector's way,
and memory freed after a burst of connections handed back to the operating system.

A service imports its modules, builds its routes, pydantic models and pools once; those
~60 000 objects live as long as the process. Left in the collector's generations, every
full collection walks them again, which showed as 2-4 µs of CPU per request on the demo's
item route under load. :func:`gc.freeze` moves them to a permanent generation once start-up
is done; objects made while serving are collected as usual. It also keeps the collector from
writing to pages a worker shares with the gunicorn master (copy-on-write).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import time
from collections.abc import Callable

from fastflyer.observability.logs import logger

# A burst worth returning memory after: this many connections at once, or this many requests.
BURST_CONNECTIONS = 128
IDLE_REQUESTS = 1_000
SETTLE_SECONDS = 0.2
MIN_INTERVAL_SECONDS = 5.0  # at most one release (a few ms of CPU) per this many seconds


def freeze_startup_objects() -> int:
    """Freeze what start-up made; returns how many objects are frozen. No collection first:
    start-up leaves next to no cyclic garbage (none on the demo) and a full collection would
    add ~15 ms to every worker's start."""
    gc.freeze()
    return gc.get_freeze_count()


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim (Debian, python:slim); None elsewhere (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


class FreedMemoryReturner:
    """Hands memory back to the OS after a burst of connections has ended.

    A thousand connections and their requests need a few kilobytes each; when they close,
    glibc keeps the freed blocks inside its heap (measured on the demo: 47.5 MiB idle, 65 MiB
    after a 1000-connection run, 58.7 MiB after ``malloc_trim``). So when this worker's
    connections fall to a quarter of their peak, or to none after many requests, it calls
    ``gc.collect()`` and ``malloc_trim(0)`` once (a few milliseconds, only when load has
    just dropped, and at most every ``MIN_INTERVAL_SECONDS``).
    Told of every connection by the HTTP protocol (protocol.py); one per process.
    """

    def __init__(self) -> None:
        self.peak = 0
        self.requests_at_trim = 0
        self.scheduled = False
        self.last_release = float("-inf")

    def connection_opened(self, open_now: int) -> None:
        if open_now > self.peak:
            self.peak = open_now

    def connection_closed(self, open_now: int, requests: int) -> None:
        if self.scheduled or _malloc_trim is None:
            return
        burst_over = self.peak >= BURST_CONNECTIONS and open_now <= self.peak // 4
        if burst_over or (open_now == 0 and requests - self.requests_at_trim >= IDLE_REQUESTS):
            loop = asyncio.get_running_loop()
            if loop.time() - self.last_release < MIN_INTERVAL_SECONDS:
                return  # connections that come and go all the time: not every time
            self.scheduled = True
            self.peak = open_now
            self.requests_at_trim = requests
            # After the closing burst: the other connections' close callbacks run first.
            loop.call_later(SETTLE_SECONDS, self.release)

    def release(self) -> None:
        assert _malloc_trim is not None
        started = time.perf_counter()
        # A closed connection's protocol and parser refer to each other: only the collector
        # frees them (start-up objects are frozen, so this walks what serving made).
        gc.collect()
        released = _malloc_trim(0)
        self.scheduled = False
        self.last_release = asyncio.get_running_loop().time()
        logger.debug(f"returned freed memory to the OS ({released=}) in "
                     f"{(time.perf_counter() - started) * 1e3:.1f} ms")


memory_returner = FreedMemoryReturner()
