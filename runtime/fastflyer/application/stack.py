"""The one place that decides which FastFlyer layers wrap an app, and in which order.

Outermost first: health checks (answered before anything else), core (request id, metrics,
last-resort 500), tracing, access log, CORS, Basic auth, body-size limit, then the app. Every
layer is pure ASGI and is left out at start-up when its setting is off. A project's own app
(main.py) gets the same layers (:func:`served`), plus FastFlyer's start-up around its lifespan
and, when ``flyer_base_url`` is set, the prefix as its ``root_path``.

The body limit is FastFlyer's own (``middleware/body_limit.py``), not ``FastAPI(max_body_size=)``:
FastAPI's answers 413 in plain text outside the app's exception handlers (no envelope, no
request id in the body) and wraps every request, where ours refuses a declared length before
the app runs and counts only chunked bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.middleware.cors import CORSMiddleware

from fastflyer.application.middleware.access_log import AccessLogMiddleware, AccessLogWriter
from fastflyer.application.middleware.basic_auth import BasicAuthMiddleware, BasicCredentials
from fastflyer.application.middleware.body_limit import BodySizeLimitMiddleware
from fastflyer.application.middleware.core import CoreMiddleware
from fastflyer.application.middleware.health import HealthCheckMiddleware
from fastflyer.application.middleware.lifespan import FlyerLifespanMiddleware
from fastflyer.application.middleware.metrics import RequestMetrics
from fastflyer.application.middleware.root_path import RootPathMiddleware
from fastflyer.application.readiness import readiness
from fastflyer.observability import telemetry
from fastflyer.settings import FlyerSettings
from fastflyer.types import ASGIApp

if TYPE_CHECKING:
    from fastflyer.application.factory import FlyerApp


def _credentials(settings: FlyerSettings) -> BasicCredentials | None:
    if not settings.auth_enable:
        return None
    return BasicCredentials(settings.auth_user, settings.auth_pass.get_secret_value())


def _core(app: ASGIApp, settings: FlyerSettings) -> ASGIApp:
    app = telemetry.wrap_asgi(app, settings)
    metrics = None
    if settings.metrics_enable:
        # On its own port the metrics are the network's business (a scrape-only port);
        # on the main port they are behind Basic auth like everything but the health checks.
        guard = None if settings.metrics_port else _credentials(settings)
        metrics = RequestMetrics(settings.metrics_path, settings.metrics_port, guard)
    return CoreMiddleware(app, metrics)


def _health(app: ASGIApp, base_url: str) -> ASGIApp:
    return HealthCheckMiddleware(app, base_url, readiness)


def _layers(app: ASGIApp, settings: FlyerSettings) -> tuple[ASGIApp, AccessLogWriter | None]:
    """Every layer inside the health checks, in their one order, for a FlyerApp and a project's
    own app alike; the access-log writer is returned so that shut-down can flush it."""
    if settings.max_body_size:
        app = BodySizeLimitMiddleware(app, settings.max_body_size)
    credentials = _credentials(settings)
    if credentials is not None:
        app = BasicAuthMiddleware(app, credentials)
    if settings.cors_origins:
        app = CORSMiddleware(app, allow_origins=settings.cors_origins, allow_methods=["*"],
                             allow_headers=["*"], expose_headers=["X-Request-ID"])
    writer = None
    if settings.access_log:
        writer = AccessLogWriter(settings.access_logfile)
        app = AccessLogMiddleware(app, writer, exclude=frozenset(settings.access_log_exclude),
                                  json_format=settings.log_format == "json")
    return _core(app, settings), writer


def flyer_stack(app: ASGIApp, flyer_app: FlyerApp) -> ASGIApp:
    """The layers of a FastFlyer app around FastAPI's own middleware stack (outside its error
    middleware, so that health checks skip everything and escaped errors are logged once)."""
    settings = flyer_app.flyer_settings
    app, flyer_app.access_log_writer = _layers(app, settings)
    # Served by FastFlyer, the health layer sits outside FastAPI's call frames (see served());
    # run as `uvicorn main:app`, the app answers its health checks itself.
    return app if flyer_app.health_answered_outside else _health(app, settings.base_url)


def foreign_base_url(settings: FlyerSettings) -> str | None:
    """The prefix a project's own app is served under: ``flyer_base_url`` when the user set it
    (its default ``/flyer`` would move every route of an app written for ``/``), else none."""
    if "base_url" not in settings.model_fields_set or settings.base_url == "/":
        return None
    return settings.base_url


def served(app: Any, settings: FlyerSettings, service_name: str = "fastflyer") -> ASGIApp:
    """What the server runs: a FastFlyer app behind the health layer, or a project's own ASGI
    app (main.py) behind every layer a FastFlyer app has, its own handlers and lifespan inside."""
    from fastflyer.application.factory import FlyerApp

    if isinstance(app, FlyerApp):
        app.health_answered_outside = True
        return _health(app, settings.base_url)
    prefix = foreign_base_url(settings)
    layered, writer = _layers(RootPathMiddleware(app, prefix) if prefix else app, settings)
    # Health checks at the top-level paths, and under the prefix only when there is one.
    return FlyerLifespanMiddleware(_health(layered, prefix or "/"), settings, service_name, writer)
