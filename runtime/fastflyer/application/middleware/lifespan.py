"""FastFlyer's per-worker start-up and shut-down (thread limit, readiness probes, tracing,
schedulers, access log) for any app: a FlyerApp runs them in its lifespan, a project's own
app (main.py) gets them from :class:`FlyerLifespanMiddleware` around its lifespan."""

from __future__ import annotations

import sys

import anyio.to_thread

from fastflyer.application.middleware.access_log import AccessLogWriter
from fastflyer.application.probes import register_probes
from fastflyer.application.readiness import readiness
from fastflyer.observability import telemetry
from fastflyer.observability.logs import adopt_project_logging
from fastflyer.settings import FlyerSettings
from fastflyer.types import ASGIApp, Message, Receive, Scope, Send


def flyer_startup(settings: FlyerSettings, service_name: str) -> None:
    """In each worker, on its event loop, before the app's own start-up."""
    # Bound the thread pool that runs `def` endpoints (anyio's default is 40).
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
    register_probes(readiness, settings)
    telemetry.start_tracing(settings, service_name)  # per worker, after gunicorn's fork
    if "fastflyer.scheduler" in sys.modules:
        sys.modules["fastflyer.scheduler"].start_schedulers()


def flyer_shutdown(access_log_writer: AccessLogWriter | None) -> None:
    """After the app's own shut-down: stop schedulers, write the last access lines, export spans."""
    if "fastflyer.scheduler" in sys.modules:
        sys.modules["fastflyer.scheduler"].shutdown_schedulers()
    if access_log_writer is not None:
        access_log_writer.close()
    telemetry.flush_tracing()


class FlyerLifespanMiddleware:
    """FastFlyer's start-up before the app's, its shut-down after the app's; for an app
    that does not speak the lifespan protocol (a bare ASGI callable), on its behalf."""

    def __init__(self, app: ASGIApp, settings: FlyerSettings, service_name: str,
                 access_log_writer: AccessLogWriter | None):
        self.app = app
        self.settings = settings
        self.service_name = service_name
        self.access_log_writer = access_log_writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        received = False

        async def flyer_receive() -> Message:
            nonlocal received
            message = await receive()
            received = True
            if message["type"] == "lifespan.startup":
                flyer_startup(self.settings, self.service_name)
            return message

        async def flyer_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                adopt_project_logging()  # the app may have set up its logging in its start-up
            elif message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                flyer_shutdown(self.access_log_writer)
            await send(message)

        try:
            await self.app(scope, flyer_receive, flyer_send)
        except Exception:
            if received:
                raise  # the app's start-up or shut-down failed: the server reports it
            await self._without_app(receive, send)

    async def _without_app(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                flyer_startup(self.settings, self.service_name)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                flyer_shutdown(self.access_log_writer)
                await send({"type": "lifespan.shutdown.complete"})
                return
