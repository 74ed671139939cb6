"""``fastflyer.cache`` against the real Redis: the seed's ``settings.py`` example, string ports
from getenv, URLs, and surviving a server-side kill of the pooled connection."""

# ruff: noqa: SIM112 -- the seed's code reads lower-case flyer_* names; kept verbatim
from __future__ import annotations

import asyncio
import uuid
from os import getenv

import pytest
from fastflyer.cache import get_async_redis_pool, get_redis_pool, settings_redis_args
from fastflyer.settings import load_settings

from tests.support import need_redis

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_env(monkeypatch) -> tuple[str, int]:
    host, port = need_redis()
    monkeypatch.setenv("flyer_redis_host", host)
    monkeypatch.setenv("flyer_redis_port", str(port))
    return host, port


def test_seed_settings_example(redis_env):
    prefix = f"test-cache-{uuid.uuid4().hex}:"

    # settings.py (the seed's class, verbatim)
    class Cache:
        # 初始化Redis
        redis_host = getenv("flyer_redis_host", "localhost")
        redis_port = getenv("flyer_redis_port", 6379)
        redis_pass = getenv("flyer_redis_pass", "")
        redis_db = getenv("flyer_redis_db", 1)
        redis_pool = get_redis_pool(redis_host, redis_port, redis_pass, redis_db)

    # 业务代码
    try:
        Cache.redis_pool.set(prefix + "a", 1)
        assert Cache.redis_pool.get(prefix + "a") == "1"  # decode_responses: str, not bytes
        assert Cache.redis_pool.connection_pool.connection_kwargs["db"] == 1
    finally:
        Cache.redis_pool.delete(prefix + "a")


def test_string_arguments_and_url(redis_env):
    host, port = redis_env
    key = f"test-cache-{uuid.uuid4().hex}"
    by_args = get_redis_pool(host, str(port), "", "2")
    by_url = get_redis_pool(f"redis://{host}:{port}/2")
    try:
        by_args.set(key, "x", ex=30)
        assert by_url.get(key) == "x"
    finally:
        by_args.delete(key)


def test_reconnects_after_the_server_kills_the_connection(redis_env):
    host, port = redis_env
    client = get_redis_pool(host, port)
    admin = get_redis_pool(host, port)
    key = f"test-cache-{uuid.uuid4().hex}"
    client.set(key, "before", ex=30)
    assert admin.client_kill_filter(_id=client.client_id()) == 1
    assert client.get(key) == "before"  # the dead pooled connection is replaced, not an error
    client.delete(key)


def test_async_variant_reconnects_too(redis_env):
    host, port = redis_env
    key = f"test-cache-{uuid.uuid4().hex}"
    admin = get_redis_pool(host, port)

    async def run() -> str | None:
        client = get_async_redis_pool(host, str(port))
        try:
            await client.set(key, "async", ex=30)
            admin.client_kill_filter(_id=await client.client_id())
            return await client.get(key)
        finally:
            await client.delete(key)
            await client.aclose()

    assert asyncio.run(run()) == "async"


def test_settings_arguments():
    assert settings_redis_args(load_settings(redis_host=None)) is None
    args = settings_redis_args(load_settings(redis_host="r", redis_port=7000, redis_pass="pw"))
    assert args == {"host": "r", "port": 7000, "password": "pw", "db": 0}
