"""The granian engine (``flyer_server=granian``): granian's main process loads the app once,
spawns the workers, respawns one that dies and stops them on SIGTERM; each worker serves the
app it inherited on granian's HTTP/1.1 and HTTP/2 stack (hyper, in Rust).

Every ``flyer_*`` setting reaches granian here (:func:`granian_options`); the few that granian
cannot honour are refused at start-up (:func:`refusals`), never ignored. FastFlyer adds what
granian has no option for: readiness turns 503 as soon as a worker is told to stop, the
heartbeat (``flyer_timeout``), trusted proxy headers, and metrics summed across workers (dead
workers are found by polling: granian has no exit hook).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from typing import Any

from fastflyer.adapters import granian as gr
from fastflyer.observability import procfs
from fastflyer.observability.logs import logger
from fastflyer.settings import FlyerSettings, get_settings

LOOP_NAME = "fastflyer"
BEAT_SECONDS = 1.0  # how often a worker's event loop reports to its heartbeat thread
REAP_SECONDS = 1.0  # how often the main process looks for workers that have exited
RELOAD_EXTENSIONS = (".json", ".yaml", ".yml", ".toml")  # besides Python files
RSS_SAMPLE_SECONDS = 5  # as the default engine checks memory (server/lifecycle.py)
BACKLOG = 2048  # uvicorn's default, so that both engines queue the same
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
LOG_LEVELS = {"trace": "debug", "success": "info"}  # loguru-only names

_app: Any = None  # loaded by the main process before the workers fork from it


def refusals(settings: FlyerSettings) -> list[str]:
    """One line per setting the granian engine cannot honour (a start-up error, exit 2)."""
    lines = []
    if settings.enable_max_requests and settings.max_requests:
        lines.append(
            f"flyer_max_requests={settings.max_requests}: the granian engine cannot recycle a "
            "worker after a number of requests (granian recycles by age or memory only); unset "
            "flyer_enable_max_requests, or use flyer_server=gunicorn")
    if ("keepalive" in settings.model_fields_set
            and settings.keepalive not in (0, settings.header_timeout)):
        lines.append(
            f"flyer_keepalive={settings.keepalive}: the granian engine has no keep-alive timeout "
            f"of its own: an idle connection is closed after flyer_header_timeout "
            f"({settings.header_timeout:g} s); set flyer_keepalive to 0 (no keep-alive) or to "
            "flyer_header_timeout, or use flyer_server=gunicorn")
    if settings.metrics_port:
        lines.append(
            f"flyer_metrics_port={settings.metrics_port}: the granian engine listens on one "
            "address only; unset it (metrics on the main port, behind Basic auth when that is "
            "on), or use flyer_server=gunicorn")
    if settings.worker_max_age and settings.worker_max_age < gr.MIN_WORKERS_LIFETIME:
        lines.append(
            f"flyer_worker_max_age={settings.worker_max_age}: the granian engine recycles a worker "
            f"after {gr.MIN_WORKERS_LIFETIME} s at the earliest; set {gr.MIN_WORKERS_LIFETIME} or "
            "more, or use flyer_server=gunicorn")
    if settings.drain_delay != "auto" and settings.drain_delay_seconds > 0:
        lines.append(
            f"flyer_drain_delay={settings.drain_delay:g}: the granian engine stops accepting as soon "
            "as it is told to stop; unset it, or use flyer_server=gunicorn")
    if "startup_timeout" in settings.model_fields_set:
        lines.append(
            f"flyer_startup_timeout={settings.startup_timeout}: the granian engine has no start-up "
            "timeout of its own (a start that blocks the event loop meets flyer_timeout); unset "
            "it, or use flyer_server=gunicorn")
    if settings.max_header_size < gr.MIN_BUFFER_SIZE:
        lines.append(
            f"flyer_max_header_size={settings.max_header_size}: the granian engine reads request "
            f"heads into a buffer of at least {gr.MIN_BUFFER_SIZE} bytes; set "
            f"{gr.MIN_BUFFER_SIZE} or more, or use flyer_server=gunicorn")
    return lines


def granian_options(settings: FlyerSettings, workers: int) -> dict[str, Any]:
    """Every granian option FastFlyer controls, derived from the settings model."""
    graceful = settings.graceful_timeout_seconds
    options: dict[str, Any] = {
        "address": settings.host,
        "port": settings.port,
        "interface": gr.Interfaces.ASGI,  # with lifespan: FastFlyer's start-up runs per worker
        "workers": workers,
        "loop": LOOP_NAME,
        "http": gr.HTTPModes(settings.http),
        "backlog": BACKLOG,
        # Connections a worker serves at once (idle keep-alive ones included); beyond it a
        # connection waits in the listen backlog for a slot, where uvicorn's guard answers 503.
        "backpressure": settings.worker_connections,
        "http1_settings": gr.HTTP1Settings(
            # hyper's one timer: from the connection (or the previous response) to a complete
            # head. It is the slow-client deadline and the keep-alive idle timeout at once.
            header_read_timeout=max(1, round(settings.header_timeout * 1000)),
            keep_alive=settings.keepalive > 0,
            max_buffer_size=settings.max_header_size,
        ),
        "http2_settings": gr.HTTP2Settings(max_headers_size=settings.max_header_size),
        "log_enabled": True,
        "log_level": LOG_LEVELS.get(settings.console_log_level, settings.console_log_level),
        "log_dictconfig": gr.routed_log_config(),
        "log_access": False,  # FastFlyer's access-log middleware writes it
        "respawn_failed_workers": True,
        # granian waits forever for a worker when this is 0; gunicorn's 0 means "kill now".
        "workers_kill_timeout": graceful if graceful else 0.001,
        "reload": settings.reload,
    }
    if settings.worker_max_age:  # granian's lifetime has no jitter
        options["workers_lifetime"] = settings.worker_max_age
    if settings.worker_max_rss:
        options["workers_max_rss"] = settings.worker_max_rss
        options["rss_sample_interval"] = RSS_SAMPLE_SECONDS
    if settings.ssl_certfile is not None:
        options["ssl_cert"] = settings.ssl_certfile
        options["ssl_key"] = settings.ssl_keyfile
        options["ssl_protocol_min"] = gr.SSLProtocols.tls12  # as uvicorn's default context
    if settings.reload:
        options["reload_paths"] = [settings.app_root]
        options["reload_filter"] = _project_files_filter()
        options["reload_ignore_worker_failure"] = True  # a syntax error waits for the next edit
    return options


def _project_files_filter() -> type:
    from watchfiles import PythonFilter

    class ProjectFiles(PythonFilter):
        """What the reloader watches: Python and configuration files (not logs, not data)."""

        def __init__(self) -> None:
            super().__init__(extra_extensions=RELOAD_EXTENSIONS)

    return ProjectFiles


# --- in each worker -------------------------------------------------------------------------

try:
    from uvloop import Loop as _LoopBase
except ImportError:  # pragma: no cover - uvloop is a dependency (uvicorn[standard])
    _LoopBase = asyncio.SelectorEventLoop


class WorkerLoop(_LoopBase):  # type: ignore[misc,valid-type]
    """A worker's event loop: when granian's stop signal arrives, readiness turns 503 before
    granian's own handler starts the graceful shutdown."""

    def add_signal_handler(self, sig: int, callback: Any, *args: Any) -> None:
        if sig in STOP_SIGNALS:
            super().add_signal_handler(sig, _drain_then, callback, *args)
        else:
            super().add_signal_handler(sig, callback, *args)


