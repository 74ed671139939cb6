"""The gunicorn worker: ``uvicorn_worker.UvicornWorker`` with every FastFlyer setting
really applied (uvicorn's own worker ignores gunicorn's worker_connections and graceful
timeout) and readiness turned off the moment SIGTERM arrives."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.config import Config
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from .accept import BatchAcceptor
from .readiness import readiness
from .settings import FlyerSettings, get_settings

# Longest wait, on shutdown, for a just-accepted connection to deliver its request.
FRESH_CONNECTION_GRACE = 1.0


def apply_request_guards(config: Config, settings: FlyerSettings) -> None:
    """Cap the size of, and the time to receive, a request's head (see protocol.py)."""
    try:
        import httptools  # noqa: F401
    except ImportError:  # h11 fallback: it has its own size cap, but no deadline
        config.http = "h11"
        config.h11_max_incomplete_event_size = settings.max_header_size
        return
    from .protocol import GuardedHttpToolsProtocol

    config.http = GuardedHttpToolsProtocol


class DrainingServer(Server):
    """A uvicorn server that marks this worker not-ready as soon as it is told to stop."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        readiness.start_draining()
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None:
            await super().startup(sockets)
            return
        # uvicorn sets up everything but the listeners; accept.py's acceptors take those.
        await super().startup(sockets=[])
        if not self.started:
            return
        config, loop = self.config, asyncio.get_running_loop()

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state,
                _loop=loop,
            )

        for sock in sockets:
            self.servers.append(BatchAcceptor(loop, sock, create_protocol, ssl=config.ssl))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn closes every connection without a parsed request at once, including ones
        # accepted a moment ago whose request is already on the wire: under load (SIGTERM,
        # max_requests recycling) those requests were lost. Stop accepting, let such fresh
        # connections become in-flight requests (bounded wait), then shut down as usual.
        for server in self.servers:
            server.close()
        loop = asyncio.get_running_loop()
        grace = min(FRESH_CONNECTION_GRACE, self.config.timeout_graceful_shutdown or 0)
        deadline = loop.time() + grace
        while loop.time() < deadline and any(
            getattr(conn, "cycle", False) is None for conn in self.server_state.connections
        ):
            await asyncio.sleep(0.01)
        await super().shutdown(sockets)


class FlyerWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "auto",  # uvloop when installed (it is a dependency)
        "http": "auto",  # httptools when installed (it is a dependency)
        "lifespan": "on",
        "access_log": False,  # FastFlyer's access-log middleware replaces uvicorn's
        "server_header": False,  # do not advertise the server software
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # UvicornWorker points uvicorn's loggers at gunicorn's handlers and stops propagation;
        # send them on to the root logger, i.e. into loguru, instead.
        for name in ("uvicorn.error", "uvicorn"):
            std = logging.getLogger(name)
            std.handlers = []
            std.propagate = True
        # 503 beyond this many concurrent connections in this worker. uvicorn refuses a request
        # once `connections >= limit` (the requesting connection included), so the limit is
        # one more than the number of connections to allow.
        self.config.limit_concurrency = self.cfg.worker_connections + 1
        self.config.timeout_graceful_shutdown = self.cfg.graceful_timeout
        apply_request_guards(self.config, get_settings())

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
