"""GuardedHttpToolsProtocol without a network (h11-style): bytes in through ``data_received``,
the bytes it writes asserted exactly. A real uvicorn Config and ServerState, a fake transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from fastflyer.adapters import uvicorn as uv
from fastflyer.server import protocol as guarded
from fastflyer.server.accept import WorkerConnections
from fastflyer.server.protocol import GuardedHttpToolsProtocol

MAX_HEAD = 1024
HEAD_TIMEOUT = 0.3

BODY_431 = b'{"code":431,"message":"Request header fields too large"}'
RESPONSE_431 = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                b"content-length: 56\r\nconnection: close\r\n\r\n" + BODY_431)
BODY_503 = b'{"code":503,"message":"Too many connections"}'
RESPONSE_503 = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                b"content-length: 45\r\nretry-after: 1\r\nconnection: close\r\n\r\n" + BODY_503)


def answer(status: bytes, body: bytes) -> bytes:
    """What uvicorn writes for the test app's response (ServerState has no default headers)."""
    return b"HTTP/1.1 " + status + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body


def ok(body: bytes) -> bytes:
    return answer(b"200 OK", body)


class App:
    """``/early`` answers 401 without reading the body, ``/hold`` waits for ``release``,
    anything else reads the whole body and answers its length."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        path = scope["path"]
        if path == "/early":
            status, body = 401, b"who are you"
        elif path == "/hold":
            await self.release.wait()
            status, body = 200, b"held"
        else:
            received = b""
            while True:
                message = await receive()
                received += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.bodies.append(received)
            status, body = 200, b"%s %d" % (path.encode(), len(received))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class FakeTransport(asyncio.Transport):
    """Records what the protocol does to its connection; closing calls connection_lost soon,
    as a real transport does."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.protocol: asyncio.Protocol | None = None
        self.written = bytearray()
        self.eof = False
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        assert not self.eof, "write() after write_eof()"
        assert not self.closed, "write() after close()"
        self.written += data

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)


