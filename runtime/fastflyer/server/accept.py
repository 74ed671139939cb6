"""Accept connections in batches, up to this worker's connection limit.

uvloop >= 0.19 (libuv >= 1.45) accepts one connection per event-loop iteration. Under load
an iteration takes milliseconds, so a burst of new connections (1000 clients connecting at
once) drains from the listen queue at ~100 per second and the last clients time out. This
acceptor takes the listening socket itself and accepts until the queue is empty (bounded per
wake-up), handing each connection to the loop like ``create_server`` would.

It stops watching the socket, leaving connections in the listen queue, in two cases: accept()
fails (EMFILE and the like leave the socket readable: watching it would spin), and the worker
has ``flyer_worker_connections`` plus a margin open. It watches again when one of the worker's
connections closes, or after a back-off.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from collections.abc import Callable

from fastflyer.observability.logs import logger
from fastflyer.settings import get_settings

MAX_ACCEPTS_PER_WAKEUP = 1024
FIRST_BACKOFF = 0.1  # seconds before retrying a failed accept(); doubles up to MAX_BACKOFF
MAX_BACKOFF = 1.0
LOG_INTERVAL = 5.0  # at most one warning per this many seconds; the others are counted


class WorkerConnections:
    """``flyer_worker_connections``, applied here and nowhere else: the HTTP protocol counts
    its connections in it and refuses requests on those opened over ``limit`` (health checks
    excepted); acceptors stop at ``limit + margin`` so that refusing costs bounded work."""

    def __init__(self, limit: int, margin: int | None = None):
        self.limit = limit
        # Room to answer 503s and health checks at the limit, small next to the limit itself.
        self.margin = max(16, limit // 10) if margin is None else margin
        self.open = 0
        self.accepting = 0  # accepted, not yet made (a TLS handshake included)
        self._on_close: list[Callable[[], None]] = []

    def accepted(self) -> None:
        self.accepting += 1

    def not_made(self) -> None:
        """An accepted connection failed before it was made (or right after: either way it
        is counted once, and an extra call is absorbed at zero)."""
        self.accepting = max(0, self.accepting - 1)

    def opened(self) -> bool:
        """Count a new connection (no longer accepting); True when it is over the limit."""
        self.accepting = max(0, self.accepting - 1)
        self.open += 1
        return self.open > self.limit

    def closed(self) -> None:
        self.open -= 1
        for wake in self._on_close:
            wake()

    def over_limit(self) -> bool:
        return self.open > self.limit

    def room(self) -> bool:
        """Whether one more connection may be accepted."""
        return self.open + self.accepting < self.limit + self.margin

    def on_close(self, wake: Callable[[], None]) -> None:
        self._on_close.append(wake)

    def forget(self, wake: Callable[[], None]) -> None:
        if wake in self._on_close:
            self._on_close.remove(wake)


_worker_connections: WorkerConnections | None = None


def worker_connections() -> WorkerConnections:
    """This process's connections (one worker per process), limited by the settings."""
    global _worker_connections
    if _worker_connections is None:
        _worker_connections = WorkerConnections(get_settings().worker_connections)
    return _worker_connections


class BatchAcceptor:
    """Quacks like the ``asyncio.Server`` uvicorn keeps in ``Server.servers`` (close,
    wait_closed), so uvicorn's shutdown stops accepting as before."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        ssl: ssl_module.SSLContext | None = None,
        connections: WorkerConnections | None = None,
    ):
        self.loop = loop
        self.sock = sock
        self.protocol_factory = protocol_factory
        self.ssl = ssl
        self.connections = connections or worker_connections()
        self._fd = sock.fileno()
        self._closed = False
        self._watching = False
        self._retry: asyncio.TimerHandle | None = None
        self._backoff = FIRST_BACKOFF
        self._logged_at = -LOG_INTERVAL
        self._unlogged = 0
        sock.setblocking(False)
        self.connections.on_close(self._connection_closed)
        self._watch()

    def _accept(self) -> None:
        for _ in range(MAX_ACCEPTS_PER_WAKEUP):
            if not self.connections.room():
                self._pause(MAX_BACKOFF)  # a closing connection resumes it sooner
                self._warn(f"{self.connections.open} connections open (flyer_worker_connections="
                           f"{self.connections.limit}): new ones wait in the listen queue")
                return
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # that client left while queued; the next one may be there
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS…: the socket stays readable
                self._pause(self._backoff)
                self._warn(f"accept() failed: {exc}; retrying in {self._backoff:g} s or when "
                           f"a connection closes")
                self._backoff = min(self._backoff * 2, MAX_BACKOFF)
                return
            self._backoff = FIRST_BACKOFF
            conn.setblocking(False)
            self.connections.accepted()
            self.loop.create_task(self._connect(conn))

    async def _connect(self, conn: socket.socket) -> None:
        # Counted as accepting until the protocol's connection_made counts it as open: a
        # connection counted as both stopped accepting short of the limit in a burst.
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, conn, ssl=self.ssl)
        except OSError:
            self.connections.not_made()
            conn.close()  # the client went away before the transport was set up
        except BaseException:
            self.connections.not_made()
            raise

    def _watch(self) -> None:
        self._retry = None
        if not self._closed and not self._watching:
            self._watching = True
            self.loop.add_reader(self._fd, self._accept)

    def _pause(self, seconds: float) -> None:
        self._watching = False
        self.loop.remove_reader(self._fd)
        self._retry = self.loop.call_later(seconds, self._watch)

    def _connection_closed(self) -> None:
        # A descriptor and a slot were freed: a paused acceptor tries again now.
        if self._retry is not None:
            self._retry.cancel()
            self._watch()

    def _warn(self, message: str) -> None:
        now = self.loop.time()
        if now - self._logged_at < LOG_INTERVAL:
            self._unlogged += 1
            return
        if self._unlogged:
            message += f" ({self._unlogged} more since the last such line)"
        logger.warning(message)
        self._logged_at = now
        self._unlogged = 0

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.connections.forget(self._connection_closed)
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None
            if self._watching:
                self._watching = False
                self.loop.remove_reader(self._fd)

    async def wait_closed(self) -> None:
        return None
