"""Schedulers and ``.lock()`` with real processes: each tick of a 1-second job runs once across
three processes sharing Redis (and across workers of one host without Redis), a killed holder's
lock expires, Redis down means skip-and-warn; the seed's examples run as written."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from fastflyer.observability.logs import logger
from fastflyer.scheduler import SKIPPED

from tests.support import REPO, base_env, free_port, need_redis

pytestmark = pytest.mark.timeout(120)


def spawn(record: Path, name: str, mode: str, *, work: float, run: float, start_at: float,
          expire: float = 5, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sdk_helpers.locked_job", str(record), name, mode,
         str(work), str(run), str(start_at), str(expire)],
        cwd=REPO, env=base_env(**(env or {})), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )


def events(record: Path) -> list[dict]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line]


def runs(record: Path) -> list[tuple[int, float, float]]:
    """(pid, start, end) of every completed run, in start order."""
    open_runs: dict[int, float] = {}
    done = []
    for event in events(record):
        if event["event"] == "start":
            open_runs[event["pid"]] = event["at"]
        elif event["event"] == "end":
            done.append((event["pid"], open_runs.pop(event["pid"]), event["at"]))
    return sorted(done, key=lambda run: run[1])


def finish(procs: list[subprocess.Popen]) -> list[str]:
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        outputs.append(out)
    return outputs


def assert_each_tick_once(record: Path, window: float) -> list[tuple[int, float, float]]:
    done = runs(record)
    ticks = Counter(math.floor(start) for _, start, _ in done)
    assert ticks, "the job never ran"
    assert max(ticks.values()) == 1, f"a tick ran more than once: {ticks}"
    assert len(ticks) >= window - 2, f"ticks were lost: {sorted(ticks)}"
    for (_, _, end), (_, next_start, _) in zip(done, done[1:], strict=False):
        assert next_start >= end, "two runs overlapped"
    return done


@pytest.mark.redis
@pytest.mark.parametrize("modes", [("sync", "sync", "sync"), ("sync", "async", "async")])
def test_three_processes_run_each_tick_once(tmp_path, modes):
    host, port = need_redis()
    record = tmp_path / "runs.jsonl"
    name = f"test-three-{uuid.uuid4().hex}"
    start_at = time.time() + 3  # every process is up and scheduling before the window opens
    env = {"flyer_redis_host": host, "flyer_redis_port": str(port)}
    procs = [spawn(record, name, mode, work=0.3, run=6, start_at=start_at, env=env)
             for mode in modes]
    finish(procs)
    done = assert_each_tick_once(record, window=6)
    # all three processes competed for every tick: each one was scheduling the whole time
    assert len({e["pid"] for e in events(record) if e["event"] == "ready"}) == 3
    assert len(done) >= 4


def test_workers_of_one_host_without_redis_run_each_tick_once(tmp_path):
    record = tmp_path / "runs.jsonl"
    name = f"test-file-{uuid.uuid4().hex}"
    start_at = time.time() + 3
    env = {"TMPDIR": str(tmp_path)}  # no flyer_redis_host: the per-host file lock
    procs = [spawn(record, name, mode, work=0.3, run=6, start_at=start_at, env=env)
             for mode in ("sync", "sync", "async")]
    finish(procs)
    assert_each_tick_once(record, window=6)
    assert list((tmp_path / f"fastflyer-locks-{os.getuid()}").glob("test-file-*.lock"))


@pytest.mark.redis
def test_killed_holder_lock_expires_and_another_process_takes_over(tmp_path):
    host, port = need_redis()
    record = tmp_path / "runs.jsonl"
    name = f"test-kill-{uuid.uuid4().hex}"
    env = {"flyer_redis_host": host, "flyer_redis_port": str(port)}
    expire = 2.0
    holder = spawn(record, name, "sync", work=60, run=60, start_at=0, expire=expire, env=env)
    try:
        deadline = time.time() + 20
        while not any(e["event"] == "start" for e in events(record)):
            assert time.time() < deadline, "the first process never ran the job"
            time.sleep(0.05)
        other = spawn(record, name, "async", work=60, run=60, start_at=0, expire=expire, env=env)
        # Longer than two expiries: the running holder keeps renewing, the other only skips.
        time.sleep(3 * expire)
        starters = {e["pid"] for e in events(record) if e["event"] == "start"}
        assert starters == {holder.pid}
        holder.send_signal(signal.SIGKILL)
        killed_at = time.time()
        holder.wait()
        deadline = killed_at + 20
        while True:
            takeover = [e for e in events(record) if e["event"] == "start" and e["pid"] == other.pid]
            if takeover:
                break
            assert time.time() < deadline, "nobody took over after the holder died"
            time.sleep(0.05)
        # the lock expires at most `expire` after the last renewal; then the next 1 s tick runs
        assert takeover[0]["at"] - killed_at <= expire + 1 + 1.5
    finally:
        for proc in (holder, locals().get("other")):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()


def test_redis_configured_but_down_skips_with_a_warning(tmp_path):
    record = tmp_path / "runs.jsonl"
    env = {"flyer_redis_host": "127.0.0.1", "flyer_redis_port": str(free_port())}
    procs = [spawn(record, f"test-down-{uuid.uuid4().hex}", mode, work=0, run=2.5, start_at=0,
                   env=env) for mode in ("sync", "async")]
    outputs = finish(procs)  # exit code 0: the process stayed up and shut down cleanly
    assert not [e for e in events(record) if e["event"] == "start"]
    for out in outputs:
        assert "lock backend unavailable (ConnectionError" in out and "skipping this run" in out
        # (a run cut short by the shutdown may be logged as cancelled; that is not a crash)
        assert "Traceback" not in out.split("--- shutting down")[0]
    assert sum(e["event"] == "stopped" for e in events(record)) == 2


def test_locked_function_called_directly_with_redis_down_returns_none():
    from fastflyer import asyncio_scheduler, background_scheduler

    url = f"redis://127.0.0.1:{free_port()}/0"
    calls: list[str] = []
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING", format="{message}")
    try:
        @background_scheduler.lock(redis_url=url)
        def sync_job():
            calls.append("sync")

        @asyncio_scheduler.lock(redis_url=url)
        async def async_job():
            calls.append("async")

        assert sync_job() is SKIPPED
        assert asyncio.run(async_job()) is SKIPPED
    finally:
        logger.remove(sink)
    assert calls == []
    assert len([w for w in warnings if "lock backend unavailable" in w]) == 2


@pytest.mark.redis
def test_lock_is_mutual_exclusion_for_direct_calls():
    host, port = need_redis()
    from fastflyer import background_scheduler

    inside = threading.Semaphore(0)
    release = threading.Event()
    results: list[object] = []

    @background_scheduler.lock(f"test-direct-{uuid.uuid4().hex}",
                               redis_url=f"redis://{host}:{port}/0")
    def job():
        inside.release()
        release.wait(10)
        return "ran"

    first = threading.Thread(target=lambda: results.append(job()))
    first.start()
    assert inside.acquire(timeout=10)
    assert job() is SKIPPED  # held by the first call: skipped
    release.set()
    first.join()
    assert results == ["ran"]
    assert job() == "ran"  # released: the next call runs


def test_seed_examples_run_as_written(tmp_path):
    out = subprocess.run(
        [sys.executable, "-u", "-m", "tests.sdk_helpers.seed_jobs.run", "6"],
        cwd=REPO, env=base_env(TMPDIR=str(tmp_path)), capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    # interval 5 s, aligned on the epoch grid: at least one fire of each job in 6 s
    assert out.stdout.count("hello world!") >= 2
    assert "clean exit" in out.stdout


def test_jobs_added_before_and_after_start_and_restart_in_a_new_loop():
    from fastflyer import asyncio_scheduler, background_scheduler
    from fastflyer.scheduler import shutdown_schedulers, start_schedulers

    tag = uuid.uuid4().hex
    seen: list[tuple[str, object]] = []

    def early():
        seen.append(("early", threading.current_thread().name))

    async def early_async():
        seen.append(("early_async", asyncio.get_running_loop()))

    async def late_async():
        seen.append(("late_async", asyncio.get_running_loop()))

    background_scheduler.add_job(early, "interval", seconds=1, id=f"early-{tag}")
    asyncio_scheduler.add_job(early_async, "interval", seconds=1, id=f"early-async-{tag}")
    assert not background_scheduler.running and not asyncio_scheduler.running

    def remove_tagged() -> None:
        for scheduler in (background_scheduler, asyncio_scheduler):
            for job in scheduler.get_jobs():
                if tag in job.id:
                    job.remove()

    async def serve_for(seconds: float, last: bool = False) -> asyncio.AbstractEventLoop:
        start_schedulers()
        asyncio_scheduler.add_job(late_async, "interval", seconds=1, id=f"late-async-{tag}")
        await asyncio.sleep(seconds)
        if last:  # APScheduler 3 only finds stored jobs while running
            remove_tagged()
        shutdown_schedulers()
        return asyncio.get_running_loop()

    try:
        first_loop = asyncio.run(serve_for(2.2))
        assert not background_scheduler.running and not asyncio_scheduler.running
        kinds = {kind for kind, _ in seen}
        assert kinds == {"early", "early_async", "late_async"}
        assert {loop for kind, loop in seen if kind != "early"} == {first_loop}
        seen.clear()
        second_loop = asyncio.run(serve_for(2.2, last=True))  # e.g. the app started again
        assert {loop for kind, loop in seen if kind != "early"} == {second_loop}
        assert {kind for kind, _ in seen} == {"early", "early_async", "late_async"}
    finally:
        remove_tagged()  # pending ones, if the test failed before starting


def test_start_schedulers_needs_a_running_loop():
    from fastflyer.scheduler import start_schedulers

    with pytest.raises(RuntimeError):
        start_schedulers()


def test_same_job_id_twice_replaces_instead_of_crashing():
    from fastflyer import background_scheduler
    from fastflyer.scheduler import shutdown_schedulers, start_schedulers

    tag = f"dup-{uuid.uuid4().hex}"
    background_scheduler.add_job(print, "interval", seconds=5, id=tag)
    background_scheduler.add_job(print, "interval", seconds=7, id=tag)

    async def start_and_stop():
        start_schedulers()
        jobs = [job for job in background_scheduler.get_jobs() if job.id == tag]
        background_scheduler.remove_job(tag)
        shutdown_schedulers()
        return jobs

    jobs = asyncio.run(start_and_stop())
    assert len(jobs) == 1 and jobs[0].trigger.interval.total_seconds() == 7


JOB_PROJECT = '''\
"""A sub-app without router: it only registers a locked job, at import (in the master)."""
import json
import os
import time

from fastflyer import background_scheduler

RECORD = os.environ["JOB_RECORD"]


def note(event):
    fd = os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (json.dumps({"pid": os.getpid(), "event": event, "at": time.time()}) + "\\n").encode())
    os.close(fd)


@background_scheduler.lock(os.environ["JOB_LOCK_NAME"])
def tick():
    note("start")
    time.sleep(float(os.environ.get("JOB_WORK", "0.3")))
    note("end")


background_scheduler.add_job(tick, "interval", seconds=1, id="tick")
'''


@pytest.mark.redis
def test_served_app_with_three_workers_runs_each_tick_once(tmp_path):
    from tests.support import run_server

    host, port = need_redis()
    project = tmp_path / "project"
    (project / "app" / "jobs").mkdir(parents=True)
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "jobs" / "__init__.py").write_text(JOB_PROJECT)
    record = tmp_path / "runs.jsonl"
    env = {"flyer_workers": "3", "flyer_redis_host": host, "flyer_redis_port": str(port),
           "JOB_RECORD": str(record), "JOB_LOCK_NAME": f"test-served-{uuid.uuid4().hex}"}
    with run_server("serve", cwd=project, env=env) as server:
        time.sleep(6)
        master = server.proc.pid
        log = server.log()
    assert log.count("schedulers started in pid") == 3  # once per worker, never the master
    done = assert_each_tick_once(record, window=5)
    assert master not in {pid for pid, _, _ in done}


def _job_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "app" / "jobs").mkdir(parents=True)
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "jobs" / "__init__.py").write_text(JOB_PROJECT)
    return project


@pytest.mark.redis
def test_killed_replica_job_runs_on_the_other_replica_within_ten_seconds(tmp_path):
    """2 replicas x 2 workers share a 1-second locked job; the replica whose worker is inside
    the job is killed (kill -9, master and workers): the other runs it within 10 s, and never
    are two runs at once."""
    from tests.support import child_pids, run_server

    host, port = need_redis()
    project = _job_project(tmp_path)
    record = tmp_path / "runs.jsonl"
    env = {"flyer_workers": "2", "flyer_redis_host": host, "flyer_redis_port": str(port),
           "JOB_RECORD": str(record), "JOB_WORK": "1.0",
           "JOB_LOCK_NAME": f"test-failover-{uuid.uuid4().hex}"}
    with run_server(cwd=project, env=env) as first, run_server(cwd=project, env=env) as second:
        replicas = {first.proc.pid: first, second.proc.pid: second}
        deadline = time.time() + 20
        while True:  # a run in progress: the last start without its end
            seen = events(record)
            started = [e for e in seen if e["event"] == "start"]
            if len(started) >= 2 and len(started) > sum(e["event"] == "end" for e in seen):
                holder = started[-1]["pid"]
                break
            assert time.time() < deadline, "no run in progress"
            time.sleep(0.05)
        victim = next(pid for pid in replicas if holder in child_pids(pid))
        survivor = next(srv for pid, srv in replicas.items() if pid != victim)
        survivor_workers = child_pids(survivor.proc.pid)
        os.killpg(victim, signal.SIGKILL)
        killed_at = time.time()
        replicas[victim].proc.wait()
        deadline = killed_at + 15
        while not [e for e in events(record)
                   if e["event"] == "start" and e["at"] > killed_at and e["pid"] in survivor_workers]:
            assert time.time() < deadline, "the surviving replica never ran the job"
            time.sleep(0.05)
        takeover = next(e["at"] for e in events(record)
                        if e["event"] == "start" and e["at"] > killed_at)
        time.sleep(2.5)
        log = survivor.log()
    print(f"failover: the other replica ran the job {takeover - killed_at:.2f} s after kill -9")
    assert takeover - killed_at < 10
    assert "executed successfully" not in log  # APScheduler's per-fire lines are quiet
    # Never two runs at once: sorted by start, each run ends (or its process died) before the
    # next starts.
    spans, open_runs = [], {}
    for e in sorted(events(record), key=lambda e: e["at"]):
        if e["event"] == "start":
            open_runs[e["pid"]] = e["at"]
        elif e["event"] == "end" and e["pid"] in open_runs:
            spans.append((open_runs.pop(e["pid"]), e["at"]))
    spans += [(start, killed_at) for start in open_runs.values()]  # the killed holder's run
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.01, spans
