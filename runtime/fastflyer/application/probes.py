"""Readiness probes for the dependencies configured with ``flyer_redis_*`` and ``flyer_db_*``.

Built at worker start-up only when configured, so a service without Redis or a database
imports neither client. A probe raises when its dependency does not answer.
"""

from __future__ import annotations

from fastflyer.application.readiness import Probe, Readiness
from fastflyer.settings import FlyerSettings

PROBE_TIMEOUT = 1.5


def redis_probe(settings: FlyerSettings) -> Probe:
    import redis.asyncio as aioredis

    client = aioredis.Redis(
        host=settings.redis_host or "localhost",
        port=settings.redis_port,
        db=settings.redis_db,
        password=settings.redis_pass.get_secret_value() or None,
        socket_timeout=PROBE_TIMEOUT,
        socket_connect_timeout=PROBE_TIMEOUT,
    )

    async def probe() -> None:
        await client.ping()

    return probe


def database_probe(settings: FlyerSettings) -> Probe:
    import anyio.to_thread
    import pymysql

    def check() -> None:
        connection = pymysql.connect(
            host=settings.db_host,
            port=settings.db_port,
            user=settings.db_user,
            password=settings.db_pass.get_secret_value(),
            connect_timeout=PROBE_TIMEOUT,
            read_timeout=PROBE_TIMEOUT,
        )
        try:
            connection.ping(reconnect=False)
        finally:
            connection.close()

    async def probe() -> None:
        await anyio.to_thread.run_sync(check, abandon_on_cancel=True)

    return probe


def register_probes(readiness: Readiness, settings: FlyerSettings) -> None:
    if settings.redis_host:
        readiness.add_probe("redis", redis_probe(settings))
    if settings.db_host:
        readiness.add_probe("database", database_probe(settings))
