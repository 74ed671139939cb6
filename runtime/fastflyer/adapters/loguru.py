"""loguru names used by FastFlyer's logging (``observability/logs.py``) beyond its documented API.

Checked against loguru 0.7.0 to 0.7.3. ``tests/contract/test_loguru.py`` fails, naming the
piece, when a release changes one of them.

- ``Logger``: the class of ``loguru.logger`` (``loguru._logger.Logger``; the package exports
  the instance only). The loggers that ``bind()``, ``opt()`` and ``patch()`` return are of the
  same class, so a method set on it is on every logger.
- Its logging methods find the caller's frame at a fixed depth, so the same function object
  under a second name reports the right caller.
"""

from __future__ import annotations

from loguru import logger

CHECKED_VERSIONS = ("0.7.0", "0.7.3")
Logger = type(logger)

__all__ = ["CHECKED_VERSIONS", "Logger", "add_method_alias"]


def add_method_alias(alias: str, name: str) -> None:
    """Give every logger ``alias`` as a second name of its method ``name``."""
    if not hasattr(Logger, alias):
        setattr(Logger, alias, getattr(Logger, name))
