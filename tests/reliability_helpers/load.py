"""An asyncio HTTP/1.1 load generator on loopback that accounts for every single request.

wrk reports rates; these tests need to know what happened to each request: when its
connection was established, and whether a complete response came back. Each request uses
its own connection (``Connection: close``), so "got a connection" has one meaning.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass


@dataclass
class Outcome:
    started: float  # time.monotonic() before connect()
    connected: float | None  # when the connection was established; None = refused
    finished: float
    status: int | None  # None = no complete response
    error: str | None = None  # refused / dropped / incomplete / timeout

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def request(port: int, path: str, timeout: float = 30, host: str = "127.0.0.1") -> Outcome:
    """One GET on a fresh connection; a response counts only if its whole body arrived."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return Outcome(started, None, time.monotonic(), None, "refused")
    connected = time.monotonic()
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status, error = await asyncio.wait_for(_read_response(reader), timeout)
    except asyncio.TimeoutError:
        status, error = None, "timeout"
    except OSError:
        status, error = None, "dropped"
    finally:
        writer.transport.abort()
    return Outcome(started, connected, time.monotonic(), status, error)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int | None, str | None]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None, "dropped"  # closed before a status line
    return _parse(head, await reader.read())


def _parse(head: bytes, body: bytes) -> tuple[int | None, str | None]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                   if line.lower().startswith("content-length:")), None)
    if length is not None and len(body) < length:
        return None, "incomplete"
    return status, None


class LoadGenerator:
    """``concurrency`` clients sending back-to-back requests from a background thread
    until :meth:`stop`; every outcome is kept."""

    def __init__(self, port: int, path: str, concurrency: int = 20):
        self.port, self.path, self.concurrency = port, path, concurrency
        self.outcomes: list[Outcome] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> LoadGenerator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 60) -> list[Outcome]:
        self._stopping.set()
        self._thread.join(timeout)
        return self.outcomes

    def wait_for(self, count: int, timeout: float = 30) -> None:
        """Block until ``count`` requests have completed (the load is really flowing)."""
        deadline = time.monotonic() + timeout
        while sum(o.ok for o in self.outcomes) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {summary(self.outcomes)} after {timeout}s")
            time.sleep(0.02)

    async def _run(self) -> None:
        await asyncio.gather(*(self._client() for _ in range(self.concurrency)))

    async def _client(self) -> None:
        while not self._stopping.is_set():
            outcome = await request(self.port, self.path)
            self.outcomes.append(outcome)
            if outcome.error == "refused":
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0.01)  # nobody listening: do not spin


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    """Counts by result: ``"200"``, ``"503"``, ``"refused"``, ``"dropped"`` …"""
    return dict(Counter(str(o.status) if o.status is not None else o.error for o in outcomes))
