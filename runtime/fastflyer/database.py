"""SQL databases as the seed's ``settings.py`` builds them: ``get_mysql_pool`` (SQLAlchemy 2 +
PyMySQL) and ``get_dataset_pool`` (dataset), both surviving lost connections.

Both take the seed's positional arguments or a SQLAlchemy URL (``url=`` or as the first
argument), so ``sqlite:///path.db`` works as an embedded database without a server. Passwords
are put into URLs with ``URL.create`` (any character is safe) and never logged.

``get_dataset_pool`` call styles: the documented order is ``(host, port, name, user, password,
recycle, pool_size)``. The seed also shows ``get_dataset_pool(db_user, db_pass, db_host,
db_port, db_name)``; it is recognised when the fourth positional argument is a port number (an
int or a string of digits, which no real user name is) and read in that order. Keywords
(``host=``, ``user=`` ...) are never reinterpreted and are the recommended style.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dataset
import sqlalchemy
import tenacity
from sqlalchemy import URL, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from fastflyer.adapters import dataset as dataset_adapter
from fastflyer.observability.logs import logger

DEFAULT_CHARSET = "utf8mb4"
RECONNECT_ATTEMPTS = 3


def _is_url(value: Any) -> bool:
    return isinstance(value, (str, URL)) and "://" in str(value)


def mysql_url(user: str, password: str | None, host: str, port: int | str, name: str,
              charset: str = DEFAULT_CHARSET) -> URL:
    """A ``mysql+pymysql`` URL; the password may contain any character."""
    return URL.create("mysql+pymysql", username=user, password=password or None, host=host,
                      port=int(port), database=name, query={"charset": charset})


def _engine_options(url: URL, recycle: int, pool_size: int, max_overflow: int | None,
                    extra: dict[str, Any]) -> dict[str, Any]:
    # pre_ping: a connection the server closed (timeout, KILL, restart) is replaced on checkout.
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_recycle": int(recycle)}
    in_memory_sqlite = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    if not in_memory_sqlite:  # in-memory SQLite uses a single-connection pool without sizes
        options["pool_size"] = int(pool_size)
        if max_overflow is not None:
            options["max_overflow"] = int(max_overflow)
    options.update(extra)
    return options


class SQLPool:
    """An engine plus session factory. ``pool()`` gives a new ``Session``; ``with
    pool.session() as s:`` commits on success and rolls back on error."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.Session = sessionmaker(bind=engine, expire_on_commit=False)

    def __call__(self) -> Session:
        return self.Session()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.Session.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:  # the engine's repr masks the password
        return f"<SQLPool {self.engine.url!r}>"


def get_mysql_pool(
    user: str = "root",
    password: str | None = "",
    host: str = "localhost",
    port: int | str = 3306,
    name: str = "flyer",
    recycle: int = 900,
    pool_size: int = 32,
    max_overflow: int = 64,
    *,
    url: str | URL | None = None,
    charset: str = DEFAULT_CHARSET,
    **engine_kwargs: Any,
) -> SQLPool:
    """A pooled SQLAlchemy engine with sessions (seed's argument order, or a URL)."""
    if url is None and _is_url(user):
        url = user
    target = sqlalchemy.make_url(url) if url is not None else mysql_url(
        user, password, host, port, name, charset)
    engine = sqlalchemy.create_engine(
        target, **_engine_options(target, recycle, pool_size, max_overflow, engine_kwargs))
    return SQLPool(engine)


