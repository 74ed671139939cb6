"""Contract of fastflyer/adapters/redis.py with the installed redis-py."""

from __future__ import annotations

import asyncio
import uuid
from importlib.metadata import version

import pytest
import redis
import redis.asyncio
from fastflyer.adapters import redis as adapter

from tests.support import need_redis


def changed(what: str) -> str:
    return f"redis {version('redis')} {what}: update fastflyer/adapters/redis.py"


def test_a_new_lock_holds_no_token():
    for kind, client in {"sync": redis.Redis(), "asyncio": redis.asyncio.Redis()}.items():
        lock = client.lock("fastflyer-contract", timeout=5, thread_local=False)
        assert hasattr(lock, "local") and adapter.lock_token(lock) is None, changed(
            f"no longer keeps a {kind} lock's token in Lock.local.token")


@pytest.mark.redis
def test_a_sync_twin_with_the_async_holders_token_extends_and_releases_its_lock():
    host, port = need_redis()
    key = f"fastflyer-contract-{uuid.uuid4().hex}"
    sync_client = redis.Redis(host=host, port=port)

    async def scenario() -> None:
        async_client = redis.asyncio.Redis(host=host, port=port)
        holder = async_client.lock(key, timeout=2, blocking=False, thread_local=False)
        assert await holder.acquire()
        token = adapter.lock_token(holder)
        assert isinstance(token, bytes) and await async_client.get(key) == token, changed(
            "no longer stores the acquired token in Lock.local.token")
        twin = adapter.sharing_token(
            sync_client.lock(key, timeout=2, blocking=False, thread_local=False), holder)
        assert twin.owned() and twin.extend(10, replace_ttl=True), changed(
            "does not renew a lock through a twin given the holder's token")
        assert sync_client.ttl(key) > 2
        twin.release()
        assert sync_client.get(key) is None
        await async_client.aclose()

    try:
        asyncio.run(scenario())
    finally:
        sync_client.delete(key)
        sync_client.close()
