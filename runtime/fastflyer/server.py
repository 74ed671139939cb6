"""``fastflyer serve``: gunicorn with FastFlyer's uvicorn workers, configured from the
settings model; or, with ``flyer_reload``, one hot-reloading uvicorn process."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from .cpu import available_cpus
from .logs import logger
from .settings import FlyerSettings


def resolve_workers(settings: FlyerSettings) -> tuple[int, str]:
    """The worker count and why: explicit, or the CPUs this container may use."""
    if settings.workers != "auto":
        return int(settings.workers), "flyer_workers"
    limit = available_cpus()
    return limit.cpus, limit.source


def display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_options(settings: FlyerSettings, workers: int) -> dict[str, Any]:
    """Every gunicorn setting FastFlyer controls, derived from the settings model."""
    max_requests = settings.max_requests if settings.enable_max_requests else 0
    options: dict[str, Any] = {
        "bind": [bind_address(settings.host, settings.port)],
        "workers": workers,
        "worker_class": "fastflyer.worker.FlyerWorker",
        "worker_connections": settings.worker_connections,
        "max_requests": max_requests,
        "max_requests_jitter": settings.max_requests_jitter if max_requests else 0,
        "timeout": settings.timeout,
        "graceful_timeout": settings.graceful_timeout_seconds,
        "keepalive": settings.keepalive,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        # Load the project once in the master: a broken sub-app stops start-up with one clear
        # message instead of a crash loop of workers, and workers fork fast (copy-on-write).
        "preload_app": True,
        "accesslog": None,  # FastFlyer's middleware writes the access log
        "errorlog": "-",
        "loglevel": "warning" if settings.console_log_level in ("error", "critical") else "info",
        "logger_class": "fastflyer.server.GunicornLogger",
        "proc_name": "fastflyer",
        "control_socket_disable": True,  # gunicorn >= 25: no socket in $HOME (read-only FS)
    }
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        options["worker_tmp_dir"] = "/dev/shm"  # heartbeat files off the (maybe slow) disk
    if settings.metrics_enable:
        options["post_fork"] = _metrics_post_fork
        options["child_exit"] = _metrics_child_exit
    return options


def _metrics_post_fork(server: Any, worker: Any) -> None:
    from .metrics import worker_started

    try:
        worker_started()
    except Exception as exc:  # noqa: BLE001 - metrics must never stop a worker from booting
        logger.warning(f"worker metrics unavailable: {type(exc).__name__}: {exc}")


def _metrics_child_exit(server: Any, worker: Any) -> None:
    from .metrics import worker_exited

    try:
        worker_exited(worker.pid)
    except Exception as exc:  # noqa: BLE001 - an exception here would stop the master
        logger.warning(f"could not account for exited worker {worker.pid}: {exc}")


def _drop_socket_close_noise(record: logging.LogRecord) -> bool:
    # uvicorn closes the listening sockets itself on shutdown; gunicorn then reports EBADF
    # for each at INFO on every clean stop. Nothing is wrong, so say nothing.
    return not record.getMessage().startswith("Error while closing socket [Errno 9]")


def _gunicorn_logger_class() -> type:
    from gunicorn.glogging import Logger

    class _GunicornLogger(Logger):
        """gunicorn's logger with its handlers removed, so records flow into loguru."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                log.handlers = []
                log.propagate = True
            self.error_log.addFilter(_drop_socket_close_noise)

    return _GunicornLogger


def __getattr__(name: str) -> Any:  # gunicorn imports "fastflyer.server.GunicornLogger"
    if name == "GunicornLogger":
        return _gunicorn_logger_class()
    raise AttributeError(name)


def serve_gunicorn(settings: FlyerSettings) -> None:
    from gunicorn.app.base import BaseApplication

    from .application import AppLoadError, load_application

    workers, reason = resolve_workers(settings)
    options = gunicorn_options(settings, workers)

    class FlyerApplication(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            try:
                return load_application(settings)
            except AppLoadError as exc:
                logger.error(f"start-up aborted: {exc}")
                sys.exit(1)

    announce(settings, workers, reason)
    if settings.metrics_enable:
        from .metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir()  # before the app (and prometheus_client) loads
    FlyerApplication().run()


def announce(settings: FlyerSettings, workers: int, reason: str) -> None:
    """Print the resolved server settings once, and where the docs are."""
    base = f"http://{display_host(settings.host)}:{settings.port}"
    logger.info(
        f"FastFlyer serving on {bind_address(settings.host, settings.port)} with {workers} "
        f"worker(s) (decided by {reason}), threads={settings.threads}, "
        f"worker_connections={settings.worker_connections}, timeout={settings.timeout}s, "
        f"graceful_timeout={settings.graceful_timeout_seconds}s, keepalive={settings.keepalive}s, "
        f"max_requests={settings.max_requests if settings.enable_max_requests else 0}, "
        f"access_log={'on' if settings.access_log else 'off'}"
    )
    if settings.docs_enable:
        logger.info(f"API docs: {base}{settings.base_url}/docs  and  {base}{settings.base_url}/redoc")


def serve_reload(settings: FlyerSettings) -> None:
    """One uvicorn process that restarts when a file of the project changes."""
    import uvicorn

    from .worker import apply_request_guards

    announce(settings, 1, "reload mode")
    guards = uvicorn.Config(app=None)
    apply_request_guards(guards, settings)
    uvicorn.run(
        "fastflyer.application:app_factory",
        http=guards.http,
        h11_max_incomplete_event_size=guards.h11_max_incomplete_event_size,
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=True,
        reload_dirs=[str(settings.app_root)],
        reload_includes=["*.py", "*.json", "*.yaml", "*.yml", "*.toml"],
        timeout_graceful_shutdown=settings.graceful_timeout_seconds,
        timeout_keep_alive=settings.keepalive,
        limit_concurrency=settings.worker_connections + 1,  # see FlyerWorker.__init__
        forwarded_allow_ips=settings.forwarded_allow_ips,
        access_log=False,
        server_header=False,
        log_config=None,
    )


def serve(settings: FlyerSettings) -> None:
    if settings.reload:
        serve_reload(settings)
    else:
        serve_gunicorn(settings)