def _is_disconnect(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class ReconnectingDatabase(dataset.Database):
    """``dataset.Database`` whose operations survive lost connections.

    Outside an explicit transaction every operation (1) commits and returns its connection to
    the pool when done, so the next one gets a pre-pinged connection and a fresh view of the
    data, and (2) if it is idempotent (reads, ``update``, ``upsert``, ``delete`` … — not
    ``insert``/``insert_many``/``query``), is retried on a new connection when its connection
    broke under it. Inside ``with db:`` / ``db.begin()`` nothing is retried: the earlier
    statements of the transaction are lost with the connection, so the error propagates.
    """

    def __init__(self, url: str, **kwargs: Any):
        super().__init__(url, **kwargs)
        self._depth = threading.local()

    def run(self, operation: Callable[..., Any], args: tuple = (), kwargs: dict | None = None,
            *, retry: bool = True) -> Any:
        """Run one dataset operation under the rules above."""
        kwargs = kwargs or {}
        if self.in_transaction or getattr(self._depth, "value", 0):
            return operation(*args, **kwargs)
        self._depth.value = 1
        try:
            for attempt in tenacity.Retrying(
                stop=tenacity.stop_after_attempt(RECONNECT_ATTEMPTS if retry else 1),
                wait=tenacity.wait_exponential(multiplier=0.1, max=1),
                retry=tenacity.retry_if_exception(_is_disconnect),
                before_sleep=self._reconnect,
                reraise=True,
            ):
                with attempt:
                    # Rows are read now: the connection goes back to the pool below.
                    result = dataset_adapter.rows_in_memory(operation(*args, **kwargs), self)
                    self._commit_open_transaction()
            return result
        finally:
            self._depth.value = 0
            dataset_adapter.release_connection(self)

    def _commit_open_transaction(self) -> None:
        # dataset commits its own writes, but reads and db.query() leave SQLAlchemy's
        # autobegun transaction open; end it so raw writes persist and snapshots stay fresh.
        connection = dataset_adapter.thread_connection(self)
        if connection is not None and connection.in_transaction():
            connection.commit()

    def _reconnect(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception()
        logger.warning(f"database connection lost ({type(exc.orig).__name__}); reconnecting "
                       f"(attempt {state.attempt_number}/{RECONNECT_ATTEMPTS})")
        dataset_adapter.release_connection(self)

    def create_table(self, table_name: str, primary_id: Any = None, primary_type: Any = None,
                     primary_increment: Any = None) -> ReconnectingTable:
        return _reconnecting(super().create_table(
            table_name, primary_id=primary_id, primary_type=primary_type,
            primary_increment=primary_increment))

    def load_table(self, table_name: str) -> ReconnectingTable:
        return _reconnecting(super().load_table(table_name))

    def query(self, query: Any, **kwargs: Any) -> Iterator[Any]:
        # Not retried: a raw statement may not be idempotent.
        return self.run(super().query, (query,), kwargs, retry=False)

    @property
    def tables(self) -> list[str]:
        return self.run(lambda: super(ReconnectingDatabase, self).tables)


def _operation(method: Callable[..., Any], retry: bool) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: ReconnectingTable, *args: Any, **kwargs: Any) -> Any:
        db: ReconnectingDatabase = dataset_adapter.table_database(self)
        return db.run(method, (self, *args), kwargs, retry=retry)

    return wrapper


class ReconnectingTable(dataset.Table):
    """``dataset.Table`` whose public operations go through :meth:`ReconnectingDatabase.run`."""


def _reconnecting(table: dataset.Table) -> ReconnectingTable:
    """dataset builds and caches its tables itself; each one it hands out gets the retrying
    operations by taking this class (which adds no state)."""
    table.__class__ = ReconnectingTable
    return table  # type: ignore[return-value]


# insert/insert_many may have been applied when the connection broke during the commit.
_NOT_RETRIED = {"insert", "insert_many"}
for _name in ("insert", "insert_ignore", "insert_many", "update", "update_many", "upsert",
              "upsert_many", "delete", "find", "find_one", "count", "distinct", "create_column",
              "create_column_by_example", "drop_column", "drop", "create_index", "has_index"):
    setattr(ReconnectingTable, _name,
            _operation(getattr(dataset.Table, _name), retry=_name not in _NOT_RETRIED))


def _port_like(value: Any) -> bool:
    return isinstance(value, int) or (isinstance(value, str) and value.isdigit())


def get_dataset_pool(
    host: str = "localhost",
    port: int | str = 3306,
    name: str = "flyer",
    user: str = "root",
    password: str | None = "",
    recycle: int = 900,
    pool_size: int = 32,
    *,
    url: str | URL | None = None,
    charset: str = DEFAULT_CHARSET,
    max_overflow: int | None = None,
    **engine_kwargs: Any,
) -> ReconnectingDatabase:
    """A dataset ``Database`` that reconnects and retries (see the module for call styles)."""
    if url is None and _is_url(host):
        url = host
    if url is None:
        if _port_like(user):  # the seed's (user, password, host, port, name) order
            host, port, name, user, password = name, user, password, host, port
            logger.debug("get_dataset_pool: read positional arguments as "
                         "(user, password, host, port, name)")
        url = mysql_url(user, password, host, port, name, charset)
    target = sqlalchemy.make_url(url)
    options = _engine_options(target, recycle, pool_size, max_overflow, engine_kwargs)
    # dataset wants a string URL; render it with the password (it stays in memory only).
    return ReconnectingDatabase(target.render_as_string(hide_password=False),
                                engine_kwargs=options)


__all__ = ["get_mysql_pool", "get_dataset_pool", "mysql_url", "SQLPool", "ReconnectingDatabase"]
