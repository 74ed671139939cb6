"""Who follows whom (in memory; replaced by a dataset-backed store)."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_followers: dict[int, set[int]] = {}


def follow(user_id: int, target_id: int) -> None:
    with _lock:
        _followers.setdefault(target_id, set()).add(user_id)


def followers(user_id: int) -> list[int]:
    with _lock:
        return sorted(_followers.get(user_id, ()))
