"""Every uvicorn name FastFlyer relies on (listed in ``fastflyer/adapters/uvicorn.py``) still
exists and behaves as used; a failure names what changed upstream and where to adapt."""

from __future__ import annotations

import asyncio
import collections
import inspect
from typing import Any

import pytest
import uvicorn
from fastflyer.adapters import uvicorn as uv

ADAPT = "update fastflyer/adapters/uvicorn.py and fastflyer/server/protocol.py"
VERSION = uvicorn.__version__


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())


def parameters(function: Any) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


def test_installed_uvicorn_is_in_the_checked_range():
    low, high = (version_tuple(v) for v in uv.CHECKED_VERSIONS)
    assert low <= version_tuple(VERSION) <= high, (
        f"uvicorn {VERSION} is outside the checked range {uv.CHECKED_VERSIONS}: run this contract "
        "against it, then update CHECKED_VERSIONS in fastflyer/adapters/uvicorn.py")


def test_protocol_constructor_takes_the_private_loop_keyword():
    assert parameters(uv.HttpToolsProtocol.__init__)[:4] == [
        "config", "server_state", "app_state", "_loop"], (
        f"uvicorn {VERSION} changed HttpToolsProtocol(config, server_state, app_state, _loop): "
        "update protocol_factory in fastflyer/adapters/uvicorn.py")


@pytest.mark.parametrize(("method", "expected"), [
    ("connection_made", ["transport"]),
    ("connection_lost", ["exc"]),
    ("data_received", ["data"]),
    ("on_headers_complete", []),
    ("on_message_complete", []),
    ("on_response_complete", []),
    ("handle_websocket_upgrade", []),
])
def test_overridden_protocol_methods_exist(method, expected):
    function = getattr(uv.HttpToolsProtocol, method, None)
    assert function is not None, (
        f"uvicorn {VERSION} removed HttpToolsProtocol.{method}: {ADAPT}")
    assert parameters(function) == expected, (
        f"uvicorn {VERSION} changed HttpToolsProtocol.{method}{inspect.signature(function)}: {ADAPT}")


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.paused = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)


class Probe(uv.HttpToolsProtocol):
    """Records what a subclass sees when the parser reports a complete head."""

    seen: dict[str, Any] = {}

    def on_headers_complete(self) -> None:
        Probe.seen = {"url": self.url, "headers": list(self.headers),
                      "method": self.parser.get_method()}
        super().on_headers_complete()


def test_protocol_attributes_and_pipelining_behave_as_used():
    """What ``server/protocol.py`` reads and relies on, exercised on the unmodified protocol."""
    release = asyncio.Event()

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        config = uv.Config(app=app, lifespan="off", log_config=None, proxy_headers=False,
                           limit_concurrency=1)
        state = uv.ServerState()
        protocol = Probe(config=config, server_state=state, app_state={}, _loop=loop)
        transport = Transport()
        protocol.connection_made(transport)
        for name in ("transport", "loop", "parser", "cycle", "pipeline", "flow", "server_state",
                     "limit_concurrency"):
            assert hasattr(protocol, name), f"uvicorn {VERSION} removed HttpToolsProtocol.{name}: {ADAPT}"
        assert protocol.transport is transport and protocol.loop is loop and protocol.cycle is None
        assert protocol.server_state is state and protocol in state.connections, (
            f"uvicorn {VERSION} changed ServerState.connections: {ADAPT}")
        assert isinstance(protocol.pipeline, collections.deque) and not protocol.pipeline
        for name in ("pause_reading", "resume_reading"):
            assert callable(getattr(protocol.flow, name, None)), (
                f"uvicorn {VERSION} removed FlowControl.{name}: {ADAPT}")

        protocol.limit_concurrency = None  # what the guarded protocol does: the check is off
        protocol.data_received(b"POST /a?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"
                               b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert Probe.seen == {"url": b"/b", "headers": [(b"host", b"t")], "method": b"GET"}, (
            f"uvicorn {VERSION} changed HttpToolsProtocol.url/headers/parser.get_method: {ADAPT}")
        assert protocol.cycle is not None and not protocol.cycle.response_complete
        assert len(protocol.pipeline) == 1 and transport.paused, (
            f"uvicorn {VERSION} no longer queues a pipelined request in HttpToolsProtocol.pipeline "
            f"with reading paused: {ADAPT}")
        release.set()
        for _ in range(50):
            await asyncio.sleep(0)
        assert bytes(transport.written) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" * 2, (
            f"uvicorn {VERSION} changed on_response_complete starting the queued request "
            f"(or limit_concurrency=None no longer turns its check off): {ADAPT}")
        assert not protocol.pipeline and protocol.cycle.response_complete
        assert state.total_requests == 2, f"uvicorn {VERSION} changed ServerState.total_requests: {ADAPT}"

    asyncio.run(scenario())


