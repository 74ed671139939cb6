"""dataset names used by FastFlyer's reconnecting database (``database.py``) beyond its
documented API.

Checked against dataset 2.0.0 (with SQLAlchemy 2.0.0 to 2.1.9). ``tests/contract/test_dataset.py``
fails, naming the piece, when a release changes one of them.

- ``dataset.util.ResultIter``: what ``find()`` and ``query()`` return, reading rows from the
  SQLAlchemy result in ``result_proxy`` as they are iterated; ``ResultIter(result,
  row_type=...)`` wraps a result.
- ``Database.row_type`` (the ``row_type`` argument), ``Database.connections`` (the connection of
  each thread, by ``threading.get_ident()``) and ``Database._release_connection()``, which
  closes the calling thread's connection and forgets it.
- ``Table.db``: the database a table belongs to.
- ``Database.get_table()`` (so ``db[name]``) builds its tables through ``create_table()`` or
  ``load_table()``.
"""

from __future__ import annotations

import threading
from typing import Any

import dataset
from dataset.util import ResultIter
from sqlalchemy import Connection

CHECKED_VERSIONS = ("2.0.0",)

__all__ = [
    "CHECKED_VERSIONS", "ResultIter", "rows_in_memory", "thread_connection", "release_connection",
    "table_database",
]


def rows_in_memory(result: Any, db: dataset.Database) -> Any:
    """``result`` with its rows read now, when it is a result iterator still reading them from
    its connection; anything else as it is."""
    proxy = getattr(result, "result_proxy", None)
    if isinstance(result, ResultIter) and proxy is not None and proxy.returns_rows:
        return ResultIter(proxy.freeze()(), row_type=db.row_type)
    return result


def thread_connection(db: dataset.Database) -> Connection | None:
    """The calling thread's connection, None when it has none (``db.executable`` opens one)."""
    return db.connections.get(threading.get_ident())


def release_connection(db: dataset.Database) -> None:
    """Close the calling thread's connection (back to the pool); the next operation takes one."""
    db._release_connection()


def table_database(table: dataset.Table) -> dataset.Database:
    """The database ``table`` belongs to."""
    return table.db
