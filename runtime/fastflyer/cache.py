"""Redis clients as the seed's ``settings.py`` builds them: pooled, self-healing, str in/out.

``get_redis_pool(host, port, password, db)`` returns a ``redis.Redis`` on its own connection
pool; ``get_async_redis_pool`` is the ``redis.asyncio`` twin for ``async def`` code. Both
accept what ``os.getenv`` gives (ports and db numbers as strings, an empty password) or a
``redis://`` / ``rediss://`` / ``unix://`` URL as ``host``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:  # pragma: no cover
    from fastflyer.settings import FlyerSettings

URL_SCHEMES = ("redis://", "rediss://", "unix://")
# A dropped or refused connection is retried three times with a short back-off, and idle
# pooled connections are pinged before reuse, so a Redis restart costs one slow call, not errors.
DEFAULTS: dict[str, Any] = {
    "decode_responses": True,
    "health_check_interval": 30,
    "socket_connect_timeout": 5,
    "socket_timeout": 10,
    "socket_keepalive": True,
    "retry_on_error": [RedisConnectionError, RedisTimeoutError],
}
RETRIES = 3


def _options(kwargs: dict[str, Any], retry_cls: type) -> dict[str, Any]:
    options = {**DEFAULTS, **kwargs}
    options.setdefault("retry", retry_cls(ExponentialBackoff(cap=1.0, base=0.05), RETRIES))
    return options


def _server(host: str, port: int | str, password: str | None, db: int | str) -> dict[str, Any]:
    return {
        "host": host,
        "port": int(port),
        "password": password or None,
        "db": int(db),
    }


def get_redis_pool(
    host: str = "localhost",
    port: int | str = 6379,
    password: str | None = "",
    db: int | str = 0,
    **kwargs: Any,
) -> redis.Redis:
    """A ``redis.Redis`` with its own connection pool; extra keywords go to ``redis.Redis``."""
    from redis.retry import Retry

    options = _options(kwargs, Retry)
    if host.startswith(URL_SCHEMES):
        return redis.Redis.from_url(host, **options)
    return redis.Redis(**_server(host, port, password, db), **options)


def get_async_redis_pool(
    host: str = "localhost",
    port: int | str = 6379,
    password: str | None = "",
    db: int | str = 0,
    **kwargs: Any,
) -> redis.asyncio.Redis:
    """The ``redis.asyncio`` twin of :func:`get_redis_pool`; use it from one event loop."""
    from redis.asyncio.retry import Retry

    options = _options(kwargs, Retry)
    if host.startswith(URL_SCHEMES):
        return redis.asyncio.Redis.from_url(host, **options)
    return redis.asyncio.Redis(**_server(host, port, password, db), **options)


def settings_redis_args(settings: FlyerSettings | None = None) -> dict[str, Any] | None:
    """Connection arguments from ``flyer_redis_*``, or None when no Redis is configured."""
    if settings is None:
        from fastflyer.settings import get_settings

        settings = get_settings()
    if not settings.redis_host:
        return None
    return {
        "host": settings.redis_host,
        "port": settings.redis_port,
        "password": settings.redis_pass.get_secret_value(),
        "db": settings.redis_db,
    }


__all__ = ["get_redis_pool", "get_async_redis_pool", "settings_redis_args"]
