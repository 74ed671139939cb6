"""granian names used by FastFlyer's granian engine (``server/granian.py``) beyond the options
of its server's constructor.

Checked against granian 2.8.0 to 2.8.9. ``tests/contract/test_granian.py`` fails, naming the piece,
when a release changes one of them:

- ``Granian.serve(target_loader=, wrap_loader=False)``: the loader is called with no
  argument in each worker and returns the ASGI app (FastFlyer's returns the app the main
  process loaded before forking).
- ``loops.register(name)``: a worker builds its event loop with the builder registered under
  the ``loop=`` name given to the server.
- A worker installs its SIGINT/SIGTERM handlers with ``loop.add_signal_handler`` on that loop
  (``granian._signals.set_loop_signals``), so a loop of FastFlyer's sees the stop first.
- The ``_granian`` (granian's own messages, also from Rust) and ``granian.access`` loggers,
  configured from a ``dictConfig`` mapping merged key by key into granian's.
- ``http1_settings.max_buffer_size`` (hyper's read buffer, whose overflow while reading a
  request head is answered 431) cannot be below 8192 bytes: hyper panics.
- ``workers_lifetime`` below 60 s is refused (``MIN_WORKERS_LIFETIME``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from granian import Granian, loops
from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings, HTTP2Settings

CHECKED_VERSIONS = ("2.8.0", "2.8.9")
MIN_BUFFER_SIZE = 8192
MIN_WORKERS_LIFETIME = 60  # granian refuses a shorter workers_lifetime (ConfigurationError)
LOGGERS = ("_granian", "granian.access")

__all__ = [
    "CHECKED_VERSIONS", "Granian", "HTTP1Settings", "HTTP2Settings", "HTTPModes", "Interfaces",
    "LOGGERS", "MIN_BUFFER_SIZE", "MIN_WORKERS_LIFETIME", "SSLProtocols", "register_loop",
    "routed_log_config",
    "serve_loaded",
]


def register_loop(name: str, builder: Callable[[], Any]) -> None:
    """Make ``builder`` (returns a new, current event loop) the loop named ``name``."""
    loops.register(name)(builder)


def routed_log_config() -> dict[str, Any]:
    """granian's logging with its handlers removed: its messages propagate to the root logger
    (loguru), its access log stays off."""
    return {
        "handlers": {},
        "loggers": {
            "_granian": {"handlers": [], "propagate": True},
            "granian.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
        },
    }


def serve_loaded(server: Granian, loader: Callable[[], Any]) -> None:
    """Run ``server`` until it is stopped; each worker serves what ``loader()`` returns."""
    server.serve(target_loader=loader, wrap_loader=False)
