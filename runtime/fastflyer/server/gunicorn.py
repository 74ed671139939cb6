"""Several workers: gunicorn's master forks :class:`~fastflyer.server.worker.FlyerWorker`
processes, restarts one that dies or stops answering its heartbeat, and recycles them after
max requests."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
from typing import Any

from fastflyer.adapters.gunicorn import BaseApplication, Logger
from fastflyer.observability.logs import logger
from fastflyer.server.common import bind_address
from fastflyer.server.lifecycle import boot_record
from fastflyer.settings import FlyerSettings


def gunicorn_options(settings: FlyerSettings, workers: int) -> dict[str, Any]:
    """Every gunicorn setting FastFlyer controls, derived from the settings model."""
    options: dict[str, Any] = {
        "bind": [bind_address(settings.host, port)
                 for port in (settings.port, settings.metrics_port) if port],
        "workers": workers,
        "worker_class": "fastflyer.server.worker.FlyerWorker",
        # Recycling (requests, memory, age) is the worker's own lifecycle (lifecycle.py).
        "max_requests": 0,
        "timeout": settings.timeout,
        # Workers keep serving through the drain delay, then finish in-flight requests.
        "graceful_timeout": math.ceil(settings.drain_delay_seconds) + settings.graceful_timeout_seconds,
        # Load the project once in the master: a broken sub-app stops start-up with one clear
        # message instead of a crash loop of workers, and workers fork fast (copy-on-write).
        "preload_app": True,
        "accesslog": None,  # FastFlyer's middleware writes the access log
        "errorlog": "-",
        "loglevel": "warning" if settings.console_log_level in ("error", "critical") else "info",
        "logger_class": GunicornLogger,
        "proc_name": "fastflyer",
        "control_socket_disable": True,  # gunicorn >= 25: no socket in $HOME (read-only FS)
    }
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        options["worker_tmp_dir"] = "/dev/shm"  # heartbeat files off the (maybe slow) disk
    options["when_ready"] = _second_signal_skips_delay
    if settings.metrics_enable:
        options["post_fork"] = _metrics_post_fork
        options["child_exit"] = _metrics_child_exit
    return options


def _second_signal_skips_delay(arbiter: Any) -> None:
    """While the master waits for its workers to drain, a second SIGTERM or SIGINT goes on to
    them (gunicorn queues signals and reads none while stopping): they skip the drain delay."""
    forward = arbiter.signal
    master = os.getpid()
    stopping = False

    def on_signal(sig: int, frame: Any) -> None:
        nonlocal stopping
        if os.getpid() != master:
            # A worker forked a moment ago, before it set its own handlers: told to stop
            # before it serves anything. (Queued in its copy of the master, the signal was
            # lost, and the worker's next SIGTERM only started a drain delay.)
            os._exit(0)
        if stopping:
            for pid in list(arbiter.WORKERS):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            return
        stopping = True
        forward(sig, frame)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)


def _metrics_post_fork(server: Any, worker: Any) -> None:
    from fastflyer.observability.metrics import worker_started

    try:
        worker_started()
    except Exception as exc:  # noqa: BLE001 - metrics must never stop a worker from booting
        logger.warning(f"worker metrics unavailable: {type(exc).__name__}: {exc}")


def _metrics_child_exit(server: Any, worker: Any) -> None:
    from fastflyer.observability.metrics import worker_exited

    try:
        worker_exited(worker.pid)
    except Exception as exc:  # noqa: BLE001 - an exception here would stop the master
        logger.warning(f"could not account for exited worker {worker.pid}: {exc}")


def _drop_socket_close_noise(record: logging.LogRecord) -> bool:
    # uvicorn closes the listening sockets itself on shutdown; gunicorn then reports EBADF
    # for each at INFO on every clean stop. Nothing is wrong, so say nothing.
    return not record.getMessage().startswith("Error while closing socket [Errno 9]")


class GunicornLogger(Logger):
    """gunicorn's logger with its handlers removed, so records flow into loguru."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.handlers = []
            log.propagate = True
        self.error_log.addFilter(_drop_socket_close_noise)


class FlyerApplication(BaseApplication):
    def __init__(self, settings: FlyerSettings, workers: int) -> None:
        self.settings = settings
        self.options = gunicorn_options(settings, workers)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from fastflyer.application.loader import AppLoadError, load_application

        try:
            return load_application(self.settings)
        except AppLoadError as exc:
            logger.error(f"start-up aborted: {exc}")
            sys.exit(1)


def serve_gunicorn(settings: FlyerSettings, workers: int) -> None:
    boot_record()  # shared with the workers it forks
    if settings.metrics_enable:
        from fastflyer.observability.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir()  # before the app (and prometheus_client) loads
    FlyerApplication(settings, workers).run()
