"""The users app's tables, stored with dataset: SQLite by default (a file in the temp dir),
the database of ``flyer_db_url``, or MySQL when ``flyer_db_host`` is set.

Nothing is imported or connected at import time (the app is imported in the gunicorn master,
and SQLAlchemy + dataset cost ~20 MiB and ~0.3 s): the first query opens the pool and creates
the tables with ``CREATE TABLE IF NOT EXISTS``, which is safe when several workers start at once.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from fastflyer.settings import get_settings

USERS = "flyer_demo_users"
FOLLOWS = "flyer_demo_follows"


def _schema():
    from sqlalchemy import Column, Integer, MetaData, String, Table, UniqueConstraint

    schema = MetaData()
    Table(USERS, schema,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("name", String(64), nullable=False),
          Column("email", String(254), nullable=False))
    Table(FOLLOWS, schema,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("user_id", Integer, nullable=False),
          Column("target_id", Integer, nullable=False),
          # Also the index of followers(target_id) lookups; created with the table (no race).
          UniqueConstraint("target_id", "user_id"))
    return schema


def _connect():
    from fastflyer.database import get_dataset_pool

    settings = get_settings()
    if settings.db_url is not None:
        return get_dataset_pool(url=settings.db_url.get_secret_value())
    if settings.db_host:
        return get_dataset_pool(
            host=settings.db_host,
            port=settings.db_port,
            name=settings.db_name,
            user=settings.db_user,
            password=settings.db_pass.get_secret_value(),
            recycle=settings.db_recycle_rate,
            pool_size=settings.db_pool_size,
            charset=settings.db_chartset,
        )
    return get_dataset_pool(url=f"sqlite:///{Path(tempfile.gettempdir()) / 'flyer_demo.db'}")


data_set = None
_ready_lock = threading.Lock()


def table(name: str):
    """The dataset table ``name``, creating the demo's tables on first use."""
    global data_set
    if data_set is None:
        with _ready_lock:
            if data_set is None:
                from sqlalchemy.schema import CreateTable

                pool = _connect()
                with pool.engine.begin() as conn:
                    for definition in _schema().sorted_tables:
                        conn.execute(CreateTable(definition, if_not_exists=True))
                data_set = pool
    return data_set[name]
