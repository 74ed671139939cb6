"""uvicorn's httptools protocol with the guards it lacks: a cap on the size of a request's head
(431 beyond it; otherwise one client can make a worker buffer and parse megabytes of headers),
a deadline for receiving it (otherwise slowloris clients hold connections forever), a bound
on what a pipelining client can make it hold, and ``flyer_worker_connections``.

The guards follow the parser, not the responses: a head starts when the previous message's
body has been read (or the connection opened) and ends at its blank line, so an answer sent
before the body is read, or pipelined requests, are measured like any other. The head is
counted to the exact byte whatever the TCP segmentation: the parser is fed up to the end of
each head, and of each body, separately. The usual read, one whole head between requests and
nothing after it, is fed at once: its checks are a few attribute reads and one search.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastflyer.adapters.uvicorn import HttpToolsProtocol
from fastflyer.application.middleware.health import LIVENESS_PATHS, READINESS_PATH
from fastflyer.server.accept import WorkerConnections, worker_connections
from fastflyer.server.heap import memory_returner
from fastflyer.settings import FlyerSettings, get_settings

# The base class's methods, looked up once rather than on the class at every call.
_parse = HttpToolsProtocol.data_received
_headers_complete = HttpToolsProtocol.on_headers_complete
_message_complete = HttpToolsProtocol.on_message_complete
_response_complete = HttpToolsProtocol.on_response_complete


def _refusal(status: bytes, message: bytes, *headers: bytes) -> bytes:
    body = b'{"code":%s,"message":"%s"}' % (status.split()[0], message)
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n" % len(body) + b"".join(h + b"\r\n" for h in headers)
            + b"connection: close\r\n\r\n" + body)


RESPONSE_431 = _refusal(b"431 Request Header Fields Too Large", b"Request header fields too large")
RESPONSE_503 = _refusal(b"503 Service Unavailable", b"Too many connections", b"retry-after: 1")

END_OF_HEAD = b"\r\n\r\n"  # llhttp accepts no other line ending (it answers 400)
BLANK_LINE_TAIL = END_OF_HEAD[1:]
LINGER_SECONDS = 2.0
SWEEP_SECONDS = 1.0  # how often a server looks for heads that took too long
OVER_LIMIT_HEAD_TIMEOUT = 1.0  # a connection over the limit holds a slot of the margin: briefly


def health_paths(settings: FlyerSettings) -> frozenset[bytes]:
    """The paths of the health layer (``middleware/health.py``): answered over the limit too."""
    base = settings.base_url if settings.base_url != "/" else ""
    paths = {*LIVENESS_PATHS, READINESS_PATH, f"{base}/health_check", f"{base}{READINESS_PATH}"}
    return frozenset(path.encode() for path in paths)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Per request this costs a search for the end of the head and a few attribute reads and
    writes; the deadline is enforced by one periodic sweep per server, not by a timer per
    request."""

    # Per process, read from the settings by the first connection.
    max_head_bytes = 0
    head_timeout = 0.0
    health_paths: frozenset[bytes] = frozenset()
    connection_limit: WorkerConnections | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # flyer_worker_connections is applied by connection_limit alone; uvicorn's own limit
        # also counts request tasks, which briefly outnumber connections under load.
        self.limit_concurrency = None
        cls = GuardedHttpToolsProtocol
        if cls.connection_limit is None:  # importable class: the same in reload mode
            settings = get_settings()
            cls.max_head_bytes = settings.max_header_size
            cls.head_timeout = settings.header_timeout
            cls.health_paths = health_paths(settings)
            cls.connection_limit = worker_connections()

    # --- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Instance attributes all (no class defaults): the interpreter reads those fastest.
        self._in_head = True  # the parser is in a request head, or between requests
        self._head_bytes = 0  # of the current head, counted so far
        self._tail = b""  # the last bytes parsed, for an end of head split between reads
        self._head_since: float | None = self.loop.time()  # a silent connection is slowloris too
        self._body_left = 0  # bytes of a Content-Length body still to come; 0 for a chunked one
        self._refusal: bytes | None = None  # the answer instead of the current (or next) response
        self._discarding = False  # refused: what the client still sends is dropped
        self._unparsed = b""  # read behind a queued request, parsed once that request starts
        self._over_limit = self.connection_limit.opened()  # opened over flyer_worker_connections
        self._counted = True  # counted in connection_limit
        state = self.server_state
        memory_returner.connection_opened(len(state.connections))
        if not getattr(state, "_fastflyer_sweeping", False):
            state._fastflyer_sweeping = True  # type: ignore[attr-defined]
            self.loop.call_later(SWEEP_SECONDS, _sweep, self.loop, state.connections)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._unparsed = b""
        self._leave_limit()
        state = self.server_state
        memory_returner.connection_closed(len(state.connections), state.total_requests)

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes the connection over; its close is not seen here.
        self._leave_limit()
        super().handle_websocket_upgrade()

    def _leave_limit(self) -> None:
        if self._counted:
            self._counted = False
            self.connection_limit.closed()

    # --- bytes in -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if (self._in_head and not self._head_bytes and not self.pipeline and not self._unparsed
                and not self._discarding):
            size = len(data)
            if data.find(END_OF_HEAD) == size - 4 >= 0 and size <= self.max_head_bytes:
                # The usual read: one whole head, between requests, with nothing after it.
                self._head_bytes = size  # on_headers_complete resets it
                _parse(self, data)
                if self._refusal is not None:
                    self._refuse(self._refusal)
                elif self._head_bytes:  # blank lines only, which llhttp skips: no head yet
                    if self._head_since is None:
                        self._head_since = self.loop.time()
                elif not self._in_head and self._counted and not self.transport.is_closing():
                    self._body_left = self._content_length()
                return
        self._data_received(data)

    def _data_received(self, data: bytes) -> None:
        # The parser is fed up to the end of each head and of each body, so that every byte
        # is known to be head or body whatever the segmentation.
        if self._discarding:
            return
        if self._unparsed or self.pipeline:
            # A request waits for the one in flight: what follows it waits unparsed, and no
            # more is read, so that a pipelining client cannot queue work without bound.
            self._unparsed += data
            self.flow.pause_reading()
            return
        while data:
            in_head = self._in_head
            if in_head or not self._body_left:  # a chunked body ends right after a blank line
                if self._tail:
                    end = self._after_blank_line(data)
                else:
                    end = data.find(END_OF_HEAD)
                    if end >= 0:
                        end += 4
                size = len(data) if end < 0 else end
                # The last bytes parsed, for a blank line split between reads; the callbacks
                # reset them where a head or a body ends.
                self._tail = BLANK_LINE_TAIL if end >= 0 else (self._tail + data[-3:])[-3:]
                if in_head:
                    if self._head_bytes + size > self.max_head_bytes:
                        self._refuse(RESPONSE_431)
                        return
                    self._head_bytes += size
                    if self._head_since is None:  # the next head's clock starts with its first byte
                        self._head_since = self.loop.time()
            else:
                size = min(self._body_left, len(data))
                self._body_left -= size
            if size < len(data):
                piece, data = data[:size], data[size:]
            else:
                piece, data = data, b""
            _parse(self, piece)
            if self._refusal is not None:
                self._refuse(self._refusal)
                return
            if self.transport.is_closing() or not self._counted:  # 400, or upgraded
                return
            if in_head and not self._in_head:
                self._body_left = self._content_length()
            if self.pipeline and data:
                self._unparsed = data
                self.flow.pause_reading()
                return

    def _after_blank_line(self, data: bytes) -> int:
        """Offset just past the first blank line in ``data``, the last bytes parsed before it
        included, or -1."""
        joint = (self._tail + data[:3]).find(END_OF_HEAD)
        if joint >= 0:
            return joint + 4 - len(self._tail)
        end = data.find(END_OF_HEAD)
        return end + 4 if end >= 0 else -1

    def _content_length(self) -> int:
        for name, value in self.headers:
            if name == b"content-length":
                return int(value)
        return 0  # chunked: llhttp frames a request body no other way

    # --- parser callbacks ---------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._head_since = None
        self._tail = b""
        if self._over_limit:
            if not self.connection_limit.over_limit():
                self._over_limit = False  # connections closed since: this one is served
            elif not self._is_health_check():
                self._refusal = RESPONSE_503
                return
        _headers_complete(self)

    def _is_health_check(self) -> bool:
        path = self.url.partition(b"?")[0]
        return path in self.health_paths and self.parser.get_method() in (b"GET", b"HEAD")

    def on_message_complete(self) -> None:
        if self._refusal is None:  # else refused in on_headers_complete: there is no request
            self._in_head = True
            self._tail = b""
            _message_complete(self)

    # --- refusing -----------------------------------------------------------------------------

    def _refuse(self, response: bytes) -> None:
        self._discarding = True
        self._head_since = None
        self._unparsed = b""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            self._refusal = response  # after the response being written (on_response_complete)
            return
        self._refusal = None
        self._answer_and_close(response)

    def _answer_and_close(self, response: bytes) -> None:
        # Lingering close: answer, stop sending, and drain what the client is still sending
        # for a moment, so that closing with unread data does not reset the connection
        # before the client has read the answer.
        self.transport.write(response)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    # --- bytes out ----------------------------------------------------------------------------

    def on_response_complete(self) -> None:
        _response_complete(self)  # starts a queued request, resumes reading
        if (self._refusal is None and not self._unparsed) or self.transport.is_closing():
            return
        if self._refusal is not None:
            response, self._refusal = self._refusal, None
            self._answer_and_close(response)
        elif self._unparsed and not self.pipeline:
            self.loop.call_soon(self._parse_unparsed)

    def _parse_unparsed(self) -> None:
        data, self._unparsed = self._unparsed, b""
        if data and not self._discarding and not self.transport.is_closing():
            self.data_received(data)
            if not self.pipeline:
                self.flow.resume_reading()  # paused while this waited

    def head_overdue(self, now: float) -> bool:
        since = self._head_since
        if since is None:
            return False
        if self._over_limit:
            return now - since > min(self.head_timeout, OVER_LIMIT_HEAD_TIMEOUT)
        return now - since > self.head_timeout


def _sweep(loop: asyncio.AbstractEventLoop, connections: set) -> None:
    """Close every connection whose request head is overdue; then look again later."""
    now = loop.time()
    for conn in list(connections):
        overdue = getattr(conn, "head_overdue", None)
        if overdue is not None and overdue(now) and not conn.transport.is_closing():
            conn.transport.close()
    loop.call_later(SWEEP_SECONDS, _sweep, loop, connections)
