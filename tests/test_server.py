"""`fastflyer serve` end to end: a real gunicorn with uvicorn workers on a loopback port."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests.projects import BROKEN_SUBAPP, SEED_STYLE, write_project
from tests.support import DEMO, base_env, fastflyer_exe, free_port, need, run_cli, run_server


def worker_pids(master_pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master_pid)],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_seed_style_project_end_to_end(tmp_path):
    write_project(tmp_path, SEED_STYLE)
    with run_server(cwd=tmp_path, env={"flyer_workers": "2"}) as srv:
        r = httpx.get(srv.url("/flyer/demo"), params={"id": 3})
        assert r.json() == {"code": 200, "message": "success", "data": {"itemId": 3}}
        for path in ("/health_check", "/health_check/async", "/flyer/health_check"):
            assert httpx.get(srv.url(path)).json() == {"code": 200, "message": "success"}
        for path in ("/flyer/docs", "/flyer/redoc"):
            html = httpx.get(srv.url(path)).text
            assert "https://" not in html and "http://" not in html
        assert httpx.get(srv.url("/flyer/openapi.json")).json()["info"]["title"] == "Shop Service"
        r = httpx.get(srv.url("/flyer/nope"))
        assert r.status_code == 404 and r.json()["code"] == 404
        r = httpx.get(srv.url("/flyer/demo"), params={"id": "x"})
        assert r.status_code == 422 and r.json()["code"] == 422
        r = httpx.get(srv.url("/flyer/boom"), headers={"X-Request-ID": "boom-1"})
        assert r.status_code == 500
        assert r.json() == {"code": 500, "message": "Internal Server Error", "data": None,
                            "request_id": "boom-1"}
        time.sleep(0.5)
        log = srv.log()
    # The traceback is in the log, tied to the request id; never in the response.
    assert "secret-internal-detail" in log and "boom-1" in log
    assert "a warning through logger.warn" in log


def test_demo_project_routes():
    with run_server(cwd=DEMO, env={"flyer_workers": "1"}) as srv:
        r = httpx.get(srv.url("/flyer/items/5"))
        assert r.status_code == 200 and r.json()["data"]["id"] == 5
        assert httpx.get(srv.url("/flyer/items/0")).status_code == 422
        r = httpx.post(srv.url("/flyer/users"), json={"name": "Ann", "email": "ann@example.com"})
        assert r.status_code == 201, r.text
        user_id = r.json()["data"]["id"]
        assert httpx.get(srv.url(f"/flyer/users/{user_id}")).json()["data"]["name"] == "Ann"
        assert httpx.get(srv.url("/flyer/users/999999")).status_code == 404
        assert httpx.get(srv.url("/flyer/items/demo?id=9")).json()["data"] == {"itemId": 9}


def test_auto_workers_follow_cpu_affinity():
    need(shutil.which("taskset") is not None, "taskset is not installed")
    port = free_port()
    env = base_env(flyer_host="127.0.0.1", flyer_port=str(port))
    proc = subprocess.Popen(["taskset", "-c", "0", fastflyer_exe(), "serve"], cwd=DEMO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: _answers(port))
        assert len(worker_pids(proc.pid)) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0]
    assert "1 worker(s) (decided by CPU affinity (1 CPUs))" in out, out


def test_explicit_worker_count():
    with run_server(cwd=DEMO, env={"flyer_workers": "3"}) as srv:
        _wait_for(lambda: len(worker_pids(srv.proc.pid)) == 3)
        assert "3 worker(s) (decided by flyer_workers)" in srv.log()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"flyer_port": "abc"}, "flyer_port='abc'"),
        ({"flyer_base_url": "no-slash"}, "flyer_base_url='no-slash'"),
    ],
)
def test_bad_setting_exits_2_with_one_line(env, expected):
    result = run_cli("serve", env=env, timeout=30)
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert "Traceback" not in result.stderr


def test_broken_sub_app_stops_start_up(tmp_path):
    write_project(tmp_path, BROKEN_SUBAPP)
    result = run_cli("serve", cwd=tmp_path, env={"flyer_port": str(free_port())}, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "sub-app 'broken' failed to load: ModuleNotFoundError" in output
    assert output.count("Traceback") == 0
    assert "Booting worker" not in output  # stopped in the master, no crash loop of workers


def test_sigterm_finishes_the_in_flight_request():
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_graceful_timeout": "10"}) as srv:
        result: dict = {}

        def slow_call():
            try:
                result["response"] = httpx.get(srv.url("/flyer/items/slow?seconds=2"), timeout=15)
            except httpx.HTTPError as exc:
                result["error"] = exc

        caller = threading.Thread(target=slow_call)
        caller.start()
        time.sleep(0.7)
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        caller.join(15)
        code = srv.proc.wait(timeout=15)
        elapsed = time.monotonic() - started
    assert "error" not in result, result
    assert result["response"].status_code == 200
    assert result["response"].json()["data"] == {"slept": 2.0}
    assert code == 0
    assert elapsed < 10


def test_worker_connections_limit_answers_503():
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_worker_connections": "2",
                                   "flyer_access_log": "0"}) as srv:
        statuses: list[int] = []

        def call():
            try:
                statuses.append(httpx.get(srv.url("/flyer/items/slow?seconds=1.5"),
                                          timeout=10).status_code)
            except httpx.HTTPError:
                statuses.append(-1)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    # Exactly flyer_worker_connections requests are admitted at once; the rest get 503.
    assert statuses.count(200) == 2 and statuses.count(503) == 4, statuses


def test_access_log_redacts_and_skips_health_checks():
    with run_server(cwd=DEMO, env={"flyer_workers": "1"}) as srv:
        httpx.get(srv.url("/health_check"))
        httpx.get(srv.url("/flyer/items/7?access_token=TOPSECRET&page=2"),
                  headers={"Authorization": "Bearer HEADERSECRET", "Cookie": "sid=COOKIESECRET",
                           "X-Request-ID": "rid-777"})
        time.sleep(0.5)
        log = srv.log()
    access = [line for line in log.splitlines() if "ACCESS" in line]
    assert len(access) == 1, access
    assert "rid-777" in access[0] and "/flyer/items/7?access_token=***&page=2" in access[0]
    assert " 200 " in access[0]
    for secret in ("TOPSECRET", "HEADERSECRET", "COOKIESECRET"):
        assert secret not in log


def test_access_log_off_and_to_file(tmp_path):
    logfile = tmp_path / "access.log"
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_access_logfile": str(logfile)}) as srv:
        httpx.get(srv.url("/flyer/items/1"))
    assert "GET /flyer/items/1 HTTP/1.1\" 200" in logfile.read_text()
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_access_log": "0"}) as srv:
        httpx.get(srv.url("/flyer/items/1"))
        time.sleep(0.3)
        assert "ACCESS" not in srv.log()


def test_json_logs_carry_the_request_id(tmp_path):
    import json

    write_project(tmp_path, SEED_STYLE)
    with run_server(cwd=tmp_path, env={"flyer_workers": "1", "flyer_log_format": "json"}) as srv:
        httpx.get(srv.url("/flyer/demo?id=1"), headers={"X-Request-ID": "json-rid-1"})
        time.sleep(0.5)
        lines = [line for line in srv.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    mine = [r for r in records if r.get("request_id") == "json-rid-1"]
    assert {r["message"] for r in mine} >= {"demo called with 1", "GET /flyer/demo?id=1 200"}
    access = next(r for r in mine if r["logger"] == "fastflyer.access")
    assert access["route"] == "/flyer/demo" and access["status"] == 200


def test_unwritable_log_path_is_a_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_log_path": str(blocker / "logs")}) as srv:
        assert httpx.get(srv.url("/flyer/items/1")).status_code == 200
        assert "is not writable" in srv.log()


def test_file_logs_written_where_configured(tmp_path):
    logs = tmp_path / "logs"
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_log_path": str(logs),
                                   "flyer_file_log_level": "debug"}) as srv:
        httpx.get(srv.url("/flyer/items/1"))
    assert "Booting worker" in (logs / "fastflyer.log").read_text()


def test_dev_mode_reloads_an_edited_router(tmp_path):
    write_project(tmp_path, SEED_STYLE)
    with run_server("dev", cwd=tmp_path) as srv:
        assert httpx.get(srv.url("/flyer/demo?id=1")).json()["data"] == {"itemId": 1}
        module = tmp_path / "app" / "shop" / "module.py"
        module.write_text('def lookup(item_id):\n    return {"itemId": item_id, "edited": True}\n')
        _wait_for(lambda: httpx.get(srv.url("/flyer/demo?id=1")).json().get("data", {})
                  .get("edited") is True, timeout=20)


def test_healthcheck_command():
    port = free_port()
    assert run_cli("healthcheck", env={"flyer_port": str(port)}).returncode == 1
    with run_server(cwd=DEMO, port=port, env={"flyer_workers": "1"}):
        assert run_cli("healthcheck", env={"flyer_port": str(port)}).returncode == 0


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health_check", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError("condition not met in time")



def test_text_log_lines_carry_the_trace_id_only_when_traced(tmp_path):
    """In-process: the text format shows `<request id> trace=<trace id>` inside a traced
    request, and nothing more outside one."""
    from fastflyer.context import request_id_var, trace_id_var
    from fastflyer.logs import configure_logging, logger

    configure_logging(log_path=tmp_path)
    try:
        logger.info("outside any request")
        request_id_var.set("rid-7")
        trace_id_var.set("0af7651916cd43dd8448eb211c80319c")
        logger.info("inside a traced request")
    finally:
        request_id_var.set(None)
        trace_id_var.set(None)
        configure_logging()
    lines = (tmp_path / "fastflyer.log").read_text().splitlines()
    outside = next(line for line in lines if "outside any request" in line)
    inside = next(line for line in lines if "inside a traced request" in line)
    assert "| - |" in outside and "trace=" not in outside
    assert "| rid-7 trace=0af7651916cd43dd8448eb211c80319c |" in inside
