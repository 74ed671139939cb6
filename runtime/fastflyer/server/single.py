"""One worker without a master: the process that loads the app serves it.

Most pods run one worker; a gunicorn master beside it would hold a second copy of the app
(it preloads it) and add its own start-up. Here the orchestrator is the supervisor: a worker
that dies or stops answering its heartbeat exits non-zero and is restarted with the container.
A failed start is retried with back-off, and recycling (requests, memory, age) re-executes
the process in place (:mod:`~fastflyer.server.lifecycle`), keeping the listening socket open
across ``exec`` so that connections wait in its backlog instead of being refused.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from fastflyer.observability.logs import logger
from fastflyer.server.common import announce_serving
from fastflyer.server.lifecycle import (
    BootRecord,
    Lifecycle,
    backoff,
    hand_over_recycles,
    inherited_recycles,
)
from fastflyer.settings import FlyerSettings

LISTEN_FD_ENV = "FASTFLYER_LISTEN_FDS"  # the listening sockets handed over across a re-exec
BOOT_ERROR = 3  # the exit code gunicorn uses for a worker that could not boot
WATCHDOG_INTERVAL = 1.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def listening_sockets(settings: FlyerSettings, backlog: int) -> list[socket.socket]:
    """The sockets a previous incarnation of this process handed over, or new ones: the main
    port and, when set, the metrics port."""
    inherited = os.environ.pop(LISTEN_FD_ENV, None)
    if inherited is not None:
        return [socket.socket(fileno=int(fd)) for fd in inherited.split(",")]
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    ports = [settings.port] + ([settings.metrics_port] if settings.metrics_port else [])
    return [socket.create_server((settings.host, port), family=family, backlog=backlog)
            for port in ports]


class Heartbeat:
    """gunicorn's worker timeout without a master: a thread ends the process when the event
    loop has not reported for ``timeout`` seconds (a blocked loop serves nobody). Until the
    server has started, the limit is ``startup_timeout``, and missing it is a failed start."""

    def __init__(self, timeout: int, startup_timeout: int | None = None,
                 on_hung_start: Callable[[str], None] | None = None):
        self.timeout = timeout
        self.startup_timeout = startup_timeout or 0
        self.on_hung_start = on_hung_start
        self.booting = on_hung_start is not None  # else the loop beats from its start (granian)
        self.last = time.monotonic()

    async def notify(self) -> None:
        self.last = time.monotonic()

    def started(self) -> None:
        self.booting = False
        self.last = time.monotonic()

    def watch(self) -> None:
        threading.Thread(target=self._run, name="fastflyer-heartbeat", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_INTERVAL)
            silent = time.monotonic() - self.last
            if self.booting and silent > self.startup_timeout and self.on_hung_start:
                self.on_hung_start(f"start-up did not finish within flyer_startup_timeout="
                                   f"{self.startup_timeout} s")
            elif not self.booting and self.timeout and silent > self.timeout:
                logger.error(f"worker timeout: the event loop has been blocked for {silent:.0f} s "
                             f"(flyer_timeout={self.timeout}); exiting so that it is restarted")
                os._exit(1)


def serve_single(settings: FlyerSettings) -> None:
    from fastflyer.application.loader import AppLoadError, load_application
    from fastflyer.application.readiness import readiness
    from fastflyer.server.uvicorn_server import FlyerServer, uvicorn_config

    try:
        app = load_application(settings)
    except AppLoadError as exc:
        logger.error(f"start-up aborted: {exc}")
        sys.exit(1)
    boots = BootRecord()
    socks: list[socket.socket] = []

    def failed_start(cause: str) -> None:
        if not boots.failed(cause):
            os._exit(BOOT_ERROR)
        time.sleep(backoff(boots.count))
        boots.hand_over()
        restart(socks)

    heartbeat = Heartbeat(settings.timeout, settings.startup_timeout, failed_start)

    def started() -> None:
        heartbeat.started()
        if boots.succeeded():
            announce_serving(settings)

    lifecycle = Lifecycle.from_settings(settings, on_started=started)
    config = uvicorn_config(
        settings, app=app, timeout_notify=max(1, settings.timeout // 2) if settings.timeout else 30,
        callback_notify=heartbeat.notify,
    )
    socks.extend(listening_sockets(settings, config.backlog))
    if settings.metrics_enable:
        from fastflyer.observability.metrics import worker_started

        worker_started()
    recycles = inherited_recycles()
    server = FlyerServer(config=config, lifecycle=lifecycle)
    heartbeat.watch()
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully, with the
    # handlers it found installed: ignored here, so that a drained stop exits 0.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    # uvicorn closes the sockets it was given on shutdown; it gets duplicates, so that the
    # listening sockets themselves survive a recycle.
    server.run(sockets=[sock.dup() for sock in socks])
    if not server.started:
        if readiness.draining:  # stopped by a signal while starting: nothing failed
            sys.exit(0)
        failed_start(server.startup_errors.cause)
    # Without a signal (which marks readiness draining) the server stops only to recycle.
    reason = lifecycle.recycle_reason
    if reason is not None and not readiness.draining:
        hand_over_recycles(recycles, reason)
        boots.hand_over()
        restart(socks)


def restart(socks: list[socket.socket]) -> None:
    """Start afresh in this process: same PID (tini's child), same listening sockets."""
    for sig in STOP_SIGNALS:  # ignored dispositions would survive exec
        signal.signal(sig, signal.SIG_DFL)
    for sock in socks:
        sock.set_inheritable(True)
    os.environ[LISTEN_FD_ENV] = ",".join(str(sock.fileno()) for sock in socks)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "fastflyer.cli", *sys.argv[1:]])
