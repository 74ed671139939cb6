"""uvicorn's httptools protocol with two guards it lacks: a cap on the size of a request's
head (431 beyond it; otherwise one client can make a worker buffer and parse megabytes of
headers) and a deadline for receiving it (otherwise slowloris clients hold connections —
and slots of ``flyer_worker_connections`` — forever); and ``flyer_worker_connections``
applied to connections only."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .heap import memory_returner
from .settings import get_settings

BODY_431 = b'{"code":431,"message":"Request header fields too large"}'
RESPONSE_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(BODY_431)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + BODY_431
)


LINGER_SECONDS = 2.0
SWEEP_SECONDS = 1.0  # how often a server looks for heads that took too long


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Per request this costs two attribute writes; the deadline is enforced by one periodic
    sweep per server over its connections, not by a timer per request."""

    # Per process, not per connection (instance attributes cost every connection memory).
    max_head_bytes: int
    head_timeout: float
    max_connections: int
    _discarding = False  # set on a connection that is being refused

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls = GuardedHttpToolsProtocol
        if "max_head_bytes" not in cls.__dict__:
            settings = get_settings()  # read once per process (importable class: reload mode)
            cls.max_head_bytes = settings.max_header_size
            cls.head_timeout = settings.header_timeout
            cls.max_connections = settings.worker_connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._reading_head = True
        self._head_since: float | None = self.loop.time()
        state = self.server_state
        memory_returner.connection_opened(len(state.connections))
        if not getattr(state, "_fastflyer_sweeping", False):
            state._fastflyer_sweeping = True  # type: ignore[attr-defined]
            self.loop.call_later(SWEEP_SECONDS, _sweep, self.loop, state.connections)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        state = self.server_state
        memory_returner.connection_closed(len(state.connections), state.total_requests)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if not self._reading_head:
            super().data_received(data)
            return
        if self._head_since is None:
            self._head_since = self.loop.time()
        self._head_bytes += len(data)
        super().data_received(data)
        # Still no complete head after this many bytes (body bytes that follow a complete
        # head in the same chunk do not count): refuse.
        if (
            self._reading_head
            and self._head_bytes > self.max_head_bytes
            and not self.transport.is_closing()
        ):
            self._refuse_head()

    def _refuse_head(self) -> None:
        # Lingering close: answer, stop sending, and drain what the client is still sending
        # for a moment, so that closing with unread data does not reset the connection
        # before the client has read the 431.
        self._head_since = None
        self._discarding = True
        self.transport.write(RESPONSE_431)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._head_since = None
        # flyer_worker_connections limits connections. uvicorn's own check (503 when
        # connections or tasks reach limit_concurrency) also counts request tasks, which
        # briefly outnumber connections under load (a finished task still unwinding when the
        # next request on its connection arrives): at 1000 busy connections that refused
        # thousands of requests. Let uvicorn refuse exactly when there are too many connections.
        self.limit_concurrency = 0 if self._too_many_connections() else None
        super().on_headers_complete()

    def _too_many_connections(self) -> bool:
        if len(self.connections) <= self.max_connections:
            return False
        # Over the limit on paper: do not count connections already closing (clients that
        # just left, whose connection_lost has not run yet). O(n), but only in this case.
        open_connections = sum(
            1 for conn in self.connections
            if not getattr(getattr(conn, "transport", None), "is_closing", lambda: False)()
        )
        return open_connections > self.max_connections

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's head; its clock starts with its first byte (an idle keep-alive
        # connection is uvicorn's keep-alive timeout's business).
        self._reading_head = True

    def head_overdue(self, now: float) -> bool:
        since = self._head_since
        return since is not None and self._reading_head and now - since > self.head_timeout


def _sweep(loop: asyncio.AbstractEventLoop, connections: set) -> None:
    """Close every connection whose request head is overdue; then look again later."""
    now = loop.time()
    for conn in list(connections):
        overdue = getattr(conn, "head_overdue", None)
        if overdue is not None and overdue(now) and not conn.transport.is_closing():
            conn.transport.close()
    loop.call_later(SWEEP_SECONDS, _sweep, loop, connections)