def _drain_then(callback: Any, *args: Any) -> None:
    from fastflyer.application.readiness import readiness

    readiness.start_draining()
    callback(*args)


def build_worker_loop() -> asyncio.AbstractEventLoop:
    """granian's loop builder for each worker; it also starts the worker's heartbeat and its
    event-loop lag gauge (how late each one-second beat came)."""
    from fastflyer.observability.metrics import record_loop_lag

    loop = WorkerLoop()
    asyncio.set_event_loop(loop)
    settings = get_settings()
    heartbeat = None
    if settings.timeout and not settings.reload:  # a debugger's breakpoint is no hang
        from fastflyer.server.single import Heartbeat

        heartbeat = Heartbeat(settings.timeout)
        heartbeat.watch()
    due = time.monotonic()

    def beat() -> None:
        nonlocal due
        now = time.monotonic()
        record_loop_lag(max(0.0, now - due))
        if heartbeat is not None:
            heartbeat.last = now
        due = now + BEAT_SECONDS
        loop.call_later(BEAT_SECONDS, beat)

    loop.call_soon(beat)
    return loop


gr.register_loop(LOOP_NAME, build_worker_loop)  # at import: spawned workers import this too


def worker_app() -> Any:
    """Called in each worker before it serves: the app the main process loaded (inherited
    through fork), or, in dev mode and under the spawn start method, the app loaded here."""
    settings = get_settings()
    app = _app
    if app is None:
        from fastflyer.observability.logs import configure_from_settings

        configure_from_settings(settings)  # spawned: nothing inherited
        app = load(settings)
    if settings.metrics_enable:
        from fastflyer.observability.metrics import worker_started

        worker_started()
    return app


