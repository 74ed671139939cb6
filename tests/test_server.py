"""`fastflyer serve` end to end on a loopback port, under both engines (``flyer_server``):
gunicorn with uvicorn workers (one process at one worker) and granian."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests.projects import BROKEN_SUBAPP, SEED_STYLE, write_project
from tests.support import (
    DEMO,
    base_env,
    child_pids,
    each_engine,
    fastflyer_exe,
    free_port,
    need,
    run_cli,
    run_server,
)


def worker_pids(master_pid: int) -> list[int]:
    return sorted(child_pids(master_pid))


@each_engine
def test_seed_style_project_end_to_end(tmp_path, engine):
    write_project(tmp_path, SEED_STYLE)
    with run_server(cwd=tmp_path, env={"flyer_workers": "2", "flyer_server": engine}) as srv:
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


@each_engine
def test_demo_project_routes(engine):
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_server": engine}) as srv:
        r = httpx.get(srv.url("/flyer/items/5"))
        assert r.status_code == 200 and r.json()["data"]["id"] == 5
        assert httpx.get(srv.url("/flyer/items/0")).status_code == 422
        r = httpx.post(srv.url("/flyer/users"), json={"name": "Ann", "email": "ann@example.com"})
        assert r.status_code == 201, r.text
        user_id = r.json()["data"]["id"]
        assert httpx.get(srv.url(f"/flyer/users/{user_id}")).json()["data"]["name"] == "Ann"
        assert httpx.get(srv.url("/flyer/users/999999")).status_code == 404
        assert httpx.get(srv.url("/flyer/items/demo?id=9")).json()["data"] == {"itemId": 9}


@each_engine
def test_auto_workers_follow_cpu_affinity(engine):
    need(shutil.which("taskset") is not None, "taskset is not installed")
    port = free_port()
    env = base_env(flyer_host="127.0.0.1", flyer_port=str(port), flyer_server=engine)
    proc = subprocess.Popen(["taskset", "-c", "0", fastflyer_exe(), "serve"], cwd=DEMO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: _answers(port))
        # gunicorn engine: the process itself serves, no master; granian always has its main
        # process beside the workers.
        assert len(worker_pids(proc.pid)) == (0 if engine == "gunicorn" else 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0]
    model = "one process, no master" if engine == "gunicorn" else "granian main process + workers"
    assert f"1 worker(s) (decided by CPU affinity (1 CPUs)) in {model}" in out, out


@each_engine
def test_explicit_worker_count(engine):
    with run_server(cwd=DEMO, env={"flyer_workers": "3", "flyer_server": engine}) as srv:
        _wait_for(lambda: len(worker_pids(srv.proc.pid)) == 3)
        assert "3 worker(s) (decided by flyer_workers)" in srv.log()


def assert_console_time_order(stamped, what, overlap_ms=100):
    """Console lines come in time order, give or take ``overlap_ms``: each line is stamped
    before it is written and the processes write side by side, so lines stamped within a few
    milliseconds of each other may swap; buffered or queued output (seconds late) may not."""
    latest = None
    for stamp in stamped:
        at = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
        if latest is not None:
            assert at >= latest - datetime.timedelta(milliseconds=overlap_ms), (what, stamped)
        latest = max(latest or at, at)


TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| [A-Z]+ +\| \d+ \| ")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_console_lines_share_one_format_and_time_order(tmp_path, log_format):
    """Dev mode (uvicorn's reloader lines beside ours) and a master with workers: one format,
    timestamps in order, and "serving on" only after the app's start-up."""
    write_project(tmp_path, SEED_STYLE)
    for args, env in ((("dev",), {}), (("serve",), {"flyer_workers": "3"})):
        with run_server(*args, cwd=tmp_path, env={"flyer_log_format": log_format, **env}) as srv:
            time.sleep(0.5)
        lines = [line for line in srv.log().splitlines() if line.strip()]
        if log_format == "json":
            records = [json.loads(line) for line in lines]  # every line is JSON
            stamped = [rec["time"][:23].replace("T", " ") for rec in records]
        else:
            assert all(TEXT_LINE.match(line) for line in lines), lines
            stamped = [line[:23] for line in lines]
        assert_console_time_order(stamped, args)
        text = "\n".join(lines)
        assert "Uvicorn running on" not in text
        assert text.index("Application startup complete") < text.index("FastFlyer serving on")


@each_engine
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"flyer_port": "abc"}, "flyer_port='abc'"),
        ({"flyer_base_url": "no-slash"}, "flyer_base_url='no-slash'"),
        ({"flyer_ssl_certfile": "/no/such/cert.pem", "flyer_ssl_keyfile": __file__},
         "flyer_ssl_certfile='/no/such/cert.pem': no such file"),
        ({"flyer_ssl_keyfile": __file__}, "needs flyer_ssl_certfile too"),
        ({"flyer_http": "3"}, "flyer_http='3'"),
    ],
)
def test_bad_setting_exits_2_with_one_line(env, expected, engine):
    result = run_cli("serve", env={**env, "flyer_server": engine}, timeout=30)
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert "Traceback" not in result.stderr


