"""gunicorn names used by FastFlyer's multi-worker server (``server/gunicorn.py``,
``server/worker.py``) beyond its documented settings.

Checked against gunicorn 23.0.0 to 27.0.1. ``tests/contract/test_gunicorn.py`` fails, naming
the piece, when a release changes one of them.

- ``Worker``: the base class of custom worker classes (``notify``, ``sockets``, ``wsgi``,
  ``cfg``, ``alive``, ``max_requests``, ``timeout``, ``SIGNALS``, ``handle_usr1``).
- ``Arbiter.WORKER_BOOT_ERROR``: the exit code that tells the master a worker could not boot.
- ``glogging.Logger``: its ``error_log``/``access_log`` loggers, whose handlers are removed so
  that records reach loguru.
- ``BaseApplication`` with ``cfg.settings``/``cfg.set`` to set options programmatically.
"""

from __future__ import annotations

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker

CHECKED_VERSIONS = ("23.0.0", "27.0.1")
WORKER_BOOT_ERROR: int = Arbiter.WORKER_BOOT_ERROR

__all__ = ["CHECKED_VERSIONS", "BaseApplication", "Logger", "WORKER_BOOT_ERROR", "Worker"]
