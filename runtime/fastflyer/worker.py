"""The gunicorn worker: ``uvicorn_worker.UvicornWorker`` with every FastFlyer setting
really applied (uvicorn's own worker ignores gunicorn's worker_connections and graceful
timeout) and readiness turned off the moment SIGTERM arrives."""

from __future__ import annotations

import logging
import sys
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from .readiness import readiness


class DrainingServer(Server):
    """A uvicorn server that marks this worker not-ready as soon as it is told to stop."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        readiness.start_draining()
        super().handle_exit(sig, frame)


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
        # 503 beyond this many concurrent connections/requests in this worker.
        self.config.limit_concurrency = self.cfg.worker_connections
        self.config.timeout_graceful_shutdown = self.cfg.graceful_timeout

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
