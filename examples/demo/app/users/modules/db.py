"""The users app's tables, in the demo's database (``settings.DataBase``: SQLite by default,
the database of ``flyer_db_url``, or MySQL when ``flyer_db_host`` is set).

Nothing is imported or connected at import time: the first query opens the database and
creates the tables.
"""

from __future__ import annotations

from functools import cache

from settings import DataBase

USERS = "flyer_demo_users"
FOLLOWS = "flyer_demo_follows"


@cache
def _schema():
    from sqlalchemy import Column, Integer, MetaData, String, Table, UniqueConstraint

    schema = MetaData()
    Table(USERS, schema,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("name", String(64), nullable=False),
          Column("email", String(254), nullable=False),
          mysql_charset="utf8mb4")
    Table(FOLLOWS, schema,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("user_id", Integer, nullable=False),
          Column("target_id", Integer, nullable=False),
          # Also the index of followers(target_id) lookups; created with the table (no race).
          UniqueConstraint("target_id", "user_id"),
          mysql_charset="utf8mb4")
    return schema


def table(name: str):
    """The dataset table ``name``, creating the users app's tables on first use."""
    return DataBase.table(name, _schema())
