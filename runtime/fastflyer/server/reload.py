"""Development: one server process, restarted by uvicorn's reloader when a project file
changes. The app is built in the child (:func:`app_factory`) on every start; a project that
fails to load is served as a 503 page naming the error (``application.load_error``) until
the save that fixes it, instead of a child that exits and leaves requests hanging."""

from __future__ import annotations

import functools
import logging
import socket
from typing import Any

from fastflyer.settings import FlyerSettings, get_settings

RELOAD_INCLUDES = ["*.py", "*.json", "*.yaml", "*.yml", "*.toml"]


def _not_running_yet(record: logging.LogRecord) -> bool:
    # uvicorn's reloader says "Uvicorn running on ..." before the child has even loaded the
    # project; FastFlyer says "serving on" once the child's start-up has succeeded.
    return not record.getMessage().startswith("Uvicorn running on")


def serve_reload(settings: FlyerSettings) -> None:
    from fastflyer.adapters import uvicorn as uv
    from fastflyer.server.uvicorn_server import FlyerServer, uvicorn_config

    config = uvicorn_config(
        settings,
        app="fastflyer.server.reload:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=True,
        reload_dirs=[str(settings.app_root)],
        reload_includes=RELOAD_INCLUDES,
    )
    from fastflyer.server.common import announce_serving
    from fastflyer.server.lifecycle import Lifecycle

    # Each reloaded child says so once its start-up has succeeded. A partial, not a lambda:
    # uvicorn's reloader pickles the server into a spawned child.
    server = FlyerServer(config=config,
                         lifecycle=Lifecycle(on_started=functools.partial(announce_serving, settings)))
    logging.getLogger("uvicorn.error").addFilter(_not_running_yet)
    sockets = [config.bind_socket()]
    if settings.metrics_port:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        sockets.append(socket.create_server((settings.host, settings.metrics_port), family=family))
        sockets[-1].set_inheritable(True)  # handed to the reloaded child, as uvicorn's own
    uv.change_reload(config, target=server.run, sockets=sockets).run()


def app_factory() -> Any:
    """uvicorn's factory in each reloaded child: the project's app or, when it fails to load,
    the load-error app (503 with sub-app, file:line and message), logged once."""
    from fastflyer.application.load_error import load_error_app
    from fastflyer.application.loader import AppLoadError, load_application
    from fastflyer.observability.logs import configure_from_settings, logger

    settings = get_settings()
    configure_from_settings(settings)
    try:
        return load_application(settings)
    except AppLoadError as exc:
        logger.error(f"{exc}; answering 503 until a project file is saved again")
        return load_error_app(exc, settings.app_root)
