"""The granian engine (`flyer_server=granian`) on real processes: HTTP/2 (h2c with prior
knowledge, TLS with ALPN), TLS on both engines, SIGTERM with 40 requests in flight, a killed
worker respawned, the settings granian cannot honour refused at start-up, and what FastFlyer
adds to granian (thread limit, heartbeat, trusted proxies, keep-alive, log routing)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.projects import write_project
from tests.support import (
    ENGINES,
    child_pids,
    each_engine,
    need,
    run_cli,
    run_server,
    self_signed_cert,
)

GRANIAN = {"flyer_server": "granian"}

PROJECT = {
    "app/probe/__init__.py": "from .router import router\n",
    "app/probe/router.py": """
        import asyncio
        import os
        import threading
        import time

        from starlette.requests import Request

        from fastflyer import APIRouter

        router = APIRouter()


        @router.get("/slow")
        async def slow(seconds: float = 1.0):
            await asyncio.sleep(seconds)
            return {"code": 200, "data": seconds}


        @router.get("/sync")
        def sync(seconds: float = 0.5):
            time.sleep(seconds)
            return {"code": 200, "data": threading.get_ident()}


        @router.get("/block")
        async def block(seconds: float = 5.0):
            time.sleep(seconds)  # blocks this worker's event loop
            return {"code": 200}


        @router.get("/whoami")
        async def whoami(request: Request):
            return {"code": 200, "data": {
                "pid": os.getpid(), "client": request.client.host, "scheme": request.url.scheme,
                "http_version": request.scope["http_version"]}}
    """,
}


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path / "project", PROJECT)


def need_h2() -> None:
    try:
        import h2  # noqa: F401
    except ImportError:
        need(False, "the h2 package is not installed (the test extra has it)")


# --- HTTP/2 and TLS -------------------------------------------------------------------------


def test_h2c_with_prior_knowledge(project):
    need_h2()
    with run_server(cwd=project, env={**GRANIAN, "flyer_workers": "1"}) as srv, \
            httpx.Client(http1=False, http2=True, timeout=10) as client:
        response = client.get(srv.url("/flyer/whoami"), headers={"X-Request-ID": "h2c-1"})
        assert response.http_version == "HTTP/2"
        assert response.json()["data"]["http_version"] == "2"
        assert response.headers["x-request-id"] == "h2c-1"
        assert client.get(srv.url("/health_check")).json() == {"code": 200, "message": "success"}
        # Many streams on one connection at once (asyncio: httpcore's sync HTTP/2 connection
        # shared by threads can interleave its writes into a protocol error under load).
        async def many_streams() -> list[tuple[int, str]]:
            async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as multiplexed:
                answers = await asyncio.gather(*(
                    multiplexed.get(srv.url("/flyer/slow?seconds=0.2")) for _ in range(20)))
            return [(r.status_code, r.http_version) for r in answers]

        started = time.monotonic()
        assert asyncio.run(many_streams()) == [(200, "HTTP/2")] * 20
        assert time.monotonic() - started < 0.2 * 20 / 2  # concurrent, not one after another
        error = client.get(srv.url("/flyer/nope"))
        assert error.status_code == 404 and error.json()["code"] == 404
        # auto: HTTP/1.1 clients still served on the same port.
        assert httpx.get(srv.url("/flyer/whoami")).json()["data"]["http_version"] == "1.1"


def test_http_2_only_and_1_only(project):
    need_h2()
    env = {**GRANIAN, "flyer_workers": "1"}
    with run_server(cwd=project, env={**env, "flyer_http": "2"}, http2_only=True) as srv:
        with httpx.Client(http1=False, http2=True, timeout=10) as client:
            assert client.get(srv.url("/flyer/whoami")).http_version == "HTTP/2"
        with pytest.raises(httpx.HTTPError):
            httpx.get(srv.url("/flyer/whoami"), timeout=5)
    with run_server(cwd=project, env={**env, "flyer_http": "1"}) as srv:
        assert httpx.get(srv.url("/flyer/whoami")).json()["data"]["http_version"] == "1.1"
        with pytest.raises(httpx.HTTPError), httpx.Client(http1=False, http2=True) as client:
            client.get(srv.url("/flyer/whoami"), timeout=5)


@pytest.mark.parametrize("engine", ENGINES)
def test_tls_with_alpn(project, tmp_path, engine):
    cert, key = self_signed_cert(tmp_path)
    env = {"flyer_server": engine, "flyer_workers": "1", "flyer_ssl_certfile": str(cert),
           "flyer_ssl_keyfile": str(key)}
    with run_server(cwd=project, env=env, scheme="https") as srv:
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trust, timeout=10) as client:
            data = client.get(srv.url("/flyer/whoami")).json()["data"]
        assert data["scheme"] == "https" and data["http_version"] == "1.1"
        if engine == "granian":
            need_h2()
            with httpx.Client(verify=trust, http2=True, timeout=10) as client:
                response = client.get(srv.url("/flyer/whoami"))  # h2 offered by ALPN
            assert response.http_version == "HTTP/2"
            assert response.json()["data"] == {**data, "http_version": "2"}
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port
            httpx.get(srv.url("/health_check").replace("https:", "http:"), timeout=5)
        assert run_cli("healthcheck", env={**env, "flyer_port": str(srv.port)}).returncode == 0
        assert f"serving on https://127.0.0.1:{srv.port}" in srv.log()


# --- processes: drain, respawn, heartbeat ---------------------------------------------------


def test_40_requests_in_flight_at_sigterm_all_finish(project):
    env = {**GRANIAN, "flyer_workers": "2", "flyer_graceful_timeout": "10",
           "flyer_access_log": "0"}
    with run_server(cwd=project, env=env) as srv:
        # Raw connections, each with its request sent, so that all 40 are in the app (not
        # still connecting in a client) when the signal comes.
        calls = []
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
            sock.sendall(b"GET /flyer/slow?seconds=2 HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
            calls.append(sock)
        time.sleep(1.0)  # accepted and in the app (each takes 2 s)
        signalled = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        answers = []
        for sock in calls:
            with sock:
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            answers.append(answer)
        code = srv.proc.wait(timeout=15)
        took = time.monotonic() - signalled
    assert all(a.startswith(b"HTTP/1.1 200") and a.endswith(b'"data":2.0}') for a in answers), \
        [a[:40] for a in answers]
    assert code == 0
    assert took < 10


def test_graceful_timeout_ends_a_request_that_outlasts_it(project):
    env = {**GRANIAN, "flyer_workers": "1", "flyer_graceful_timeout": "1"}
    with run_server(cwd=project, env=env) as srv:
        caller = threading.Thread(target=lambda: _ignore(httpx.get, srv.url("/flyer/slow?seconds=20"),
                                                         timeout=30))
        caller.start()
        time.sleep(0.5)
        signalled = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        code = srv.proc.wait(timeout=15)
        took = time.monotonic() - signalled
        caller.join(15)
    assert code == 0
    assert took < 6  # the worker was killed after flyer_graceful_timeout, not after 20 s


def _ignore(call, *args, **kwargs) -> None:
    with contextlib.suppress(httpx.HTTPError):
        call(*args, **kwargs)


def test_killed_worker_is_back_within_2_seconds(project):
    with run_server(cwd=project, env={**GRANIAN, "flyer_workers": "1"}) as srv:
        (victim,) = child_pids(srv.proc.pid)
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        while not _answers(srv.url("/health_check")):
            assert time.monotonic() - killed < 10, "no worker answered after a kill -9"
            time.sleep(0.02)
        back = time.monotonic() - killed
        (replacement,) = child_pids(srv.proc.pid)
        print(f"kill -9 of the only worker: answering again after {back:.2f}s")
        assert back < 2 and replacement != victim
        assert httpx.get(srv.url("/flyer/whoami")).json()["data"]["pid"] == replacement
        assert "Unexpected exit from worker-1" in srv.log()


def test_a_worker_crashing_again_within_seconds_stops_the_service(project):
    """granian's crash-loop rule: the same worker dying again within 5.5 s of its respawn
    ends the main process (exit 1), for the orchestrator to restart the container."""
    with run_server(cwd=project, env={**GRANIAN, "flyer_workers": "1"}) as srv:
        (first,) = child_pids(srv.proc.pid)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while not (child_pids(srv.proc.pid) - {first}) and time.monotonic() < deadline:
            time.sleep(0.02)
        (second,) = child_pids(srv.proc.pid) - {first}
        os.kill(second, signal.SIGKILL)
        code = srv.proc.wait(timeout=20)
        assert code == 1
        assert "Worker crash loop detected" in srv.log()


def test_heartbeat_replaces_a_worker_whose_loop_is_blocked(project):
    env = {**GRANIAN, "flyer_workers": "1", "flyer_timeout": "2", "flyer_access_log": "0"}
    with run_server(cwd=project, env=env) as srv:
        (blocked,) = child_pids(srv.proc.pid)
        started = time.monotonic()
        with pytest.raises(httpx.HTTPError):  # its request dies with the worker
            httpx.get(srv.url("/flyer/block?seconds=30"), timeout=20)
        took = time.monotonic() - started
        deadline = time.monotonic() + 10
        while not _answers(srv.url("/health_check")):
            assert time.monotonic() < deadline, "no worker after the heartbeat timeout"
            time.sleep(0.05)
        assert blocked not in child_pids(srv.proc.pid)
        log = srv.log()
    assert 2 <= took < 15
    assert "worker timeout: the event loop has been blocked" in log


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


# --- settings -------------------------------------------------------------------------------

REFUSED = [
    ({**GRANIAN, "flyer_enable_max_requests": "1", "flyer_max_requests": "1000"},
     "flyer_max_requests=1000: the granian engine cannot recycle a worker after a number of "
     "requests"),
    ({**GRANIAN, "flyer_keepalive": "30"},
     "flyer_keepalive=30: the granian engine has no keep-alive timeout of its own: an idle "
     "connection is closed after flyer_header_timeout (10 s)"),
    ({**GRANIAN, "flyer_max_header_size": "4096"},
     "flyer_max_header_size=4096: the granian engine reads request heads into a buffer of at "
     "least 8192 bytes"),
    ({"flyer_server": "gunicorn", "flyer_http": "2"},
     "flyer_http='2': HTTP/2 needs flyer_server=granian"),
    ({**GRANIAN, "flyer_worker_max_age": "30"},
     "flyer_worker_max_age=30: the granian engine recycles a worker after 60 s at the earliest"),
    ({**GRANIAN, "flyer_drain_delay": "5"},
     "flyer_drain_delay=5: the granian engine stops accepting as soon as it is told to stop"),
    ({**GRANIAN, "flyer_startup_timeout": "300"},
     "flyer_startup_timeout=300: the granian engine has no start-up timeout of its own"),
]


@pytest.mark.parametrize(("env", "expected"), REFUSED,
                         ids=["max-requests", "keepalive", "small-head", "http2-gunicorn",
                              "short-max-age", "drain-delay", "startup-timeout"])
@pytest.mark.parametrize("command", ["serve", "config"])
def test_a_setting_the_engine_cannot_honour_exits_2_with_one_line(env, expected, command):
    result = run_cli(command, env=env, timeout=30)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert lines == [f"fastflyer: invalid setting: {expected}" + lines[0].split(expected, 1)[1]]
    assert result.stdout == "" and "Traceback" not in result.stderr


@pytest.mark.parametrize("env", [{"flyer_keepalive": "0"}, {"flyer_keepalive": "10"},
                                 {"flyer_keepalive": "3", "flyer_header_timeout": "3"},
                                 {"flyer_max_requests": "500"}],
                         ids=["no-keepalive", "keepalive-is-header-timeout", "both-3",
                              "max-requests-not-enabled"])
def test_settings_granian_honours_are_accepted(env):
    result = run_cli("config", env={**GRANIAN, **env}, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["server"] == "granian"


def test_recycling_by_memory_and_age_maps_to_granians_options():
    from fastflyer.server.granian import granian_options
    from fastflyer.settings import load_settings

    options = granian_options(load_settings(server="granian", worker_max_rss=300,
                                            worker_max_age=3600), workers=2)
    assert (options["workers_max_rss"], options["rss_sample_interval"]) == (300, 5)
    assert options["workers_lifetime"] == 3600
    plain = granian_options(load_settings(server="granian"), workers=2)
    assert "workers_max_rss" not in plain and "workers_lifetime" not in plain
    # Kubernetes' automatic drain delay is no refusal: it is 0 under granian.
    result = run_cli("config", "--explain", "--format", "json",
                     env={**GRANIAN, "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["flyer_drain_delay"] == {
        "value": 0.0, "source": "default: granian engine: none"}


@each_engine
def test_threads_bound_the_sync_endpoints(project, engine):
    env = {"flyer_server": engine, "flyer_workers": "1", "flyer_threads": "2",
           "flyer_access_log": "0"}
    with run_server(cwd=project, env=env) as srv:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda _: httpx.get(srv.url("/flyer/sync?seconds=1"),
                                                        timeout=20).json(), range(6)))
        took = time.monotonic() - started
    assert len({a["data"] for a in answers}) <= 2  # two threads ran them all
    assert took >= 2.9  # six one-second calls, two at a time


@each_engine
def test_forwarded_headers_only_from_trusted_proxies(project, engine):
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    env = {"flyer_server": engine, "flyer_workers": "1"}
    with run_server(cwd=project, env=env) as srv:
        data = httpx.get(srv.url("/flyer/whoami"), headers=forwarded).json()["data"]
        assert (data["client"], data["scheme"]) == ("127.0.0.1", "http")
    with run_server(cwd=project, env={**env, "flyer_forwarded_allow_ips": "127.0.0.1"}) as srv:
        data = httpx.get(srv.url("/flyer/whoami"), headers=forwarded).json()["data"]
        assert (data["client"], data["scheme"]) == ("203.0.113.7", "https")


# --- the HTTP stack ------------------------------------------------------------------------


def _idle_seconds(port: int, limit: float = 15) -> float:
    """Seconds until the server closes an idle keep-alive connection after one answer."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(limit)
        sock.sendall(b"GET /health_check HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        assert sock.recv(65536) == b""  # closed by the server
        return time.monotonic() - answered


def test_idle_keep_alive_ends_after_the_header_timeout(project):
    env = {**GRANIAN, "flyer_workers": "1", "flyer_header_timeout": "2"}
    with run_server(cwd=project, env=env) as srv:
        assert 1.5 <= _idle_seconds(srv.port) <= 6
    with run_server(cwd=project, env={**env, "flyer_keepalive": "0"}) as srv:
        response = httpx.get(srv.url("/health_check"))
        assert response.headers.get("connection") == "close"


def test_length_and_chunked_closes_the_connection(project):
    """hyper reads such a body as chunked (RFC 9112 6.3) and closes the connection after the
    answer, so a request smuggled behind it is never served."""
    with run_server(cwd=project, env={**GRANIAN, "flyer_workers": "1"}) as srv, \
            socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.settimeout(10)
        sock.sendall(b"POST /flyer/whoami HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                     b"GET /flyer/smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.count(b"HTTP/1.1 ") == 1 and b"smuggled" not in answer


def test_granians_own_log_lines_are_fastflyers_json(project):
    env = {**GRANIAN, "flyer_workers": "2", "flyer_log_format": "json"}
    with run_server(cwd=project, env=env) as srv:
        httpx.get(srv.url("/flyer/whoami"), headers={"X-Request-ID": "json-granian"})
    records = [json.loads(line) for line in srv.log().splitlines() if line.strip()]
    loggers = {record["logger"] for record in records}
    assert {"_granian", "fastflyer.access"} <= loggers, loggers
    assert any(r["message"].startswith("Spawning worker-2") for r in records)
    assert any(r.get("request_id") == "json-granian" for r in records)


def test_pid_of_every_worker_is_a_child_of_the_main_process(project):
    with run_server(cwd=project, env={**GRANIAN, "flyer_workers": "3"}) as srv:
        out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(srv.proc.pid)],
                             capture_output=True, text=True).stdout
        assert len(out.strip().splitlines()) == 3, out


@each_engine
def test_basic_auth_cors_and_the_error_envelope(project, engine):
    env = {"flyer_server": engine, "flyer_workers": "1", "flyer_auth_enable": "1",
           "flyer_auth_user": "ops", "flyer_auth_pass": "s3cret",
           "flyer_cors_origins": "https://app.example"}
    with run_server(cwd=project, env=env) as srv:
        refused = httpx.get(srv.url("/flyer/whoami"), headers={"X-Request-ID": "auth-1"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
        assert refused.json()["code"] == 401 and refused.json()["request_id"] == "auth-1"
        assert httpx.get(srv.url("/flyer/whoami"), auth=("ops", "s3cret")).status_code == 200
        assert httpx.get(srv.url("/health_check")).status_code == 200  # before auth
        preflight = httpx.options(srv.url("/flyer/whoami"), headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        missing = httpx.get(srv.url("/flyer/nope"), auth=("ops", "s3cret"))
        assert missing.status_code == 404 and missing.json()["code"] == 404
