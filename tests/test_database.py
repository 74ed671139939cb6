"""``fastflyer.database`` against the real MariaDB (and SQLite): the seed's SQLAlchemy and
dataset examples, both call styles, a server-side KILL survived by both pools, fresh reads."""

# ruff: noqa: SIM112 -- the seed's code reads lower-case flyer_* names; kept verbatim
from __future__ import annotations

import threading
import uuid
import warnings
from os import getenv

import pymysql
import pytest
from fastflyer.database import get_dataset_pool, get_mysql_pool
from sqlalchemy import text

from tests.support import need_mysql


@pytest.fixture
def mysql_env(monkeypatch) -> tuple[str, int]:
    host, port = need_mysql()
    for name, value in {"flyer_db_user": "root", "flyer_db_pass": "", "flyer_db_host": host,
                        "flyer_db_port": str(port), "flyer_db_name": "test"}.items():
        monkeypatch.setenv(name, value)
    return host, port


@pytest.fixture
def admin(mysql_env):
    host, port = mysql_env
    conn = pymysql.connect(host=host, port=port, user="root", password="", database="test",
                           autocommit=True)
    yield conn
    conn.close()


def kill(admin, connection_id: int) -> None:
    with admin.cursor() as cursor:
        cursor.execute(f"KILL {int(connection_id)}")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# --- SQLAlchemy ------------------------------------------------------------------------------

@pytest.mark.mysql
def test_seed_sqlalchemy_example_and_kill(admin):
    table_name = unique("t_table_name")

    # 在 项目 settings.py 初始化 DataBase (verbatim)
    class DataBase:
        # 如果启用 MySQL 请取消注释
        db_user = getenv("flyer_db_user", "root")
        db_pass = getenv("flyer_db_pass", "")
        db_host = getenv("flyer_db_host", "localhost")
        db_port = getenv("flyer_db_port", 3306)
        db_name = getenv("flyer_db_name", "flyer")
        db_chartset = getenv("flyer_db_chartset", "utf8")
        db_recycle_rate = int(getenv("flyer_db_recycle_rate", 900))
        db_pool_size = int(getenv("flyer_db_pool_size", 32))
        db_max_overflow = int(getenv("flyer_threads", 64))
        mysql_pool = get_mysql_pool(db_user, db_pass, db_host, db_port,
                                    db_name, db_recycle_rate, db_pool_size,
                                    db_max_overflow)

    # db_tables.py 定义表结构 (verbatim but for the unique table name)
    from sqlalchemy import Boolean, Column, Integer, String, Text

    with warnings.catch_warnings():  # the seed's import path is deprecated in SQLAlchemy 2
        warnings.simplefilter("ignore")
        from sqlalchemy.ext.declarative import declarative_base
        Base = declarative_base()

    class UserCallBackInfo(Base):
        """ 获取用户登记的回调信息
        """
        __tablename__ = table_name  # 自定义表名
        id = Column(Integer, primary_key=True, index=True)
        string_field = Column(String(64),
                              nullable=False,
                              unique=True,
                              index=True,
                              comment="字符串字段")
        int_field = Column(Integer,
                           nullable=False,
                           default=0,
                           comment="整型字段")
        bool_filed = Column(Boolean(), default=True, comment="Bool类型字段")
        comment = Column(Text, nullable=False, comment="Text类型字段")

        # 其他请查询手册
        def to_dict(self):
            return {c.name: getattr(self, c.name)
                    for c in self.__table__.columns}

    pool = DataBase.mysql_pool
    Base.metadata.create_all(pool.engine)
    try:
        with pool.session() as session:
            session.add(UserCallBackInfo(string_field="a", comment="first"))
        with pool.session() as session:
            row = session.query(UserCallBackInfo).filter_by(string_field="a").one()
            assert row.to_dict() == {"id": row.id, "string_field": "a", "int_field": 0,
                                     "bool_filed": True, "comment": "first"}
            connection_id = session.execute(text("SELECT CONNECTION_ID()")).scalar()
        kill(admin, connection_id)
        with pool() as session:  # the next query through the pool just works
            assert session.query(UserCallBackInfo).count() == 1
            assert session.execute(text("SELECT CONNECTION_ID()")).scalar() != connection_id
    finally:
        Base.metadata.drop_all(pool.engine)
        pool.dispose()


