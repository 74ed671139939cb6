"""No secret and no internal detail leaves the process: every password/token variable set to
a marker, a real `fastflyer serve` driven through start-up, requests carrying credentials,
errors (own, database, outbound) and outbound calls; the marker is in no log line and no
response, and unhandled errors answer only a generic message and the request id."""

from __future__ import annotations

import base64
import json
import re
import time
from urllib.parse import quote

import httpx
import pytest

from tests.projects import write_project
from tests.sdk_helpers.http_server import TestServer
from tests.support import need_mysql, need_redis, run_cli, run_server

MARKER = "Mark3r-s3cr3t-7f1d"
FORMS = (MARKER, quote(MARKER), base64.b64encode(MARKER.encode()).decode()[:16],
         *(base64.b64encode(f"{user}:{MARKER}".encode()).decode() for user in ("admin", "svc")))

SECRET_ENV = {
    "flyer_redis_host": "127.0.0.1",
    "flyer_redis_pass": MARKER,
    "flyer_db_host": "127.0.0.1",
    "flyer_db_user": "root",
    "flyer_db_pass": MARKER,
    "flyer_db_name": "test",
    "flyer_db_url": f"mysql+pymysql://root:{MARKER}@127.0.0.1:3306/test",
    "flyer_auth_enable": "1",
    "flyer_auth_user": "admin",
    "flyer_auth_pass": MARKER,
    "flyer_rainbow_token": MARKER,  # an out-of-scope integration's variable: named, not shown
    "flyer_console_log_level": "debug",
}

PROJECT = {
    "app/leaky/__init__.py": "from .router import router\n",
    "app/leaky/router.py": """
        import os

        from sqlalchemy import text

        from fastflyer import Client, APIRouter
        from fastflyer.database import get_mysql_pool
        from fastflyer.settings import get_settings

        router = APIRouter()
        UPSTREAM = os.environ["TEST_UPSTREAM"]


        @router.get("/call-out")
        def call_out():
            secret = get_settings().auth_pass.get_secret_value()
            with Client(stop_max_attempt_number=1) as client:
                r = client.get(f"http://svc:{secret}@{UPSTREAM}/echo",
                               params={"token": secret, "page": 1},
                               headers={"Authorization": f"Bearer {secret}"},
                               cookies={"session": secret})
            return {"code": 200, "data": r.status_code}


        @router.get("/call-out-fails")
        def call_out_fails():
            secret = get_settings().auth_pass.get_secret_value()
            with Client(stop_max_attempt_number=2, wait_exponential_multiplier=0.01) as client:
                client.get(f"http://svc:{secret}@127.0.0.1:9/x", params={"api_key": secret})


        @router.get("/database")
        def database():
            pool = get_mysql_pool(url=get_settings().db_url.get_secret_value())
            with pool.engine.connect() as connection:
                connection.execute(text("SELECT 1"))


        @router.get("/crash")
        async def crash():
            raise RuntimeError("internal detail at /srv/service/module.py line 42")


        @router.get("/typed")
        async def typed(token: int):
            return {"code": 200, "data": token}
    """,
}


@pytest.mark.redis
@pytest.mark.mysql
def test_marker_in_no_log_line_and_no_response(tmp_path):
    need_redis()
    need_mysql()
    write_project(tmp_path, PROJECT)
    auth = ("admin", MARKER)
    with TestServer() as upstream:
        env = {**SECRET_ENV, "flyer_workers": "1",
               "TEST_UPSTREAM": upstream.base.removeprefix("http://")}
        with run_server(cwd=tmp_path, env=env) as srv, httpx.Client(timeout=30) as client:
            sent = {"params": {"token": MARKER, "password": MARKER, "access_token": MARKER},
                    "headers": {"Cookie": f"session={MARKER}", "X-Api-Key": MARKER}}
            answers = {
                "crash": client.get(srv.url("/flyer/crash"), auth=auth, **sent),
                "database": client.get(srv.url("/flyer/database"), auth=auth, **sent),
                "call-out-fails": client.get(srv.url("/flyer/call-out-fails"), auth=auth, **sent),
                "call-out": client.get(srv.url("/flyer/call-out"), auth=auth, **sent),
                "typed": client.get(srv.url("/flyer/typed"), auth=auth, params={"token": MARKER}),
                "wrong-password": client.get(srv.url("/flyer/crash"),
                                             auth=("admin", MARKER + "x"), **sent),
                "wrong-scheme": client.get(srv.url("/flyer/crash"),
                                           headers={"Authorization": f"Bearer {MARKER}"}),
                "ready": client.get(srv.url("/health_check/ready"), **sent),
                "docs": client.get(srv.url("/flyer/openapi.json"), auth=auth),
            }
            time.sleep(1.0)  # let the access log thread write
        log = srv.log()
        forwarded = upstream.recorder.for_path("/echo")

    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {"crash": 500, "database": 503, "call-out-fails": 502, "call-out": 200,
                        "typed": 422, "wrong-password": 401, "wrong-scheme": 401, "ready": 503,
                        "docs": 200}
    # The outbound call really carried the credentials (so the log had a chance to leak them)
    # and the inbound request id.
    assert forwarded and MARKER in forwarded[0].path and MARKER in forwarded[0].headers["Cookie"]
    assert forwarded[0].headers["X-Request-ID"] == answers["call-out"].headers["x-request-id"]

    for name, response in answers.items():
        raw = "\n".join(f"{k}: {v}" for k, v in response.headers.items()) + "\n" + response.text
        for form in FORMS:
            assert form not in raw, f"{name} response leaks the secret"
    expected = {"crash": (500, "Internal Server Error"), "database": (503, "Database unavailable"),
                "call-out-fails": (605, "Third-party service unreachable")}
    for name, (code, message) in expected.items():
        rid = answers[name].headers["x-request-id"]
        assert answers[name].json() == {"code": code, "message": message, "data": None,
                                        "request_id": rid}
    # The wrong database password makes it unavailable (a Redis without a password may accept
    # any AUTH, depending on its version); only the dependency's name is told.
    assert answers["ready"].json()["message"] in ("unavailable: database",
                                                  "unavailable: redis, database")

    for form in FORMS:
        assert form not in log, f"log leaks {form!r}:\n" + "\n".join(
            line for line in log.splitlines() if form in line)
    # The log is not empty of what matters: errors with their request id, redacted access lines.
    assert "internal detail at /srv/service/module.py" in log
    assert answers["database"].headers["x-request-id"] in log
    assert "token=***" in log and "flyer_rainbow_token" in log


def test_config_dump_masks_every_secret():
    result = run_cli("config", env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert MARKER not in output
    data = json.loads(result.stdout)
    for name in ("redis_pass", "db_pass", "auth_pass"):
        assert re.fullmatch(r"\*+", data[name]), (name, data[name])
    # The URL keeps which database it is; only its password is hidden.
    assert data["db_url"] == "mysql+pymysql://root:***@127.0.0.1:3306/test"
