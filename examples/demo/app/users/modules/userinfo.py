"""User storage in the ``flyer_demo_users`` table (see :mod:`.db`)."""

from __future__ import annotations

from .db import FOLLOWS, USERS, table

FIELDS = ("name", "email")


def _public(row) -> dict:
    return {"id": row["id"], "name": row["name"], "email": row["email"]}


def list_users(offset: int, limit: int) -> tuple[list[dict], int]:
    users = table(USERS)
    rows = users.find(order_by="id", _limit=limit, _offset=offset)
    return [_public(row) for row in rows], users.count()


def get_user(user_id: int) -> dict | None:
    row = table(USERS).find_one(id=user_id)
    return _public(row) if row else None


def create_user(data: dict) -> dict:
    row = {key: data[key] for key in FIELDS}
    user_id = table(USERS).insert(row)
    return {"id": user_id, **row}


def delete_user(user_id: int) -> bool:
    deleted = table(USERS).delete(id=user_id)
    if deleted:
        follows = table(FOLLOWS)
        follows.delete(user_id=user_id)
        follows.delete(target_id=user_id)
    return deleted
