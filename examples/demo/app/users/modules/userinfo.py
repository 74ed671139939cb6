"""User storage (in memory; replaced by a dataset-backed store)."""

from __future__ import annotations

import itertools
import threading

_lock = threading.Lock()
_ids = itertools.count(1)
_users: dict[int, dict] = {}


def list_users(offset: int, limit: int) -> tuple[list[dict], int]:
    with _lock:
        rows = sorted(_users.values(), key=lambda u: u["id"])
    return [dict(u) for u in rows[offset : offset + limit]], len(rows)


def get_user(user_id: int) -> dict | None:
    with _lock:
        user = _users.get(user_id)
    return dict(user) if user else None


def create_user(data: dict) -> dict:
    with _lock:
        user = {"id": next(_ids), **data}
        _users[user["id"]] = user
    return dict(user)


def delete_user(user_id: int) -> bool:
    with _lock:
        return _users.pop(user_id, None) is not None