def test_mysql_pool_url_and_password_escaping(tmp_path):
    pool = get_mysql_pool(url=f"sqlite:///{tmp_path / 'sa.db'}")
    with pool.session() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
    with pool() as session:
        assert session.execute(text("SELECT x FROM t")).scalar() == 1
    assert get_mysql_pool(f"sqlite:///{tmp_path / 'other.db'}").engine.dialect.name == "sqlite"

    odd = get_mysql_pool("root", "p@ss:w/rd?#", "db.example", "3307", "flyer")
    assert odd.engine.url.password == "p@ss:w/rd?#"
    assert odd.engine.url.port == 3307 and odd.engine.url.host == "db.example"
    assert "p@ss" not in repr(odd) and "p@ss" not in repr(odd.engine)


# --- dataset ---------------------------------------------------------------------------------

@pytest.mark.mysql
def test_seed_dataset_example(mysql_env, capsys):
    table_name = unique("flyer_seed")

    # 初始化 dataset (verbatim: both of the seed's call styles)
    class DataBase:
        # 如果启用 MySQL 请取消注释
        db_user = getenv("flyer_db_user", "root")
        db_pass = getenv("flyer_db_pass", "")
        db_host = getenv("flyer_db_host", "localhost")
        db_port = getenv("flyer_db_port", 3306)
        db_name = getenv("flyer_db_name", "flyer")
        db_chartset = getenv("flyer_db_chartset", "utf8")
        db_recycle_rate = int(getenv("flyer_db_recycle_rate", 900))
        db_pool_size = int(getenv("flyer_db_pool_size", 32))
        data_set = get_dataset_pool(db_host, db_port, db_name, db_user, db_pass,
                                    db_recycle_rate, db_pool_size)
        data_set = get_dataset_pool(db_user, db_pass, db_host, db_port, db_name)
        table = data_set[table_name]

    from dataset import Table

    class DemoClass:
        """
        演示代码
        """

        def __init__(self) -> None:
            # 定义为 Table,让IDE可以自动提示函数
            self.db_set: Table = DataBase.data_set[table_name]

        def upsert(self):
            row = {"key_item": 0, "item1": 1, "item2": 2}
            self.db_set.upsert(row, keys=["key_item"])

        def upsert_many(self):
            row = [{"key_item": 0, "item1": 1, "item2": 2}, {"key_item": 1, "item1": 2, "item2": 3}]
            self.db_set.upsert_many(row, keys=["key_item"])

        def select(self):
            row = {"key_item": 0, "item1": 1, "item2": 2}
            row["_limit"] = 100
            row["_offset"] = 0
            row["order_by"] = "key_item"
            result = self.db_set.find(**row)
            data = [item for item in result]
            print(data)

        def select_one(self):
            row = {"key_item": 0, "item1": 1, "item2": 2}
            row["order_by"] = "key_item"
            result = self.db_set.find_one(**row)
            print(result)

        def delete(self):
            row = {"key": "value"}
            result = self.db_set.delete(**row)
            if result == 0:
                print("未匹配到数据")
            print(result)

    demo = DemoClass()
    try:
        demo.upsert()
        demo.upsert()
        demo.upsert_many()
        assert [dict(r) for r in DataBase.table.find(order_by="key_item")] == [
            {"id": 1, "key_item": 0, "item1": 1, "item2": 2},
            {"id": 2, "key_item": 1, "item1": 2, "item2": 3},
        ]
        demo.select()
        demo.select_one()
        demo.delete()
        out = capsys.readouterr().out.splitlines()
        assert "('key_item', 0)" in out[0] and "('key_item', 1)" not in out[0]
        assert "('item2', 2)" in out[1]
        assert out[2:] == ["未匹配到数据", "False"]
        assert DataBase.table.delete(key_item=1) is True and len(DataBase.table) == 1
    finally:
        DataBase.table.drop()


@pytest.mark.mysql
def test_both_call_styles_and_keywords_mean_the_same(mysql_env):
    host, port = mysql_env
    documented = get_dataset_pool(host, port, "test", "root", "", 900, 4)
    seed_second = get_dataset_pool("root", "", host, str(port), "test")
    keywords = get_dataset_pool(user="root", password="", host=host, port=port, name="test")
    assert documented.url == seed_second.url == keywords.url
    assert "127.0.0.1" in documented.url or host in documented.url
    assert "test" in documented.tables or isinstance(documented.tables, list)


