"""Production lifecycle on real processes (server/lifecycle.py): the drain delay after SIGTERM,
recycling by requests, memory and age without losing a request, start-ups that fail loudly or
are slow but healthy, the memory-aware worker count, ``config --explain`` and the per-process
metrics."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastflyer.server import common
from fastflyer.server.lifecycle import BOOT_ATTEMPTS, MAX_BACKOFF, backoff
from fastflyer.server.memory_limit import memory_limit
from fastflyer.settings import FlyerSettings, load_settings

from tests.projects import write_project
from tests.reliability_helpers.load import LoadGenerator, summary
from tests.support import base_env, each_engine, fastflyer_exe, free_port, need, run_cli, run_server
from tests.test_reliability import PROBE_PROJECT, replaced_under_load, wait_until, worker_pids

MODELS = pytest.mark.parametrize("workers", ["1", "2"], ids=["one-process", "gunicorn"])


def recycles(srv) -> dict[str, float]:
    text = httpx.get(srv.url("/metrics"), timeout=5).text
    return {m[0]: float(m[1]) for m in
            re.findall(r'^fastflyer_worker_recycles_total\{reason="(\w+)"\} (\S+)$', text, re.M)}


# --- drain delay ------------------------------------------------------------------------------


@MODELS
def test_drain_delay_keeps_serving_while_readiness_says_503(tmp_path, workers):
    project = write_project(tmp_path, PROBE_PROJECT)
    env = {"flyer_workers": workers, "flyer_drain_delay": "3", "flyer_graceful_timeout": "5",
           "flyer_access_log": "0"}
    with run_server(cwd=project, env=env) as srv:
        with LoadGenerator(srv.port, "/flyer/work?ms=20", concurrency=10) as load:
            load.wait_for(50)
            signalled = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            readiness = []
            while time.monotonic() < signalled + 2.5:  # the load balancer still sends
                readiness.append(httpx.get(srv.url("/health_check/ready"), timeout=5).status_code)
                time.sleep(0.1)
            outcomes = load.stop()  # ... and then it has stopped sending
        code = srv.proc.wait(timeout=15)
        exited = time.monotonic()
    during = [o for o in outcomes if o.started > signalled]
    print(f"drain delay ({workers} worker(s)): {len(during)} requests during the delay: "
          f"{summary(during)}; readiness {sorted(set(readiness))}; exit {code} after "
          f"{exited - signalled:.2f}s")
    assert all(o.ok for o in outcomes), summary([o for o in outcomes if not o.ok])
    assert len([o for o in during if o.started > signalled + 2]) > 5  # served late in the delay
    assert readiness and set(readiness) == {503}
    assert code == 0
    assert 3 <= exited - signalled < 3 + 5


def test_second_sigterm_skips_the_drain_delay(tmp_path):
    project = write_project(tmp_path, PROBE_PROJECT)
    for workers in ("1", "2"):
        env = {"flyer_workers": workers, "flyer_drain_delay": "60"}
        with run_server(cwd=project, env=env) as srv:
            signalled = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(1)
            assert srv.proc.poll() is None  # still in its delay
            assert httpx.get(srv.url("/flyer/work?ms=1"), timeout=5).status_code == 200
            srv.proc.send_signal(signal.SIGTERM)
            code = srv.proc.wait(timeout=15)
            assert code == 0 and time.monotonic() - signalled < 15, workers


def test_drain_delay_is_five_seconds_under_kubernetes_only():
    assert load_settings().drain_delay_seconds == 0
    os.environ["KUBERNETES_SERVICE_HOST"] = "10.0.0.1"
    try:
        assert load_settings().drain_delay_seconds == 5
        assert load_settings(drain_delay="0").drain_delay_seconds == 0
    finally:
        del os.environ["KUBERNETES_SERVICE_HOST"]


# --- recycling --------------------------------------------------------------------------------


RECYCLING = {
    "max_requests": {"flyer_enable_max_requests": "1", "flyer_max_requests": "200",
                     "flyer_max_requests_jitter": "20"},
    "max_rss": {"flyer_worker_max_rss": "1"},  # every worker is over 1 MiB: each check recycles
    "max_age": {"flyer_worker_max_age": "2"},
}


@pytest.mark.parametrize("reason", RECYCLING)
def test_two_workers_recycle_under_load_without_losing_a_request(tmp_path, reason):
    project = write_project(tmp_path, PROBE_PROJECT)
    env = {"flyer_workers": "2", "flyer_access_log": "0", **RECYCLING[reason]}
    with run_server(cwd=project, env=env) as srv:
        replaced, outcomes = replaced_under_load(srv, "/flyer/work?ms=5", 16, wanted=5)
        counted = recycles(srv)
        log = srv.log()
    print(f"recycling by {reason}: {replaced} workers replaced, {len(outcomes)} requests: "
          f"{summary(outcomes)}; /metrics: {counted}")
    assert replaced >= 5
    assert all(o.ok for o in outcomes), summary([o for o in outcomes if not o.ok])
    assert counted.get(reason, 0) >= 5 and set(counted) == {reason}
    assert log.count("recycling worker") >= 5


def test_one_worker_recycled_by_age_refuses_no_connection(tmp_path):
    project = write_project(tmp_path, PROBE_PROJECT)
    env = {"flyer_workers": "1", "flyer_access_log": "0", "flyer_worker_max_age": "1"}
    with run_server(cwd=project, env=env) as srv:
        with LoadGenerator(srv.port, "/flyer/work?ms=5", concurrency=8) as load:
            wait_until(lambda: srv.log().count("recycling worker") >= 5, timeout=40)
            outcomes = load.stop()
        assert srv.proc.poll() is None  # the same process (PID) serves on
        counted = recycles(srv)
    print(f"one worker, recycled by age: {len(outcomes)} requests: {summary(outcomes)}; "
          f"/metrics: {counted}")
    assert all(o.ok for o in outcomes), summary([o for o in outcomes if not o.ok])
    assert counted["max_age"] >= 5  # counted across the re-executions


# --- start-up ----------------------------------------------------------------------------------


def startup_project(tmp_path: Path, body: str) -> Path:
    return write_project(tmp_path, {"main.py": f"""
        import asyncio
        import contextlib
        import time

        from fastapi import FastAPI


        @contextlib.asynccontextmanager
        async def lifespan(app):
            {body}
            yield


        app = FastAPI(lifespan=lifespan)


        @app.get("/hello")
        async def hello():
            return {{"hello": "world"}}
    """})


@MODELS
def test_start_up_that_raises_exits_non_zero_with_the_cause(tmp_path, workers):
    project = startup_project(tmp_path, 'raise ValueError("orders database unreachable")')
    env = base_env(flyer_workers=workers, flyer_host="127.0.0.1", flyer_port=str(free_port()))
    started = time.monotonic()
    proc = subprocess.run([fastflyer_exe(), "serve"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120)
    took = time.monotonic() - started
    output = proc.stdout + proc.stderr
    final = [line for line in output.splitlines() if "giving up" in line]
    print(f"failed start-up ({workers} worker(s)): exit {proc.returncode} after {took:.1f}s: "
          f"{final}")
    assert proc.returncode not in (0, None)
    # Workers failing at the same moment may each reach the limit: one line per worker at most.
    assert 1 <= len(final) <= int(workers)
    assert final[0].endswith(f"start-up failed {BOOT_ATTEMPTS} times in a row, giving up: "
                             "ValueError: orders database unreachable")
    assert output.count("retrying in") == BOOT_ATTEMPTS - 1
    assert "FastFlyer starting" in output and "serving on" not in output  # it never served
    bound = sum(backoff(n) for n in range(1, BOOT_ATTEMPTS)) + BOOT_ATTEMPTS * 5
    assert took < bound


def test_backoff_grows_and_is_capped():
    assert [backoff(n) for n in range(1, 7)] == [1, 2, 4, 8, MAX_BACKOFF, MAX_BACKOFF]


@MODELS
def test_slow_start_longer_than_the_heartbeat_timeout_serves(tmp_path, workers):
    # time.sleep blocks the event loop: only the start-up timeout may apply while starting.
    project = startup_project(tmp_path, "time.sleep(4)")
    env = {"flyer_workers": workers, "flyer_timeout": "2", "flyer_startup_timeout": "30"}
    with run_server(cwd=project, env=env, timeout=60) as srv:
        assert httpx.get(srv.url("/hello"), timeout=5).json() == {"hello": "world"}
        log = srv.log()
    assert "start-up failed" not in log
    # "serving on" comes once, after the app's start-up, not with the settings before it.
    assert log.count("FastFlyer serving on") == 1
    assert log.index("Application startup complete") < log.index("FastFlyer serving on")


@MODELS
def test_hung_start_is_a_failed_start(tmp_path, workers):
    project = startup_project(tmp_path, "time.sleep(600)")
    env = base_env(flyer_workers=workers, flyer_host="127.0.0.1", flyer_port=str(free_port()),
                   flyer_startup_timeout="2")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([fastflyer_exe(), "serve"], cwd=project, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "retrying in" in log.read_text(), timeout=30)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert ("start-up failed (attempt 1 of 5), retrying in 1 s: start-up did not finish within "
            "flyer_startup_timeout=2 s") in log.read_text()


# --- worker count from the memory limit ---------------------------------------------------------


def fake_cgroup(root: Path, version: int, memory: int, cpus: int) -> Path:
    if version == 2:
        (root / "memory.max").write_text(f"{memory}\n")
        (root / "cpu.max").write_text(f"{cpus * 100000} 100000\n")
    else:
        (root / "memory").mkdir()
        (root / "memory" / "memory.limit_in_bytes").write_text(f"{memory}\n")
        (root / "cpu").mkdir()
        (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{cpus * 100000}\n")
        (root / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    proc_cgroup = root / "self-cgroup"
    proc_cgroup.write_text("0::/\n" if version == 2 else "4:memory:/\n1:cpu,cpuacct:/\n")
    return proc_cgroup


@pytest.mark.parametrize("version", [1, 2])
def test_memory_limit_decides_the_worker_count(tmp_path, monkeypatch, version):
    monkeypatch.setattr("fastflyer.server.cpu.affinity_limit", lambda: (8.0, "CPU affinity (8)"))
    proc_cgroup = fake_cgroup(tmp_path, version, 512 * 1024 * 1024, cpus=8)
    settings = load_settings(worker_memory=256)
    workers, reason = common.resolve_workers(settings, tmp_path, proc_cgroup)
    assert workers == 2
    name = "memory.max" if version == 2 else "memory.limit_in_bytes"
    assert reason == f"cgroup v{version} {name} (512 MiB) / flyer_worker_memory (256 MiB)"
    # With room for more workers than CPUs, the CPUs decide.
    big = tmp_path / "big"
    big.mkdir()
    proc_cgroup = fake_cgroup(big, version, 16 << 30, cpus=8)
    workers, reason = common.resolve_workers(settings, big, proc_cgroup)
    assert workers == 8 and "memory" not in reason


def test_unlimited_memory_is_no_limit(tmp_path):
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert memory_limit(tmp_path, tmp_path / "missing") is None


def test_a_real_cgroup_memory_limit_decides(tmp_path):
    """In a cgroup v1 memory group of this machine (root needed): the log and --explain say
    that memory decided."""
    base = Path("/sys/fs/cgroup/memory")
    need(os.geteuid() == 0 and (base / "cgroup.procs").exists() and os.access(base, os.W_OK),
         "needs root and a writable cgroup v1 memory hierarchy")
    group = base / f"fastflyer-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(512 * 1024 * 1024))
        env = base_env(flyer_worker_memory="512")

        def enter() -> None:
            (group / "cgroup.procs").write_text(str(os.getpid()))

        out = subprocess.run([fastflyer_exe(), "config", "--explain", "--format", "json"],
                             env=env, capture_output=True, text=True, timeout=30,
                             preexec_fn=enter).stdout  # noqa: PLW1509 - test only
        explained = json.loads(out)["flyer_workers"]
        assert explained == {"value": 1, "source": "default: cgroup v1 memory.limit_in_bytes "
                             "(512 MiB) / flyer_worker_memory (512 MiB)"}
    finally:
        group.rmdir()


# --- config --explain --------------------------------------------------------------------------


def test_config_explain_names_the_source_of_each_value():
    env = base_env(flyer_port="9123", flyer_db_pass="s3cret", KUBERNETES_SERVICE_HOST="10.0.0.1")
    result = run_cli("config", "--explain", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    explained = json.loads(result.stdout)
    assert explained["flyer_port"] == {"value": 9123, "source": "environment"}
    assert explained["flyer_db_pass"] == {"value": "******", "source": "environment"}
    assert explained["flyer_keepalive"] == {"value": 5, "source": "default"}
    assert explained["flyer_drain_delay"] == {
        "value": 5.0, "source": "default: Kubernetes (KUBERNETES_SERVICE_HOST set)"}
    assert explained["flyer_workers"]["source"].startswith("default: ")
    assert set(explained) == {f"flyer_{name}" for name in FlyerSettings.model_fields}
    assert "s3cret" not in result.stdout
    table = run_cli("config", "--explain", env=env).stdout
    assert re.search(r"^flyer_port +9123 +environment$", table, re.M), table
    assert "s3cret" not in table


def test_boot_line_summarises_the_settings(tmp_path):
    project = write_project(tmp_path, PROBE_PROJECT)
    with run_server(cwd=project, env={"flyer_workers": "1", "flyer_keepalive": "7"}) as srv:
        line = next(line for line in srv.log().splitlines() if "settings: " in line)
    assert re.search(r"settings: \d+ set \(.*flyer_keepalive=7.*\); derived: .*flyer_drain_delay="
                     r"0\.0 \(not under Kubernetes\).*; \d+ defaults", line), line


# --- per-process metrics ------------------------------------------------------------------------


@each_engine
def test_metrics_show_every_process_and_each_workers_loop_lag(tmp_path, engine):
    project = write_project(tmp_path, PROBE_PROJECT)
    with run_server(cwd=project, env={"flyer_workers": "2", "flyer_server": engine}) as srv:
        # The server answers once its first worker is up; the second may still be starting.
        wait_until(lambda: len(worker_pids(srv.proc.pid)) == 2, timeout=20)
        workers = worker_pids(srv.proc.pid)
        time.sleep(2.5)  # each worker reports its loop lag once a second
        text = "".join(httpx.get(srv.url("/metrics"), timeout=5).text for _ in range(4))
    rss = dict(re.findall(
        r'^fastflyer_process_resident_memory_bytes\{pid="(\d+)",role="(\w+)"\} \S+$', text, re.M))
    assert rss == {str(srv.proc.pid): "main", **{str(pid): "worker" for pid in workers}}
    for name in ("fastflyer_process_cpu_seconds_total", "fastflyer_process_open_fds"):
        assert len(set(re.findall(rf'^{name}\{{pid="(\d+)"', text, re.M))) == 3, name
    lag_pids = set(re.findall(r'^fastflyer_event_loop_lag_seconds\{pid="(\d+)"\} \S+$', text, re.M))
    assert lag_pids == {str(pid) for pid in workers}