class CountingParser:
    """Wraps the protocol's httptools parser to count the bytes it was given."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.fed = 0

    def feed_data(self, data: bytes) -> None:
        self.fed += len(data)
        self.parser.feed_data(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parser, name)


class Server:
    """Protocols of one uvicorn ServerState, as uvicorn would make them."""

    def __init__(self, app: App) -> None:
        self.loop = asyncio.get_running_loop()
        self.config = uv.Config(app=app, http=GuardedHttpToolsProtocol, lifespan="off",
                                log_config=None, proxy_headers=False)
        self.state = uv.ServerState()

    def connect(self) -> tuple[GuardedHttpToolsProtocol, FakeTransport]:
        protocol = GuardedHttpToolsProtocol(config=self.config, server_state=self.state,
                                            app_state={}, _loop=self.loop)
        transport = FakeTransport(self.loop)
        transport.protocol = protocol
        protocol.connection_made(transport)
        return protocol, transport


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def settle() -> None:
    """Let every runnable task (the ASGI app) run to its next wait."""
    for _ in range(20):
        await asyncio.sleep(0)


async def feed(protocol: asyncio.Protocol, pieces: Iterable[bytes], paced: bool = True) -> None:
    """``paced``: let the app run after each piece (else only after the last: many small pieces
    must not take longer than the head deadline on a busy machine)."""
    for piece in pieces:
        protocol.data_received(piece)
        if paced:
            await settle()
    await settle()


def slices(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def head(target: bytes, length: int | None = None, extra: bytes = b"") -> bytes:
    """A request head; ``length`` pads it with a header to exactly that many bytes."""
    start = b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n" + extra
    if length is None:
        return start + b"\r\n"
    filler = length - len(start) - len(b"X-Pad: \r\n\r\n")
    return start + b"X-Pad: " + b"p" * filler + b"\r\n\r\n"


def post(target: bytes, body: bytes) -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (target, len(body), body)


@pytest.fixture(autouse=True)
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GuardedHttpToolsProtocol, "max_head_bytes", MAX_HEAD)
    monkeypatch.setattr(GuardedHttpToolsProtocol, "head_timeout", HEAD_TIMEOUT)
    monkeypatch.setattr(GuardedHttpToolsProtocol, "connection_limit", WorkerConnections(limit=100))
    monkeypatch.setattr(guarded, "LINGER_SECONDS", 0.05)
    monkeypatch.setattr(guarded, "SWEEP_SECONDS", 0.05)


def run(scenario: Callable[[App], Any]) -> None:
    asyncio.run(scenario(App()))


# --- 1. an early answer while the body is still arriving -----------------------------------------

def test_early_answer_while_the_body_arrives_is_not_followed_by_a_431():
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        body = b"b" * (8 * MAX_HEAD)
        await feed(protocol, [post(b"/early", body)[:200]])
        assert transport.written == answer(b"401 Unauthorized", b"who are you")
        # The body keeps coming after the answer: it is a body, not a new head.
        await feed(protocol, slices(post(b"/early", body)[200:], 300))
        await feed(protocol, [head(b"/next")])
        assert transport.written == answer(b"401 Unauthorized", b"who are you") + ok(b"/next 0")
        assert not transport.eof and not transport.closed

    run(scenario)


def test_pipelined_requests_with_bodies_are_answered_in_order():
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        bodies = [b"1" * 3000, b"2" * 3500, b"3" * 4000]
        wire = b"".join(post(b"/echo%d" % i, body) for i, body in enumerate(bodies))
        await feed(protocol, slices(wire, 500))
        await until(lambda: len(app.bodies) == 3 or transport.eof)
        await settle()
        assert transport.written == ok(b"/echo0 3000") + ok(b"/echo1 3500") + ok(b"/echo2 4000")
        assert app.bodies == bodies

    run(scenario)


def test_pipelined_requests_in_one_chunk_are_answered_in_order():
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        bodies = [b"x" * 5000, b"", b"y" * 3]
        wire = b"".join(post(b"/e%d" % i, body) for i, body in enumerate(bodies)) + head(b"/last")
        await feed(protocol, [wire])
        await until(lambda: len(app.bodies) == 4)
        await settle()
        assert transport.written == ok(b"/e0 5000") + ok(b"/e1 0") + ok(b"/e2 3") + ok(b"/last 0")

    run(scenario)


@pytest.mark.parametrize("split", [None, 1, 5], ids=["one chunk", "byte by byte", "5-byte pieces"])
def test_chunked_bodies_with_blank_lines_inside_are_framed_by_the_parser(split):
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        data = b"a\r\n\r\n\r\n\r\nb"  # blank lines inside the body are not its end
        chunked = (b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n"
                   % (len(data), data, len(data), data))
        big = b"X-Pad: " + b"p" * (MAX_HEAD - 100) + b"\r\n"  # two of them exceed the cap
        wire = chunked + head(b"/n1", extra=big) + chunked + head(b"/n2", extra=big)
        await feed(protocol, [wire] if split is None else slices(wire, split), paced=False)
        await until(lambda: len(app.bodies) == 4 or transport.eof)
        await settle()
        assert transport.written == ok(b"/c 20") + ok(b"/n1 0") + ok(b"/c 20") + ok(b"/n2 0")
        assert app.bodies == [data * 2, b"", data * 2, b""]

    run(scenario)


# --- 2. the head cap, counted exactly whatever the segmentation ----------------------------------

SEGMENTATIONS = {"one chunk": None, "byte by byte": 1, "7-byte pieces": 7, "with body after": 0}


@pytest.mark.parametrize("split", SEGMENTATIONS.values(), ids=SEGMENTATIONS.keys())
@pytest.mark.parametrize("size", [MAX_HEAD, MAX_HEAD + 1])
def test_head_cap_does_not_depend_on_segmentation(size, split):
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        request = head(b"/h", size)
        assert len(request) == size
        if split == 0:  # the head and the start of the next request in one chunk
            pieces = [request + b"GET /n"]
        elif split is None:
            pieces = [request]
        else:
            pieces = slices(request, split)
        await feed(protocol, pieces, paced=False)
        if size <= MAX_HEAD:
            assert transport.written == ok(b"/h 0")
            assert not transport.eof
        else:
            assert transport.written == RESPONSE_431
            assert transport.eof
            await until(lambda: transport.closed)  # after lingering

    run(scenario)


def test_head_cap_applies_to_a_head_behind_a_request_in_flight():
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        parser = protocol.parser = CountingParser(protocol.parser)
        first = head(b"/hold")
        big = b"GET /big HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20)
        await feed(protocol, [first, *slices(big, 65536)])
        # At most one head's worth was parsed; nothing is written into the response in flight.
        assert parser.fed <= len(first) + MAX_HEAD
        assert transport.written == b""
        app.release.set()
        await until(lambda: transport.eof)
        assert transport.written == ok(b"held") + RESPONSE_431
        await until(lambda: transport.closed)

    run(scenario)


def test_bytes_behind_a_queued_request_are_bounded():
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        parser = protocol.parser = CountingParser(protocol.parser)
        queued = head(b"/hold") + head(b"/second")
        rest = b"".join(head(b"/more%d" % i) for i in range(1000))
        await feed(protocol, [queued + rest])
        # One request in flight, one queued; what follows waits unparsed, reading paused.
        assert parser.fed == len(queued)
        assert transport.paused
        app.release.set()
        await until(lambda: len(app.bodies) == 1001)
        await settle()
        assert transport.written == ok(b"held") + ok(b"/second 0") + b"".join(
            ok(b"/more%d 0" % i) for i in range(1000))

    run(scenario)


# --- 3. the head deadline ------------------------------------------------------------------------

def test_head_deadline_applies_while_a_request_is_in_flight():
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        await feed(protocol, [head(b"/hold"), b"GET /next HTTP/1.1\r\nHo"])
        await until(lambda: transport.closed, timeout=HEAD_TIMEOUT + 3)
        assert transport.written == b""

    run(scenario)


def test_a_slow_app_is_not_cut_by_the_head_deadline():
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        await feed(protocol, [head(b"/hold")])
        await asyncio.sleep(HEAD_TIMEOUT * 3)
        assert not transport.closed
        app.release.set()
        await until(lambda: transport.written == ok(b"held"))
        assert not transport.closed

    run(scenario)


def test_a_connection_that_sends_nothing_is_closed_after_the_head_deadline():
    async def scenario(app: App) -> None:
        _, transport = Server(app).connect()
        await until(lambda: transport.closed, timeout=HEAD_TIMEOUT + 3)
        assert transport.written == b""

    run(scenario)


def test_blank_lines_between_requests_do_not_hold_a_connection_open():
    # llhttp skips blank lines before a request, and any bytes stop uvicorn's keep-alive
    # timer: the head deadline is what closes such a connection.
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        await feed(protocol, [head(b"/a")])
        assert transport.written == ok(b"/a 0")
        deadline = asyncio.get_running_loop().time() + HEAD_TIMEOUT + 3
        while not transport.closed:
            assert asyncio.get_running_loop().time() < deadline, "still open"
            protocol.data_received(b"\r\n\r\n")
            await asyncio.sleep(HEAD_TIMEOUT / 4)
        assert transport.written == ok(b"/a 0")

    run(scenario)


def test_a_body_after_a_head_read_alone_is_not_counted_as_a_head():
    async def scenario(app: App) -> None:
        protocol, transport = Server(app).connect()
        body = b"b" * (8 * MAX_HEAD)
        request = post(b"/e", body)
        head_end = request.index(b"\r\n\r\n") + 4
        await feed(protocol, [request[:head_end], *slices(request[head_end:], 1000), head(b"/n")])
        assert transport.written == ok(b"/e %d" % len(body)) + ok(b"/n 0")
        assert app.bodies == [body, b""]
        assert not transport.eof

    run(scenario)


# --- 4. flyer_worker_connections ------------------------------------------------------------------

def test_requests_over_the_connection_limit_get_503_but_health_checks_pass(monkeypatch):
    limit = WorkerConnections(limit=2)
    monkeypatch.setattr(GuardedHttpToolsProtocol, "connection_limit", limit)
    monkeypatch.setattr(GuardedHttpToolsProtocol, "health_paths", frozenset({b"/health_check"}))
    monkeypatch.setattr(GuardedHttpToolsProtocol, "head_timeout", 30.0)  # the idle second stays

    async def scenario(app: App) -> None:
        server = Server(app)
        (first, first_t), (second, _), (third, third_t), (fourth, fourth_t) = (
            server.connect() for _ in range(4))
        assert limit.open == 4
        await feed(first, [head(b"/a")])
        await feed(third, [post(b"/a", b"body")])
        await feed(fourth, [head(b"/health_check?probe=1") + head(b"/b")])
        assert first_t.written == ok(b"/a 0")
        assert third_t.written == RESPONSE_503 and third_t.eof
        # A health check is answered; the next request on that connection is still over the limit.
        assert fourth_t.written == ok(b"/health_check 0") + RESPONSE_503
        await until(lambda: third_t.closed and fourth_t.closed)
        assert limit.open == 2
        # Back under the limit: a connection opened over it is served like any other.
        (fifth, fifth_t) = server.connect()
        first_t.close()
        await settle()
        await feed(fifth, [head(b"/c")])
        assert fifth_t.written == ok(b"/c 0")

    run(scenario)


def test_a_head_read_alone_over_the_connection_limit_gets_503(monkeypatch):
    limit = WorkerConnections(limit=1)
    monkeypatch.setattr(GuardedHttpToolsProtocol, "connection_limit", limit)

    async def scenario(app: App) -> None:
        server = Server(app)
        (_, first_t), (second, second_t) = (server.connect() for _ in range(2))
        await feed(second, [head(b"/a")])
        assert second_t.written == RESPONSE_503 and second_t.eof
        assert app.bodies == [] and first_t.written == b""

    run(scenario)
