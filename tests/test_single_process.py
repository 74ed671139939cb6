"""One worker runs without a gunicorn master (server/single.py): what the master did for a
worker still happens — recycling without refusing connections, a drained stop that exits 0,
a blocked event loop ended by the heartbeat, a failed start that exits non-zero."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time

import httpx

from tests.projects import write_project
from tests.reliability_helpers.load import LoadGenerator, summary
from tests.support import DEMO, base_env, fastflyer_exe, free_port, run_server
from tests.test_reliability import PROBE_PROJECT, wait_until, worker_pids

BLOCKING_PROJECT = {
    "app/__init__.py": "",
    "app/block/__init__.py": """
        import time

        from fastflyer import APIRouter

        router = APIRouter()


        @router.get("/block")
        async def block():
            time.sleep(30)  # blocks the event loop: the heartbeat must notice
            return {"code": 200}
    """,
}


def test_one_worker_has_no_master_and_recycles_without_refusing(tmp_path):
    project = write_project(tmp_path, PROBE_PROJECT)
    env = {"flyer_workers": "1", "flyer_access_log": "0", "flyer_enable_max_requests": "1",
           "flyer_max_requests": "40", "flyer_max_requests_jitter": "10"}
    with run_server(cwd=project, env=env) as srv:
        assert worker_pids(srv.proc.pid) == set()
        with LoadGenerator(srv.port, "/flyer/work?ms=5", concurrency=8) as load:
            # Under load until four recycles: the limit is checked on uvicorn's 0.1 s tick,
            # so how many requests one incarnation serves past it depends on the machine.
            wait_until(lambda: srv.log().count("recycling worker") >= 4, timeout=60,
                       interval=0.1)
            outcomes = load.stop()
        assert srv.proc.poll() is None  # the same process (PID) serves on
        recycles = srv.log().count("recycling worker")
    print(f"single process: {len(outcomes)} requests, {recycles} recycles: {summary(outcomes)}")
    assert recycles >= 4 and len(outcomes) >= 4 * 40
    assert all(o.ok for o in outcomes), summary([o for o in outcomes if not o.ok])


def test_blocked_event_loop_ends_the_process_for_the_orchestrator(tmp_path):
    project = write_project(tmp_path, BLOCKING_PROJECT)
    with run_server(cwd=project, env={"flyer_workers": "1", "flyer_timeout": "2"}) as srv:
        started = time.monotonic()
        with contextlib.suppress(httpx.HTTPError):  # the process ends under this request
            httpx.get(srv.url("/flyer/block"), timeout=15)
        wait_until(lambda: srv.proc.poll() is not None, timeout=15)
        assert srv.proc.returncode not in (0, None)
        assert time.monotonic() - started < 10
        assert "worker timeout: the event loop has been blocked" in srv.log()


def test_sigint_drains_and_exits_zero():
    with run_server(cwd=DEMO, env={"flyer_workers": "1"}) as srv:
        assert httpx.get(srv.url("/flyer/items/1")).status_code == 200
        assert srv.stop(signal.SIGINT) == 0


def test_start_up_failure_exits_non_zero(tmp_path):
    project = write_project(tmp_path, {
        "app/__init__.py": "",
        "app/broken/__init__.py": "raise RuntimeError('no config')\n",
    })
    env = base_env(flyer_workers="1", flyer_host="127.0.0.1", flyer_port=str(free_port()))
    proc = subprocess.run([fastflyer_exe(), "serve"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert "start-up aborted" in proc.stdout + proc.stderr
    assert "broken" in proc.stdout + proc.stderr
