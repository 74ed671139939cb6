"""redis-py names used by the scheduler's job lock (``scheduler.py``) beyond its documented API.

Checked against redis 5.0.1 and 8.1.0. ``tests/contract/test_redis.py`` fails, naming the
piece, when a release changes it.

- ``Lock.local.token`` (sync and asyncio locks): the random token a lock was acquired with,
  which ``extend()``, ``reacquire()`` and ``release()`` send. A lock the async client took is
  renewed from a thread through a sync lock given the same token; redis-py has no public way
  to read or hand over a token.
"""

from __future__ import annotations

from typing import Any

import redis.lock

CHECKED_VERSIONS = ("5.0.1", "8.1.0")

__all__ = ["CHECKED_VERSIONS", "lock_token", "sharing_token"]


def lock_token(lock: Any) -> bytes | None:
    """The token ``lock`` holds (None when it holds none)."""
    return lock.local.token


def sharing_token(twin: redis.lock.Lock, holder: Any) -> redis.lock.Lock:
    """``twin`` (a lock on the same key) holding ``holder``'s token: it can extend and
    release what ``holder`` acquired."""
    twin.local.token = lock_token(holder)
    return twin