@pytest.mark.mysql
def test_dataset_survives_kill_of_pooled_and_held_connections(admin):
    data_set = get_dataset_pool(url="mysql+pymysql://root:@127.0.0.1:3306/test")
    table = data_set[unique("flyer_kill")]
    try:
        table.insert({"n": 1})
        first = next(iter(data_set.query("SELECT CONNECTION_ID() AS id")))["id"]
        kill(admin, first)  # idle in the pool
        assert table.count() == 1
        assert next(iter(data_set.query("SELECT CONNECTION_ID() AS id")))["id"] != first

        table.insert({"n": 2})  # a fresh, pre-pinged connection from the pool
        held = data_set.executable  # a connection dataset holds for this thread
        second = held.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
        kill(admin, second)
        # the idempotent operation is retried on a new connection
        table.upsert({"n": 3}, keys=["n"])
        assert [r["n"] for r in table.find(order_by="n")] == [1, 2, 3]
        third = data_set.executable.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
        kill(admin, third)
        with pytest.raises(Exception, match="Lost connection|gone away"):
            table.insert({"n": 4})  # not idempotent: never sent twice
        assert table.count() == 3
    finally:
        table.drop()


@pytest.mark.mysql
def test_dataset_reads_are_fresh_across_threads(mysql_env):
    """dataset keeps a connection (and, in SQLAlchemy 2, its open transaction) per thread; ours
    returns it after each operation, so a REPEATABLE READ snapshot never goes stale."""
    data_set = get_dataset_pool("root", "", "127.0.0.1", 3306, "test")
    table = data_set[unique("flyer_fresh")]
    table.insert({"n": 1})
    seen: list[int] = []
    wrote = threading.Event()
    read_once = threading.Event()

    def reader():
        seen.append(table.count())
        read_once.set()
        wrote.wait(10)
        seen.append(table.count())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert read_once.wait(10)
        table.insert({"n": 2})
        wrote.set()
        thread.join(10)
        assert seen == [1, 2]
    finally:
        table.drop()


def test_dataset_sqlite_is_the_embedded_default(tmp_path):
    data_set = get_dataset_pool(f"sqlite:///{tmp_path / 'ds.db'}")
    table = data_set["things"]
    table.upsert_many([{"k": 1, "v": "a"}, {"k": 2, "v": "b"}], keys=["k"])
    table.upsert({"k": 1, "v": "c"}, keys=["k"])
    assert [(r["k"], r["v"]) for r in table.find(order_by="k")] == [(1, "c"), (2, "b")]
    with data_set as tx:  # explicit transactions still work
        tx["things"].insert({"k": 3, "v": "d"})
    assert data_set["things"].count() == 3
    assert get_dataset_pool(url="sqlite://")["mem"].insert({"x": 1}) == 1
    raw = get_dataset_pool(f"sqlite:///{tmp_path / 'raw.db'}")
    assert list(raw.query("CREATE TABLE r (x INTEGER)")) == []
    raw.query("INSERT INTO r VALUES (:x)", x=7)  # raw writes are committed
    assert [row["x"] for row in get_dataset_pool(f"sqlite:///{tmp_path / 'raw.db'}")
            .query("SELECT x FROM r")] == [7]


# --- the demo's users app stores through dataset -----------------------------------------------

def exercise_users_app(server) -> None:
    import httpx

    with httpx.Client(base_url=server.url("/flyer")) as client:
        made = [client.post("/users", json={"name": n, "email": f"{n}@example.com"})
                for n in (unique("ann"), unique("bob"))]
        assert [r.status_code for r in made] == [201, 201]
        ann, bob = (r.json()["data"] for r in made)
        assert client.get(f"/users/{ann['id']}").json()["data"] == ann
        assert client.post(f"/users/{ann['id']}/follow", json={"target_id": bob["id"]}).status_code == 200
        assert client.post(f"/users/{ann['id']}/follow", json={"target_id": bob["id"]}).status_code == 200
        assert client.get(f"/users/{bob['id']}/followers").json()["data"] == [ann["id"]]
        page = client.get("/users", params={"offset": 0, "limit": 100}).json()
        assert page["page_info"]["total"] >= 2
        assert client.delete(f"/users/{ann['id']}").status_code == 200
        assert client.get(f"/users/{ann['id']}").status_code == 404
        assert client.get(f"/users/{bob['id']}/followers").json()["data"] == []
        assert client.delete(f"/users/{bob['id']}").status_code == 200


def test_demo_users_on_sqlite_shared_by_two_workers(tmp_path):
    from tests.support import run_server

    env = {"flyer_workers": "2", "flyer_db_url": f"sqlite:///{tmp_path / 'demo.db'}"}
    with run_server("serve", env=env) as server:
        exercise_users_app(server)
    assert (tmp_path / "demo.db").exists()


@pytest.mark.mysql
def test_demo_users_on_mysql(mysql_env):
    from tests.support import run_server

    host, port = mysql_env
    env = {"flyer_workers": "2", "flyer_db_host": host, "flyer_db_port": str(port),
           "flyer_db_name": "test", "flyer_db_user": "root"}
    with run_server("serve", env=env) as server:
        exercise_users_app(server)
        log = server.log()
    assert "Traceback" not in log
