"""Optional OpenTelemetry tracing (``flyer_otel_enable=1``, ``pip install 'fastflyer[otel]'``).

Configured by the standard ``OTEL_*`` variables, which the OpenTelemetry SDK reads itself
(exporter endpoint and headers, service name, resource attributes, sampler, batch sizes).
Spans cover inbound requests, outbound httpx calls (so ``Client``/``AsyncClient``, with
``traceparent`` propagated), Redis and SQLAlchemy.

Three steps, because gunicorn forks: libraries are patched in :func:`instrument_libraries`
before the project's modules load (engines made at import time are traced too); the ASGI
layer is added by :func:`wrap_asgi`; and :func:`start_tracing` creates the provider, whose
export thread would not survive a fork, in each worker at its start-up.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from fastapi import FastAPI

from fastflyer.observability.context import trace_id_var
from fastflyer.observability.logs import logger
from fastflyer.observability.route_template import route_template
from fastflyer.settings import FlyerSettings
from fastflyer.types import ASGIApp, Message, Receive, Scope, Send

INSTALL_HINT = "flyer_otel_enable=1 needs the otel extra: pip install 'fastflyer[otel]'"

_available: bool | None = None
_provider: Any = None
_provider_pid: int | None = None
_instrumented = False


def enabled(settings: FlyerSettings) -> bool:
    """Switched on and installed; a missing extra is reported once and tracing stays off."""
    global _available
    if not settings.otel_enable:
        return False
    if _available is None:
        try:
            import opentelemetry.exporter.otlp.proto.http  # noqa: F401
            import opentelemetry.instrumentation.asgi  # noqa: F401
            import opentelemetry.sdk  # noqa: F401
            _available = True
        except ImportError:
            logger.error(f"{INSTALL_HINT}; tracing is off")
            _available = False
    return _available


def instrument_libraries(settings: FlyerSettings) -> None:
    """Patch httpx, Redis and SQLAlchemy (once per process; forks inherit the patches)."""
    global _instrumented
    if _instrumented or not enabled(settings):
        return
    _instrumented = True
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
    try:
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    except ImportError as exc:  # a partial install: trace what can be traced
        logger.warning(f"OpenTelemetry instrumentation missing ({exc}); {INSTALL_HINT}")
        return
    RedisInstrumentor().instrument()
    try:
        # Its declared range lags SQLAlchemy releases (2.1 is left out) though the engine
        # events it relies on are unchanged; the check would switch it off silently.
        SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    except ImportError as exc:  # it imports sqlalchemy.ext.asyncio, which needs greenlet
        logger.warning(f"SQLAlchemy calls are not traced: {exc}")


class TraceContextMiddleware:
    """Inside the server span: hands its trace id to log lines, and names the span after the
    route template (``GET /flyer/items/{item_id}``; just the method when no route matched,
    never the raw path). Named when the response starts: the span ends with the last body."""

    def __init__(self, app: ASGIApp):
        from opentelemetry import trace

        self.app = app
        self.current_span = trace.get_current_span

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        span = self.current_span()
        context = span.get_span_context()
        if not context.is_valid:
            await self.app(scope, receive, send)
            return
        trace_id_var.set(format(context.trace_id, "032x"))

        def name() -> None:
            if span.is_recording():
                template = route_template(scope)
                if template:
                    span.update_name(f"{scope['method']} {template}")
                    span.set_attribute("http.route", template)
                else:
                    span.update_name(scope["method"])

        async def name_span(message: Message) -> None:
            if message["type"] == "http.response.start":
                name()
            await send(message)

        try:
            await self.app(scope, receive, name_span)
        except Exception:
            name()  # the error shield, outside the span, answers it
            raise


def fastapi_options(settings: FlyerSettings) -> dict[str, Any]:
    """FastAPI >= 0.160 has OpenTelemetry built in and looks up the global tracer, meter and
    logger providers on every request. FastFlyer's tracing is switched by flyer_otel_enable,
    so with it off FastAPI is told not to look (about 2 µs per request)."""
    if enabled(settings) or "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def wrap_asgi(app: ASGIApp, settings: FlyerSettings) -> ASGIApp:
    """The app inside a server span per request (unchanged when tracing is off)."""
    if not enabled(settings):
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.util.http import get_excluded_urls

    return OpenTelemetryMiddleware(
        TraceContextMiddleware(app),
        # OTEL_PYTHON_ASGI_EXCLUDED_URLS / OTEL_PYTHON_EXCLUDED_URLS, as instrumented apps read.
        excluded_urls=get_excluded_urls("ASGI"),
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )


def start_tracing(settings: FlyerSettings, default_service_name: str) -> None:
    """Create this process's tracer provider and OTLP/HTTP exporter: in each worker at its
    start-up, after the fork (a provider made before it would export from no thread)."""
    global _provider, _provider_pid
    if _provider_pid == os.getpid() or not enabled(settings):
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"process.pid": os.getpid()})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: default_service_name}))
    # The provider lives as long as the process (it flushes itself at exit); it can be set
    # only once per process anyway.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider, _provider_pid = provider, os.getpid()


def flush_tracing() -> None:
    """Export what is still queued (worker shutdown)."""
    if _provider is not None and _provider_pid == os.getpid():
        _provider.force_flush()
