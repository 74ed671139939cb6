"""Who follows whom, in the ``flyer_demo_follows`` table (see :mod:`.db`)."""

from __future__ import annotations

import contextlib

from .db import FOLLOWS, table


def follow(user_id: int, target_id: int) -> None:
    """``user_id`` follows ``target_id`` (following twice changes nothing)."""
    from sqlalchemy.exc import IntegrityError  # imported on use: keeps start-up light

    # IntegrityError: a concurrent identical follow won the race, with the same outcome.
    with contextlib.suppress(IntegrityError):
        table(FOLLOWS).insert_ignore({"user_id": user_id, "target_id": target_id},
                                     ["user_id", "target_id"])


def followers(user_id: int) -> list[int]:
    rows = table(FOLLOWS).find(target_id=user_id, order_by="user_id")
    return [row["user_id"] for row in rows]
