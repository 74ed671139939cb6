"""The app factory: a FastAPI app from the project's sub-apps, wrapped in FastFlyer's stack."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Response
from starlette.middleware.cors import CORSMiddleware

from . import telemetry
from .dependencies import register_probes
from .discovery import add_to_sys_path, discover
from .docs import install_docs
from .errors import install_exception_handlers
from .heap import freeze_startup_objects
from .logs import logger
from .middleware.access_log import AccessLogMiddleware, AccessLogWriter
from .middleware.basic_auth import BasicAuthMiddleware
from .middleware.body_limit import BodySizeLimitMiddleware
from .middleware.core import CoreMiddleware
from .middleware.health import LIVENESS_PATHS, READINESS_PATH, HealthCheckMiddleware
from .middleware.metrics import RequestMetrics
from .openapi import document_error_envelope
from .readiness import readiness
from .routing import arrange_builtin_routes, mount_router
from .schemas import BaseResponse
from .settings import FlyerSettings, get_settings

CUSTOM_CONFIG_FIELDS = {
    "title": "title",
    "description": "description",
    "version": "version",
    "contact": "contact",
    "license_info": "license_info",
    "terms_of_service": "terms_of_service",
    "openapi_tags": "openapi_tags",
}


def load_custom_config(app_root: Path) -> dict[str, Any]:
    """OpenAPI info from ``settings.CustomConfig`` of the project (upper or lower case names)."""
    if not (app_root / "settings.py").is_file():
        return {}
    add_to_sys_path(app_root)
    module = importlib.import_module("settings")
    config = getattr(module, "CustomConfig", None)
    if config is None:
        return {}
    values: dict[str, Any] = {}
    for attr, kwarg in CUSTOM_CONFIG_FIELDS.items():
        for name in (attr.upper(), attr):
            if hasattr(config, name):
                values[kwarg] = getattr(config, name)
                break
    return values


class FlyerApp(FastAPI):
    """FastAPI with FastFlyer's pure-ASGI layers around the whole app (outside Starlette's
    own error middleware, so that health checks skip everything and escaped errors are
    logged once)."""

    flyer_settings: FlyerSettings
    access_log_writer: AccessLogWriter | None = None
    # Set by fastflyer.application when it serves the app behind its own health layer, so
    # that the checks are not looked up twice per request.
    health_answered_outside = False

    def openapi(self) -> dict[str, Any]:
        if not self.openapi_schema:
            self.openapi_schema = document_error_envelope(super().openapi())
        return self.openapi_schema

    def build_middleware_stack(self) -> Any:
        settings = self.flyer_settings
        app: Any = super().build_middleware_stack()
        if settings.max_body_size:
            app = BodySizeLimitMiddleware(app, settings.max_body_size)
        if settings.auth_enable:
            app = BasicAuthMiddleware(app, settings.auth_user, settings.auth_pass.get_secret_value())
        if settings.cors_origins:
            app = CORSMiddleware(
                app,
                allow_origins=settings.cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID"],
            )
        if settings.access_log:
            self.access_log_writer = AccessLogWriter(settings.access_logfile)
            app = AccessLogMiddleware(
                app,
                self.access_log_writer,
                exclude=frozenset(settings.access_log_exclude),
                json_format=settings.log_format == "json",
            )
        app = telemetry.wrap_asgi(app, settings)
        app = CoreMiddleware(app, RequestMetrics(settings.metrics_path) if settings.metrics_enable else None)
        if self.health_answered_outside:
            return app
        return HealthCheckMiddleware(app, settings.base_url, readiness)


def _health_routes(app: FastAPI, base_url: str) -> None:
    """Declare the health endpoints so OpenAPI documents them. The health layer answers them
    before routing; these handlers answer the same when the app is called without that layer
    (in-process through ``request.app``, for one)."""

    async def liveness() -> dict[str, Any]:
        return {"code": 200, "message": "success"}

    async def readiness_route(response: Response) -> dict[str, Any]:
        result = await readiness.check()
        response.status_code = 200 if result.ready else 503
        return {"code": response.status_code, "message": result.message}

    for path in (*LIVENESS_PATHS, f"{base_url}/health_check"):
        app.add_api_route(path, liveness, methods=["GET"], tags=["Health"],
                          response_model=BaseResponse, summary="Liveness check")
    app.add_api_route(READINESS_PATH, readiness_route, methods=["GET"], tags=["Health"],
                      response_model=BaseResponse, summary="Readiness check",
                      responses={503: {"model": BaseResponse, "description": "Not ready"}})


def _make_hooks(app: FlyerApp, settings: FlyerSettings) -> tuple[Any, Any]:
    async def startup() -> None:
        # Bound the thread pool that runs `def` endpoints (anyio's default is 40).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        register_probes(readiness, settings)
        telemetry.start_tracing(settings, app.title)  # per worker, after gunicorn's fork
        if "fastflyer.scheduler" in sys.modules:
            sys.modules["fastflyer.scheduler"].start_schedulers()
        frozen = freeze_startup_objects()  # last: whatever start-up made lives for good
        logger.debug(f"froze {frozen} start-up objects out of the garbage collector's way")

    async def shutdown() -> None:
        if "fastflyer.scheduler" in sys.modules:
            sys.modules["fastflyer.scheduler"].shutdown_schedulers()
        if app.access_log_writer is not None:
            app.access_log_writer.close()
        telemetry.flush_tracing()

    return startup, shutdown


def create_app(settings: FlyerSettings | None = None) -> FlyerApp:
    """Build the service: built-in endpoints, docs, and every enabled sub-app's router."""
    settings = settings or get_settings()
    telemetry.instrument_libraries(settings)  # before the project's modules make clients
    base = settings.base_url
    info = {"title": "FastFlyer", "version": settings.version,
            "description": "API service powered by FastFlyer."}
    info.update(load_custom_config(settings.app_root))
    app = FlyerApp(
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{base}/openapi.json" if settings.docs_enable else None,
        **info,
        **telemetry.fastapi_options(settings),
    )
    app.flyer_settings = settings
    startup, shutdown = _make_hooks(app, settings)
    app.router.on_startup.append(startup)
    app.router.on_shutdown.append(shutdown)
    install_exception_handlers(app)
    _health_routes(app, base)
    if settings.docs_enable:
        install_docs(app, base)
    builtin = list(app.router.routes)
    for sub_app in discover(settings.app_root, settings.apps_dir):
        if sub_app.router is not None:
            flat = mount_router(app, sub_app.router, prefix=base)
            logger.debug(f"mounted sub-app '{sub_app.name}' under {base}"
                         + ("" if flat else " (nested: FastAPI's include_router)"))
    arrange_builtin_routes(app, builtin)
    return app
