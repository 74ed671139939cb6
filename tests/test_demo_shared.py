"""The demo keeps its items across workers: with 2 workers, items stored with POST are read
back the same by every worker, on new connections. Without a database configured they live in
an embedded SQLite file (shared by the workers of the container); with flyer_db_* in MySQL;
the same code path."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support import DEMO, ENGINES, need_mysql, run_server

SAMPLE_IDS = 1_000_000
ACCESS_PID = re.compile(r"\| ACCESS +\| (\d+) \|.*\"GET /flyer/items/(\d+) ")


def fresh_get(url: str) -> httpx.Response:
    """A GET on a new connection: the kernel hands it to either worker."""
    with httpx.Client(timeout=10) as client:
        return client.get(url, headers={"Connection": "close"})


def store_and_read_back(srv) -> None:
    created = []
    for n in range(20):
        answer = httpx.post(srv.url("/flyer/items"), headers={"Connection": "close"},
                            json={"name": f"shared-{n}-笔", "price": n * 1.5, "tags": ["t", str(n)]})
        assert answer.status_code == 201, answer.text
        created.append(answer.json()["data"])
    ids = [item["id"] for item in created]
    assert len(set(ids)) == 20 and all(i > SAMPLE_IDS for i in ids)

    expected = {item["id"]: item for item in created}
    for n in range(40):
        item = created[n % 20]
        answer = fresh_get(srv.url(f"/flyer/items/{item['id']}"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == expected[item["id"]]

    # Both workers served some of those reads (keep reading until the log shows two pids).
    def readers() -> set[str]:
        return {pid for pid, item_id in ACCESS_PID.findall(srv.log())
                if int(item_id) in expected}

    for n in range(200):
        if len(readers()) >= 2:
            break
        item = created[n % 20]
        assert fresh_get(srv.url(f"/flyer/items/{item['id']}")).json()["data"] == item
    assert len(readers()) == 2, "all reads went to one worker"

    # The list agrees as well, from either worker; an id after the stored ones is a 404. The
    # last page: a MySQL server keeps the items of earlier runs, listed first.
    total = fresh_get(srv.url("/flyer/items?limit=1")).json()["page_info"]["total"]
    for _ in range(6):
        listed = fresh_get(srv.url(f"/flyer/items?limit=100&offset={max(0, total - 100)}")).json()
        mine = [row for row in listed["data"] if row["id"] in expected]
        assert mine == created
    missing = fresh_get(srv.url(f"/flyer/items/{max(ids) + 1000}"))
    assert missing.status_code == 404 and missing.json()["code"] == 404
    # Sample ids are computed, as the benchmark expects.
    assert fresh_get(srv.url("/flyer/items/12345")).json()["data"]["name"] == "item-12345"


@pytest.mark.parametrize("engine", ENGINES)
def test_two_workers_agree_on_sqlite(tmp_path, engine):
    env = {"flyer_workers": "2", "flyer_server": engine, "TMPDIR": str(tmp_path)}
    with run_server(cwd=DEMO, env=env) as srv:
        store_and_read_back(srv)
    assert (tmp_path / "flyer_demo.db").is_file()  # the one file both workers used


def test_two_workers_agree_on_mysql(tmp_path):
    host, port = need_mysql()
    env = {"flyer_workers": "2", "TMPDIR": str(tmp_path), "flyer_db_host": host,
           "flyer_db_port": str(port), "flyer_db_user": "root", "flyer_db_pass": "",
           "flyer_db_name": "test"}
    with run_server(cwd=DEMO, env=env) as srv:
        store_and_read_back(srv)
    assert not (tmp_path / "flyer_demo.db").exists()  # MySQL, not the SQLite fallback
