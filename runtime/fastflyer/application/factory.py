"""The app factory: a FastAPI app from the project's sub-apps, wrapped in FastFlyer's stack."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response

from fastflyer.application.discovery import add_to_sys_path, discover
from fastflyer.application.docs import install_docs
from fastflyer.application.errors import install_dependency_error_handlers, install_exception_handlers
from fastflyer.application.middleware.access_log import AccessLogWriter
from fastflyer.application.middleware.health import LIVENESS_PATHS, READINESS_PATH
from fastflyer.application.middleware.lifespan import flyer_shutdown, flyer_startup
from fastflyer.application.openapi import document_error_envelope
from fastflyer.application.readiness import readiness
from fastflyer.application.routing import arrange_builtin_routes, mount_router
from fastflyer.application.stack import flyer_stack
from fastflyer.observability import telemetry
from fastflyer.observability.logs import logger
from fastflyer.schemas import BaseResponse
from fastflyer.settings import FlyerSettings, get_settings

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
    """FastAPI with FastFlyer's layers (``stack.py``) around its own middleware stack, also
    when run as ``uvicorn main:app``."""

    flyer_settings: FlyerSettings
    access_log_writer: AccessLogWriter | None = None
    # Set by stack.served() when the server runs the app behind its own health layer, so
    # that the checks are not looked up twice per request.
    health_answered_outside = False

    def openapi(self) -> dict[str, Any]:
        if not self.openapi_schema:
            self.openapi_schema = document_error_envelope(super().openapi())
        return self.openapi_schema

    def build_middleware_stack(self) -> Any:
        return flyer_stack(super().build_middleware_stack(), self)


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


def _lifespan(settings: FlyerSettings) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: FlyerApp) -> AsyncIterator[None]:
        flyer_startup(settings, app.title)
        yield
        flyer_shutdown(app.access_log_writer)

    return lifespan


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
        lifespan=_lifespan(settings),
        **info,
        **telemetry.fastapi_options(settings),
    )
    app.flyer_settings = settings
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
    install_dependency_error_handlers(app)  # after discovery: for the clients it imported
    return app
