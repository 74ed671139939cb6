"""SDK errors that escape a route reach the client as the seed's 60x codes (HTTP 502/504) or
as 503 for Redis or the database, with one log line and no traceback anywhere."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.projects import write_project
from tests.support import free_port, run_server


def closed_port() -> int:
    return free_port()  # nothing listens there


@pytest.fixture
def silent_server():
    """A socket that accepts connections and never answers: reads time out."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def project(tmp_path, down: int, silent: int):
    return write_project(tmp_path, {
        "app/__init__.py": "",
        "app/calls/__init__.py": f"""
            from fastflyer import AsyncClient, Client, APIRouter
            from fastflyer.cache import get_redis_pool
            from fastflyer.database import get_mysql_pool
            from sqlalchemy import text

            router = APIRouter()
            NO_RETRY = {{"stop_max_attempt_number": 1}}


            @router.get("/network")
            def network():
                return Client(**NO_RETRY).get("http://user:pw@127.0.0.1:{down}/x?token=s3cret")


            @router.get("/timeout")
            async def timeout():
                async with AsyncClient(timeout=0.5, **NO_RETRY) as client:
                    return (await client.get("http://127.0.0.1:{silent}/slow")).json()


            @router.get("/redis")
            def redis_down():
                return get_redis_pool("127.0.0.1", {down}, retry_on_timeout=False).get("k")


            @router.get("/database")
            def database_down():
                pool = get_mysql_pool("u", "pw", "127.0.0.1", {down}, "d")
                with pool.session() as session:
                    return session.execute(text("SELECT 1")).scalar()
        """,
    })


def test_sdk_errors_become_enveloped_gateway_answers(tmp_path, silent_server):
    root = project(tmp_path, closed_port(), silent_server)
    cases = {
        "/flyer/network": (502, 605), "/flyer/timeout": (504, 604),
        "/flyer/redis": (503, 503), "/flyer/database": (503, 503),
    }
    with run_server(cwd=root, env={"flyer_workers": "1", "flyer_access_log": "0"}) as srv:
        for path, (http_status, code) in cases.items():
            before = len(srv.log().splitlines())
            r = httpx.get(srv.url(path), headers={"X-Request-ID": f"rid{code}{http_status}"},
                          timeout=20)
            time.sleep(0.3)
            lines = srv.log().splitlines()[before:]
            assert r.status_code == http_status, (path, r.text)
            body = r.json()
            assert body["code"] == code and body["request_id"] == f"rid{code}{http_status}", body
            for leak in ("Traceback", "127.0.0.1", "s3cret", "pw", "File "):
                assert leak not in r.text, (path, leak)
            assert len(lines) == 1, (path, lines)  # one line, with the request id
            assert f"rid{code}{http_status}" in lines[0]
            assert "Traceback" not in lines[0] and "s3cret" not in lines[0]
            assert ":pw@" not in lines[0]
        log = srv.log()
    assert "Traceback" not in log
    assert "GET http://127.0.0.1:" in log  # the client's line names method and upstream URL
