"""The gunicorn worker: one :class:`~fastflyer.server.uvicorn_server.FlyerServer` on the
sockets gunicorn's master opened, reporting its heartbeat, and leaving to be replaced when its
lifecycle says so (:mod:`~fastflyer.server.lifecycle`)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from fastflyer.adapters.gunicorn import WORKER_BOOT_ERROR, Worker
from fastflyer.application.readiness import readiness
from fastflyer.server.common import announce_serving
from fastflyer.server.lifecycle import Lifecycle, backoff, boot_record
from fastflyer.server.uvicorn_server import FlyerServer, uvicorn_config
from fastflyer.settings import get_settings

RETRY_EXIT = 1  # a failed start the master replaces (3, gunicorn's boot error, stops it)


class FlyerWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("uvicorn.error", "uvicorn"):  # into the root logger, i.e. loguru
            std = logging.getLogger(name)
            std.handlers = []
            std.propagate = True
        self.booting = True

    def init_signals(self) -> None:
        # uvicorn's server installs its own SIGTERM/SIGINT/SIGQUIT handlers; gunicorn's would
        # swallow child processes' exit codes.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.siginterrupt(signal.SIGUSR1, False)

    def run(self) -> None:
        settings = get_settings()
        lifecycle = Lifecycle.from_settings(settings, on_started=self._started)
        config = uvicorn_config(
            settings, app=self.wsgi, timeout_notify=self.timeout, callback_notify=self._heartbeat,
        )
        server = FlyerServer(config=config, lifecycle=lifecycle)
        threading.Thread(target=self._watch_start, args=(settings.startup_timeout,),
                         name="fastflyer-startup", daemon=True).start()
        server.run(sockets=self.sockets)
        if not server.started:
            if readiness.draining:  # stopped by a signal while starting: nothing failed
                sys.exit(0)
            self._failed_start(server.startup_errors.cause)

    def _started(self) -> None:
        self.booting = False
        if boot_record().succeeded():  # the first worker up says the server serves
            announce_serving(get_settings())

    def _watch_start(self, startup_timeout: int) -> None:
        """The master's heartbeat timeout (``flyer_timeout``) is for a blocked loop, not a slow
        start: beat for the worker until it has started, up to ``flyer_startup_timeout``."""
        deadline = time.monotonic() + startup_timeout
        while self.booting:
            if time.monotonic() > deadline:
                self._failed_start(f"start-up did not finish within flyer_startup_timeout="
                                   f"{startup_timeout} s")
            self.notify()
            time.sleep(1.0)

    def _failed_start(self, cause: str) -> None:
        boots = boot_record()
        if not boots.failed(cause):
            os._exit(WORKER_BOOT_ERROR)  # the master stops: "Worker failed to boot"
        pause = time.monotonic() + backoff(boots.count)
        while time.monotonic() < pause:  # back off, still alive for the master
            self.notify()
            time.sleep(0.2)
        os._exit(RETRY_EXIT)

    async def _heartbeat(self) -> None:
        self.notify()
