"""What gets served: the project's ``main.py:app`` when it defines one (escape hatch),
otherwise the app built by :func:`fastflyer.factory.create_app`."""

from __future__ import annotations

import importlib
from typing import Any

from .discovery import SubAppError, add_to_sys_path
from .logs import logger
from .readiness import readiness
from .settings import FlyerSettings, get_settings


class AppLoadError(Exception):
    """The project could not be loaded; the message says what and where, without a traceback."""


def load_application(settings: FlyerSettings | None = None) -> Any:
    from .factory import FlyerApp, create_app

    settings = settings or get_settings()
    main_py = settings.app_root / "main.py"
    try:
        if main_py.is_file():
            add_to_sys_path(settings.app_root)
            try:
                module = importlib.import_module("main")
            except SubAppError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise AppLoadError(f"{main_py} failed to load: {type(exc).__name__}: {exc}") from exc
            app = getattr(module, "app", None)
            if app is not None:
                if not isinstance(app, FlyerApp):
                    logger.info(f"serving {main_py}:app as given (main.py escape hatch)")
                return _served(app, settings)
        return _served(create_app(settings), settings)
    except SubAppError as exc:
        raise AppLoadError(str(exc)) from exc


def _served(app: Any, settings: FlyerSettings) -> Any:
    """The app as the server runs it: behind the health checks, answered before FastAPI's own
    call frames. A FlyerApp then leaves them out of its own stack (which has them for
    `uvicorn main:app`). A foreign app also gets what every FastFlyer service has: request
    ids, metrics at flyer_metrics_path, the error shield and, when switched on, tracing (not
    the access log, which is FlyerApp's)."""
    from . import telemetry
    from .factory import FlyerApp
    from .middleware.core import CoreMiddleware
    from .middleware.health import HealthCheckMiddleware
    from .middleware.metrics import RequestMetrics

    if isinstance(app, FlyerApp):
        app.health_answered_outside = True
    else:
        metrics = RequestMetrics(settings.metrics_path) if settings.metrics_enable else None
        app = CoreMiddleware(telemetry.wrap_asgi(app, settings), metrics)
    return HealthCheckMiddleware(app, settings.base_url, readiness)


def app_factory() -> Any:
    """Import-string entry for uvicorn's reload mode (``fastflyer.application:app_factory``)."""
    from .logs import configure_from_settings

    settings = get_settings()
    configure_from_settings(settings)
    try:
        return load_application(settings)
    except AppLoadError as exc:
        logger.error(str(exc))
        raise SystemExit(1) from None
