"""Contract of fastflyer/adapters/dataset.py with the installed dataset (SQLite, no server)."""

from __future__ import annotations

from importlib.metadata import version

import dataset
import pytest
from dataset.util import ResultIter
from fastflyer.adapters import dataset as adapter


def changed(what: str) -> str:
    return f"dataset {version('dataset')} {what}: update fastflyer/adapters/dataset.py"


@pytest.fixture
def db(tmp_path):
    database = dataset.Database(f"sqlite:///{tmp_path / 'contract.db'}")
    database["things"].insert({"name": "a"})
    yield database
    database.close()


def test_reads_return_result_iterators_over_a_sqlalchemy_result(db):
    for how, result in {"query()": db.query("SELECT name FROM things"),
                        "Table.find()": db["things"].find()}.items():
        assert isinstance(result, ResultIter), changed(f"{how} no longer returns dataset.util.ResultIter")
        assert getattr(result, "result_proxy", None) is not None and \
            result.result_proxy.returns_rows, changed(
                f"{how} no longer keeps its SQLAlchemy result in ResultIter.result_proxy")
        result.close()


def test_rows_read_into_memory_outlive_the_connection(db):
    result = adapter.rows_in_memory(db.query("SELECT name FROM things"), db)
    adapter.release_connection(db)
    assert isinstance(result, ResultIter)
    assert [dict(row) for row in result] == [{"name": "a"}], changed(
        "changed ResultIter(result, row_type=...) or Database.row_type")
    assert adapter.rows_in_memory([1], db) == [1]


def test_each_thread_has_a_connection_that_can_be_released(db):
    adapter.release_connection(db)
    assert adapter.thread_connection(db) is None, changed(
        "changed Database._release_connection() (the thread's connection is still there)")
    connection = db.executable
    assert adapter.thread_connection(db) is connection, changed(
        "no longer keeps each thread's connection in Database.connections by thread id")
    adapter.release_connection(db)
    assert connection.closed and adapter.thread_connection(db) is None, changed(
        "changed Database._release_connection() (the connection was not closed and forgotten)")


def test_a_table_knows_its_database_and_can_take_a_subclass(db):
    table = db["things"]
    assert adapter.table_database(table) is db, changed("no longer keeps a table's database in Table.db")

    class Sub(dataset.Table):
        pass

    table.__class__ = Sub
    assert db["things"] is table and [r["name"] for r in table.find()] == ["a"], changed(
        "no longer caches tables, or a Table subclass cannot take over a table")


def test_get_table_builds_tables_through_create_and_load_table(tmp_path):
    calls: list[str] = []

    class Recording(dataset.Database):
        def create_table(self, *args, **kwargs):
            calls.append("create_table")
            return super().create_table(*args, **kwargs)

        def load_table(self, *args, **kwargs):
            calls.append("load_table")
            return super().load_table(*args, **kwargs)

    url = f"sqlite:///{tmp_path / 'get.db'}"
    for ensure_schema in (True, False):
        database = Recording(url, ensure_schema=ensure_schema)
        database["things"].insert({"name": "a"}, ensure=True)
        database.close()
    assert calls == ["create_table", "load_table"], changed(
        "no longer builds tables in get_table() through create_table()/load_table()")
