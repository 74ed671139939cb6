"""FastFlyer: a prebuilt runtime for FastAPI services.

Public names are imported lazily, so ``import fastflyer`` stays cheap and optional parts
(httpx, APScheduler, redis, SQLAlchemy) cost nothing until a service uses them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "logger": "fastflyer.observability.logs",
    "APIRouter": "fastflyer.application.routing",
    "create_app": "fastflyer.application.factory",
    "get_settings": "fastflyer.settings",
    "FlyerSettings": "fastflyer.settings",
    "Client": "fastflyer.httpclient",
    "AsyncClient": "fastflyer.httpclient",
    "background_scheduler": "fastflyer.scheduler",
    "asyncio_scheduler": "fastflyer.scheduler",
}
_SUBMODULES = {"status", "schemas", "cache", "database"}

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from fastflyer import cache, database, schemas, status
    from fastflyer.application.factory import create_app
    from fastflyer.application.routing import APIRouter
    from fastflyer.httpclient import AsyncClient, Client
    from fastflyer.observability.logs import logger
    from fastflyer.scheduler import asyncio_scheduler, background_scheduler
    from fastflyer.settings import FlyerSettings, get_settings


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"fastflyer.{name}")
    else:
        raise AttributeError(f"module 'fastflyer' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
