"""One process's HTTP server: uvicorn configured from the settings model, with FastFlyer's
protocol and acceptor, and readiness turned off the moment it is told to stop.

Every process model (gunicorn workers, the single process, reload) builds its uvicorn
``Config`` here and nowhere else, so each setting reaches uvicorn through one path.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from typing import Any

from fastflyer.adapters import uvicorn as uv
from fastflyer.application.readiness import readiness
from fastflyer.observability.logs import logger
from fastflyer.observability.metrics import record_loop_lag
from fastflyer.server.accept import BatchAcceptor
from fastflyer.server.heap import freeze_startup_objects
from fastflyer.server.lifecycle import Lifecycle, StartupErrors
from fastflyer.server.protocol import GuardedHttpToolsProtocol
from fastflyer.settings import FlyerSettings

# Longest wait, on shutdown, for a just-accepted connection to deliver its request.
FRESH_CONNECTION_GRACE = 1.0
TICK_SECONDS = 0.1  # uvicorn's main loop calls on_tick this often


def uvicorn_config(settings: FlyerSettings, app: Any, **process_model: Any) -> uv.Config:
    """uvicorn's configuration for this service; ``process_model`` adds what the process model
    decides (heartbeat callback, max requests, reload)."""
    tls = settings.ssl_certfile is not None
    return uv.Config(
        app=app,
        loop="auto",  # uvloop (a dependency)
        http=GuardedHttpToolsProtocol,  # httptools with FastFlyer's guards (protocol.py)
        lifespan="on",
        log_config=None,  # records flow into loguru (fastflyer.observability.logs)
        access_log=False,  # FastFlyer's access-log middleware replaces uvicorn's
        server_header=False,  # do not advertise the server software
        timeout_keep_alive=settings.keepalive,
        timeout_graceful_shutdown=settings.graceful_timeout_seconds,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        ssl_certfile=str(settings.ssl_certfile) if tls else None,
        ssl_keyfile=str(settings.ssl_keyfile) if tls else None,
        **process_model,
    )


class FlyerServer(uv.Server):
    """uvicorn's server with FastFlyer's acceptor, readiness drain, drain delay, recycling
    (:mod:`~fastflyer.server.lifecycle`) and a shutdown that keeps requests already on the wire."""

    def __init__(self, config: uv.Config, lifecycle: Lifecycle | None = None) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle or Lifecycle()
        self.startup_errors = StartupErrors()
        self.stop_at: float | None = None  # end of the drain delay

    def handle_exit(self, sig: int, frame: Any) -> None:
        readiness.start_draining()
        if sig == signal.SIGQUIT:  # gunicorn's quick shutdown
            self.force_exit = True
        delay = self.lifecycle.drain_delay
        if sig == signal.SIGTERM and delay > 0 and self.stop_at is None and self.started:
            # Keep serving while endpoints and load balancers learn that readiness is 503.
            self.stop_at = time.monotonic() + delay
            logger.info(f"draining: readiness answers 503; serving for {delay:g} s more "
                        f"(flyer_drain_delay), then finishing in-flight requests")
            return
        self.stop_at = None  # a second signal skips what is left of the delay
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        now = time.monotonic()
        lifecycle = self.lifecycle
        lifecycle.tick(now, TICK_SECONDS)
        if counter % 10 == 0:
            record_loop_lag(lifecycle.take_lag())
        if await super().on_tick(counter):
            return True
        if self.stop_at is not None and now >= self.stop_at:
            self.stop_at = None
            self.should_exit = True
            return True
        return lifecycle.due(uv.total_requests(self), now) is not None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        errors = logging.getLogger("uvicorn.error")
        errors.addFilter(self.startup_errors)
        try:
            await self._startup(sockets)
        finally:
            errors.removeFilter(self.startup_errors)
        if self.started:
            self.lifecycle.started()

    async def _startup(self, sockets: list[socket.socket] | None) -> None:
        if sockets is None:
            await super().startup(sockets)
            return
        if not await uv.start_without_listeners(self):
            self.should_exit = True  # the process model reports and retries the failed start
            return
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGQUIT, self.handle_exit, signal.SIGQUIT, None)
        create_protocol = uv.protocol_factory(self, loop)
        for sock in sockets:
            sock.listen(self.config.backlog)  # reload mode hands over bound, not listening, sockets
            self.servers.append(BatchAcceptor(loop, sock, create_protocol, ssl=self.config.ssl))
        freeze_startup_objects()  # last: whatever start-up made lives for good

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
        while loop.time() < deadline and any(map(uv.awaiting_request, uv.connections(self))):
            await asyncio.sleep(0.01)
        await super().shutdown(sockets)
