"""Start-up objects are frozen out of the collector; freed memory goes back to the OS after a
burst of connections, once, and not while connections keep coming."""

from __future__ import annotations

import asyncio
import gc

import pytest
from fastflyer.server import heap


def test_startup_objects_are_frozen():
    try:
        frozen = heap.freeze_startup_objects()
        assert frozen > 1000 and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_malloc_trim_is_found_on_glibc():
    assert heap._malloc_trim is not None  # Debian and python:slim are glibc
    assert heap._malloc_trim(0) in (0, 1)


@pytest.fixture
def trims(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(heap, "_malloc_trim", lambda pad: calls.append(pad) or 1)
    monkeypatch.setattr(heap, "SETTLE_SECONDS", 0.01)
    monkeypatch.setattr(heap, "MIN_INTERVAL_SECONDS", 0.0)
    return calls


def test_memory_is_returned_once_after_a_burst_of_connections(trims):
    async def scenario() -> None:
        returner = heap.FreedMemoryReturner()
        for n in range(1, 301):
            returner.connection_opened(n)
        for n in range(299, 100, -1):  # down to a third of the peak: not yet
            returner.connection_closed(n, requests=500)
        await asyncio.sleep(0.05)
        assert trims == []
        for n in range(100, -1, -1):
            returner.connection_closed(n, requests=500)
        await asyncio.sleep(0.05)
        assert trims == [0]  # one trim for the whole closing burst
        returner.connection_opened(1)
        returner.connection_closed(0, requests=600)  # a few more requests: no new trim
        await asyncio.sleep(0.05)
        assert trims == [0]

    asyncio.run(scenario())


def test_memory_is_returned_when_idle_after_many_requests(trims):
    async def scenario() -> None:
        returner = heap.FreedMemoryReturner()
        returner.connection_opened(1)
        returner.connection_closed(0, requests=heap.IDLE_REQUESTS - 1)
        await asyncio.sleep(0.05)
        assert trims == []
        returner.connection_opened(1)
        returner.connection_closed(0, requests=heap.IDLE_REQUESTS)
        await asyncio.sleep(0.05)
        assert trims == [0]

    asyncio.run(scenario())


def test_memory_is_returned_at_most_once_per_interval(trims, monkeypatch):
    monkeypatch.setattr(heap, "MIN_INTERVAL_SECONDS", 60.0)

    async def scenario() -> None:
        returner = heap.FreedMemoryReturner()
        for burst in range(3):  # three bursts in quick succession
            for n in range(1, 201):
                returner.connection_opened(n)
            for n in range(199, -1, -1):
                returner.connection_closed(n, requests=1000 * burst)
            await asyncio.sleep(0.05)
        assert trims == [0]

    asyncio.run(scenario())


def test_without_malloc_trim_nothing_is_scheduled(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", None)
    returner = heap.FreedMemoryReturner()
    returner.connection_opened(500)
    returner.connection_closed(0, requests=10**6)  # no running loop needed: returns at once
    assert returner.scheduled is False