def load(settings: FlyerSettings) -> Any:
    """The served app, behind uvicorn's proxy-headers middleware when proxies are trusted
    (uvicorn adds it itself; granian has no such option)."""
    from fastflyer.application.loader import AppLoadError, load_application

    try:
        app = load_application(settings)
    except AppLoadError as exc:
        if not settings.reload:
            logger.error(f"start-up aborted: {exc}")
            sys.exit(1)
        from fastflyer.application.load_error import load_error_app

        # Dev mode: answer 503 naming the error until the save that fixes it (as reload.py).
        logger.error(f"{exc}; answering 503 until a project file is saved again")
        return load_error_app(exc, settings.app_root)
    if settings.forwarded_allow_ips:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app = ProxyHeadersMiddleware(app, trusted_hosts=settings.forwarded_allow_ips)
    return app


# --- in the main process --------------------------------------------------------------------


def watch_exited_workers() -> None:
    """Fold each exited worker's metrics into the archive, as gunicorn's ``child_exit`` hook
    does. A worker that lives less than REAP_SECONDS may go unseen: its counts still add up,
    only its exit goes uncounted and its files stay."""
    import prometheus_client.multiprocess  # noqa: F401 - imported here, not in the thread

    from fastflyer.observability.metrics import worker_exited

    def run() -> None:
        me, seen = os.getpid(), set()
        while True:
            alive = procfs.children(me)
            for pid in seen - alive:
                try:
                    worker_exited(pid)
                except Exception as exc:  # noqa: BLE001 - never stop the main process
                    logger.warning(f"could not account for exited worker {pid}: {exc}")
            seen = alive
            time.sleep(REAP_SECONDS)

    threading.Thread(target=run, name="fastflyer-reaper", daemon=True).start()


def announce_when_answering(settings: FlyerSettings) -> None:
    """granian tells the main process nothing when a worker's start-up is done: ask the
    health check on loopback, and say "serving on" at its first answer.

    Threads of the main process must import nothing: granian forks workers at any moment,
    and a module lock held by a thread at the fork stays held in the worker, whose next import
    of that module then hangs for good (its database probe did, in ``socket.getaddrinfo``).
    Hence a raw socket to a numeric address, and everything loaded before the thread starts."""
    import socket
    import ssl

    from fastflyer.server.common import announce_serving, display_host

    host = display_host(settings.host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    context = None
    if settings.ssl_certfile is not None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = b"GET /health_check HTTP/1.0\r\nHost: localhost\r\n\r\n"

    def answers() -> bool:
        with socket.socket(family, socket.SOCK_STREAM) as raw:
            raw.settimeout(2)
            raw.connect((host, settings.port))
            if settings.http == "2":  # HTTP/2 only: a connection is all an HTTP/1.0 probe gets
                return True
            conn = context.wrap_socket(raw) if context is not None else raw
            conn.sendall(request)
            return conn.recv(64).startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))

    def run() -> None:
        deadline = time.monotonic() + settings.startup_timeout
        while time.monotonic() < deadline:
            try:
                if answers():
                    announce_serving(settings)
                    return
            except OSError:
                pass
            time.sleep(0.1)

    threading.Thread(target=run, name="fastflyer-announce", daemon=True).start()


def serve_granian(settings: FlyerSettings, workers: int) -> None:
    global _app
    # Dev mode loads the app in each new worker (fresh code after every edit) and keeps
    # metrics per process, as uvicorn's reloader does.
    shared_metrics = settings.metrics_enable and not settings.reload
    if shared_metrics:
        from fastflyer.observability.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir()  # before the app (and prometheus_client) loads
    if not settings.reload:
        from fastflyer.server.heap import freeze_startup_objects

        # Load once here: a broken sub-app stops start-up with one message instead of a
        # crash loop of workers, and workers fork with the app ready (copy-on-write).
        _app = load(settings)
        freeze_startup_objects()
    server = gr.Granian("fastflyer.application.loader:app_factory",
                        **granian_options(settings, workers))
    if shared_metrics:
        watch_exited_workers()
    announce_when_answering(settings)
    gr.serve_loaded(server, worker_app)