@each_engine
def test_broken_sub_app_stops_start_up(tmp_path, engine):
    write_project(tmp_path, BROKEN_SUBAPP)
    result = run_cli("serve", cwd=tmp_path, env={"flyer_port": str(free_port()),
                                                  "flyer_workers": "2", "flyer_server": engine},
                     timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "sub-app 'broken' failed to load: ModuleNotFoundError" in output
    assert output.count("Traceback") == 0
    # Stopped in the master (main process) before any worker, no crash loop of workers.
    assert "Booting worker" not in output and "Spawning worker" not in output


@pytest.mark.parametrize(("engine", "workers"), [("gunicorn", "1"), ("gunicorn", "2"),
                                                 ("granian", "1"), ("granian", "2")],
                         ids=["single-process", "gunicorn", "granian-1", "granian-2"])
def test_sigterm_finishes_the_in_flight_request(engine, workers):
    env = {"flyer_workers": workers, "flyer_graceful_timeout": "10", "flyer_server": engine}
    with run_server(cwd=DEMO, env=env) as srv:
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


@each_engine
def test_worker_connections_limit_holds(engine):
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_worker_connections": "2",
                                   "flyer_access_log": "0", "flyer_server": engine}) as srv:
        statuses: list[int] = []
        took: list[float] = []

        def call():
            started = time.monotonic()
            try:
                statuses.append(httpx.get(srv.url("/flyer/items/slow?seconds=1.5"),
                                          timeout=15).status_code)
            except httpx.HTTPError:
                statuses.append(-1)
            took.append(time.monotonic() - started)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if engine == "gunicorn":
        # Exactly flyer_worker_connections requests are admitted at once; the rest get 503.
        assert statuses.count(200) == 2 and statuses.count(503) == 4, statuses
    else:
        # granian's backpressure: two connections at a time, the others wait in the backlog
        # for a slot and are served in turn (three rounds of 1.5 s).
        assert statuses == [200] * 6, statuses
        assert max(took) >= 4.0, took


@each_engine
def test_access_log_redacts_and_skips_health_checks(engine):
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_server": engine}) as srv:
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


@each_engine
def test_access_log_off_and_to_file(tmp_path, engine):
    logfile = tmp_path / "access.log"
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_access_logfile": str(logfile),
                                   "flyer_server": engine}) as srv:
        httpx.get(srv.url("/flyer/items/1"))
    assert "GET /flyer/items/1 HTTP/1.1\" 200" in logfile.read_text()
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_access_log": "0",
                                   "flyer_server": engine}) as srv:
        httpx.get(srv.url("/flyer/items/1"))
        time.sleep(0.3)
        assert "ACCESS" not in srv.log()


@each_engine
def test_json_logs_carry_the_request_id(tmp_path, engine):
    import json

    write_project(tmp_path, SEED_STYLE)
    with run_server(cwd=tmp_path, env={"flyer_workers": "1", "flyer_log_format": "json",
                                       "flyer_server": engine}) as srv:
        httpx.get(srv.url("/flyer/demo?id=1"), headers={"X-Request-ID": "json-rid-1"})
        time.sleep(0.5)
        lines = [line for line in srv.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    mine = [r for r in records if r.get("request_id") == "json-rid-1"]
    assert {r["message"] for r in mine} >= {"demo called with 1", "GET /flyer/demo?id=1 200"}
    access = next(r for r in mine if r["logger"] == "fastflyer.access")
    assert access["route"] == "/flyer/demo" and access["status"] == 200


@each_engine
def test_unwritable_log_path_is_a_warning(tmp_path, engine):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_log_path": str(blocker / "logs"),
                                   "flyer_server": engine}) as srv:
        assert httpx.get(srv.url("/flyer/items/1")).status_code == 200
        assert "is not writable" in srv.log()


@each_engine
def test_file_logs_written_where_configured(tmp_path, engine):
    logs = tmp_path / "logs"
    with run_server(cwd=DEMO, env={"flyer_workers": "1", "flyer_log_path": str(logs),
                                   "flyer_file_log_level": "debug", "flyer_server": engine}) as srv:
        httpx.get(srv.url("/flyer/items/1"))
    # The engine's own start-up line, routed through loguru into the file.
    started = "Started server process" if engine == "gunicorn" else "Started worker-1"
    assert started in (logs / "fastflyer.log").read_text()


@each_engine
def test_dev_mode_reloads_an_edited_router(tmp_path, engine):
    write_project(tmp_path, SEED_STYLE)
    with run_server("dev", cwd=tmp_path, env={"flyer_server": engine}) as srv:
        assert httpx.get(srv.url("/flyer/demo?id=1")).json()["data"] == {"itemId": 1}
        module = tmp_path / "app" / "shop" / "module.py"
        module.write_text('def lookup(item_id):\n    return {"itemId": item_id, "edited": True}\n')
        _wait_for(lambda: httpx.get(srv.url("/flyer/demo?id=1")).json().get("data", {})
                  .get("edited") is True, timeout=20)


@each_engine
def test_healthcheck_command(engine):
    port = free_port()
    env = {"flyer_port": str(port), "flyer_server": engine}
    assert run_cli("healthcheck", env=env).returncode == 1
    with run_server(cwd=DEMO, port=port, env={"flyer_workers": "1", "flyer_server": engine}):
        assert run_cli("healthcheck", env=env).returncode == 0


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
    from fastflyer.observability.context import request_id_var, trace_id_var
    from fastflyer.observability.logs import configure_logging, logger

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
