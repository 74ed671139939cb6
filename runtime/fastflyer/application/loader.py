"""What gets served: the project's ``main.py:app`` when it defines one (escape hatch),
otherwise the app built by :func:`fastflyer.factory.create_app`.

A project's own app (not a FlyerApp) gets every layer of FastFlyer's stack (``stack.served``);
the settings that shape only FastFlyer's own app are named at start-up when set, and the docs
line names the app's real docs, if it has any.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastflyer.application.discovery import SubAppError, add_to_sys_path
from fastflyer.application.middleware.health import LIVENESS_PATHS, READINESS_PATH
from fastflyer.application.stack import foreign_base_url, served
from fastflyer.observability import telemetry
from fastflyer.observability.logs import adopt_project_logging, logger
from fastflyer.settings import FlyerSettings, get_settings

# Settings that shape only the app FastFlyer builds, and why they cannot reach main.py's app.
NOT_FOR_OWN_APP = {
    "docs_enable": "its docs are its own: FastAPI(docs_url=None, redoc_url=None, openapi_url=None) "
                   "switches them off",
    "version": "the OpenAPI version is its own: FastAPI(version=...)",
    "apps_dir": "sub-apps are not discovered: main.py:app is served as it is",
}


class AppLoadError(Exception):
    """The project could not be loaded; the message says what and where, without a traceback."""


def load_application(settings: FlyerSettings | None = None) -> Any:
    from fastflyer.application.factory import FlyerApp, create_app

    settings = settings or get_settings()
    main_py = settings.app_root / "main.py"
    try:
        if main_py.is_file():
            add_to_sys_path(settings.app_root)
            telemetry.instrument_libraries(settings)  # before main.py makes its clients
            try:
                module = importlib.import_module("main")
            except SubAppError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise AppLoadError(f"{main_py} failed to load: {type(exc).__name__}: {exc}") from exc
            adopt_project_logging()  # main.py may have set up logging of its own
            app = getattr(module, "app", None)
            if app is not None and not isinstance(app, FlyerApp):
                return _own_app(app, settings)
            if app is not None:
                _announce_docs(settings, _flyer_docs(settings))
                return served(app, settings)
        app = create_app(settings)
        _announce_docs(settings, _flyer_docs(settings))
        return served(app, settings)
    except SubAppError as exc:
        raise AppLoadError(str(exc)) from exc


def _own_app(app: Any, settings: FlyerSettings) -> Any:
    prefix = foreign_base_url(settings)
    own_root = getattr(app, "root_path", "") or ""
    if prefix and own_root:
        # FastAPI replaces the scope's root_path with its own: the prefix would be lost.
        raise AppLoadError(f"main.py:app sets root_path={own_root!r} and flyer_base_url={prefix!r} "
                           "is set too: keep one of them")
    where = f"under {prefix} (flyer_base_url, as its root_path)" if prefix else "at /"
    logger.info(f"serving main.py:app {where} behind FastFlyer's stack; its own error handlers "
                "and lifespan run as they are")
    for name, reason in NOT_FOR_OWN_APP.items():
        if name in settings.model_fields_set:
            logger.warning(f"flyer_{name}={getattr(settings, name)} does not apply to main.py:app: {reason}")
    _warn_shadowed_routes(app, settings, prefix or "")
    _announce_docs(settings, _own_docs(app, prefix or ""))
    return served(app, settings, service_name=getattr(app, "title", None) or "main")


def _warn_shadowed_routes(app: Any, settings: FlyerSettings, prefix: str) -> None:
    """Paths FastFlyer answers in front of the app: a route of its own there is never reached."""
    in_front = {*LIVENESS_PATHS, READINESS_PATH}
    if prefix:
        in_front |= {f"{prefix}/health_check", f"{prefix}{READINESS_PATH}"}
    if settings.metrics_enable and settings.metrics_port is None:
        in_front.add(settings.metrics_path)
    for route in getattr(app, "routes", None) or ():
        path = f"{prefix}{getattr(route, 'path', '')}"
        if path in in_front:
            hint = "flyer_metrics_path or flyer_metrics_enable=0" if path == settings.metrics_path \
                else "the health checks are FastFlyer's"
            logger.warning(f"main.py:app's route {path} is answered by FastFlyer in front of it ({hint})")


def _flyer_docs(settings: FlyerSettings) -> list[str]:
    base = settings.base_url
    return [f"{base}/docs", f"{base}/redoc"] if settings.docs_enable else []


def _own_docs(app: Any, prefix: str) -> list[str]:
    """FastAPI serves its docs only with an OpenAPI URL; under the app's own root_path."""
    if not getattr(app, "openapi_url", None):
        return []
    root = prefix + (getattr(app, "root_path", "") or "").rstrip("/")
    return [root + url for url in (getattr(app, "docs_url", None), getattr(app, "redoc_url", None)) if url]


def _announce_docs(settings: FlyerSettings, paths: list[str]) -> None:
    if not paths:
        logger.info("API docs: none served")
        return
    scheme = "https" if settings.ssl_certfile is not None else "http"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    origin = f"{scheme}://{f'[{host}]' if ':' in host else host}:{settings.port}"
    logger.info("API docs: " + "  and  ".join(origin + path for path in paths))


def app_factory() -> Any:
    """Import-string entry for uvicorn's reload mode (``fastflyer.application.loader:app_factory``)."""
    from fastflyer.observability.logs import configure_from_settings

    settings = get_settings()
    configure_from_settings(settings)
    try:
        return load_application(settings)
    except AppLoadError as exc:
        logger.error(str(exc))
        raise SystemExit(1) from None