def test_server_starts_without_listeners():
    async def scenario() -> None:
        config = uv.Config(app=lambda scope, receive, send: None, lifespan="off", log_config=None)
        config.load()
        server = uv.Server(config)
        assert isinstance(server.server_state, uv.ServerState), (
            f"uvicorn {VERSION} changed Server.server_state: update fastflyer/adapters/uvicorn.py")
        server.lifespan = config.lifespan_class(config)  # set by Server.serve before startup
        assert "sockets" in parameters(uv.Server.startup), (
            f"uvicorn {VERSION} changed Server.startup(sockets=...): update "
            "start_without_listeners in fastflyer/adapters/uvicorn.py")
        assert await uv.start_without_listeners(server), (
            f"uvicorn {VERSION} changed Server.started: update fastflyer/adapters/uvicorn.py")
        assert server.servers == [], (
            f"uvicorn {VERSION} changed Server.servers: update fastflyer/server/uvicorn_server.py")
        assert isinstance(server.lifespan.state, dict), (
            f"uvicorn {VERSION} changed Server.lifespan.state: update protocol_factory in "
            "fastflyer/adapters/uvicorn.py")
        assert uv.connections(server) is server.server_state.connections
        protocol = uv.protocol_factory(server, asyncio.get_running_loop())()
        assert isinstance(protocol, uv.HttpToolsProtocol)
        protocol.connection_made(Transport())
        assert uv.awaiting_request(protocol), (
            f"uvicorn {VERSION} changed HttpToolsProtocol.cycle before the first request: update "
            "awaiting_request in fastflyer/adapters/uvicorn.py")

    asyncio.run(scenario())


def test_failed_app_start_up_is_reported_not_fatal():
    async def app(scope: dict, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "ValueError: no database"})

    async def scenario() -> None:
        config = uv.Config(app=app, lifespan="on", log_config=None)
        config.load()
        server = uv.Server(config)
        server.lifespan = config.lifespan_class(config)
        assert await uv.start_without_listeners(server) is False, (
            f"uvicorn {VERSION} changed what Server.startup does when the app's start-up "
            "fails: update start_without_listeners in fastflyer/adapters/uvicorn.py")
        assert not server.started

    asyncio.run(scenario())


def test_main_loop_asks_on_tick_and_stops_when_it_says_so():
    """FlyerServer.on_tick adds the drain delay, recycling and loop lag to uvicorn's tick."""
    assert inspect.iscoroutinefunction(uv.Server.on_tick) and parameters(uv.Server.on_tick) == [
        "counter"], f"uvicorn {VERSION} changed Server.on_tick(counter): {ADAPT}"

    class Counting(uv.Server):
        ticks: list[int] = []

        async def on_tick(self, counter: int) -> bool:
            self.ticks.append(counter)
            return len(self.ticks) == 3

    config = uv.Config(app=lambda scope, receive, send: None, lifespan="off", log_config=None)
    server = Counting(config)
    asyncio.run(asyncio.wait_for(server.main_loop(), 5))
    assert server.ticks == [0, 1, 2], (
        f"uvicorn {VERSION} changed how Server.main_loop calls on_tick: update "
        "fastflyer/server/uvicorn_server.py")
    assert uv.total_requests(server) == 0


# Keywords passed by server/uvicorn_server.py and the process models (single, worker, reload).
CONFIG_KEYWORDS = [
    "app", "loop", "http", "lifespan", "log_config", "access_log", "server_header",
    "timeout_keep_alive", "timeout_graceful_shutdown", "forwarded_allow_ips", "timeout_notify",
    "callback_notify", "factory", "host", "port", "reload", "reload_dirs",
    "reload_includes", "ssl_certfile", "ssl_keyfile",
]


@pytest.mark.parametrize("keyword", CONFIG_KEYWORDS)
def test_config_keywords_exist(keyword):
    assert keyword in parameters(uv.Config.__init__), (
        f"uvicorn {VERSION} removed Config({keyword}=...): update fastflyer/server/uvicorn_server.py")


def test_config_attributes_used_by_the_server():
    config = uv.Config(app=lambda scope, receive, send: None, http=uv.HttpToolsProtocol,
                       log_config=None)
    config.load()
    for name in ("backlog", "ssl", "timeout_graceful_shutdown", "limit_concurrency"):
        assert hasattr(config, name), (
            f"uvicorn {VERSION} removed Config.{name}: update fastflyer/server/uvicorn_server.py")
    assert config.http_protocol_class is uv.HttpToolsProtocol, (
        f"uvicorn {VERSION} changed Config.http_protocol_class: update fastflyer/adapters/uvicorn.py")
    assert config.limit_concurrency is None, (
        f"uvicorn {VERSION} sets a default limit_concurrency: FastFlyer applies "
        "flyer_worker_connections itself (fastflyer/server/protocol.py)")


def test_reload_supervisor_takes_config_target_and_sockets():
    from uvicorn.supervisors import ChangeReload

    assert parameters(ChangeReload.__init__)[:3] == ["config", "target", "sockets"], (
        f"uvicorn {VERSION} changed ChangeReload(config, target, sockets): update change_reload in "
        "fastflyer/adapters/uvicorn.py")
    assert callable(getattr(ChangeReload, "run", None)), (
        f"uvicorn {VERSION} removed ChangeReload.run: update fastflyer/server/reload.py")
