"""The lifecycle's decisions without a server (server/lifecycle.py): which recycle reason is
due when, that each is counted once, how jitter bounds the limits, the boot-failure count and
what the start-up error filter keeps."""

from __future__ import annotations

import logging
import os

import pytest
from fastflyer.server import lifecycle as lc
from fastflyer.settings import load_settings


@pytest.fixture
def counted(monkeypatch):
    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(lc, "count_recycle", lambda reason, times=1: seen.append((reason, times)))
    return seen


def test_max_requests_is_due_once_and_counted_once(counted):
    life = lc.Lifecycle(limits=lc.RecycleLimits(requests=100), started_at=0.0)
    assert life.due(99, now=1.0) is None
    assert life.due(100, now=1.1) == "max_requests"
    assert life.due(150, now=1.2) == "max_requests"  # still due, not counted again
    assert counted == [("max_requests", 1)]


def test_max_age_is_due_after_the_age(counted):
    life = lc.Lifecycle(limits=lc.RecycleLimits(age=10.0), started_at=100.0)
    assert life.due(0, now=109.9) is None
    assert life.due(0, now=110.0) == "max_age"
    assert counted == [("max_age", 1)]


def test_memory_is_read_every_5_seconds_only(counted, monkeypatch):
    reads: list[int] = []

    def rss() -> int:
        reads.append(1)
        return 500 * lc.MIB

    monkeypatch.setattr(lc.procfs, "resident_bytes", rss)
    life = lc.Lifecycle(limits=lc.RecycleLimits(rss_bytes=600 * lc.MIB))
    life.started()
    start = life.started_at
    for tick in range(100):  # 10 s of ticks
        assert life.due(0, now=start + tick / 10) is None
    assert len(reads) == 1  # at 5 s after start; the next read is due at 10 s
    life.limits.rss_bytes = 400 * lc.MIB
    assert life.due(0, now=start + 10.0) == "max_rss"
    assert counted == [("max_rss", 1)]


def test_limits_from_settings_with_jitter():
    for _ in range(50):
        limits = lc.RecycleLimits.from_settings(load_settings(
            enable_max_requests=True, max_requests=100, max_requests_jitter=10,
            worker_max_age=60, worker_max_rss=300))
        assert 100 <= limits.requests <= 110
        assert 60 <= limits.age <= 66
        assert limits.rss_bytes == 300 * lc.MIB
    off = lc.RecycleLimits.from_settings(load_settings(max_requests=100))  # not enabled
    assert (off.requests, off.age, off.rss_bytes) == (None, None, None)


def test_reload_mode_never_recycles():
    life = lc.Lifecycle.from_settings(load_settings(reload=True, worker_max_age=60))
    assert life.limits == lc.RecycleLimits()


def test_loop_lag_is_the_worst_lateness_since_the_last_report():
    life = lc.Lifecycle()
    for now in (0.0, 0.1, 0.35, 0.45):
        life.tick(now, 0.1)
    assert life.take_lag() == pytest.approx(0.15)
    assert life.take_lag() == 0.0


def test_recycle_counts_survive_a_re_exec(counted, monkeypatch):
    monkeypatch.delenv(lc.RECYCLES_ENV, raising=False)
    lc.hand_over_recycles({"max_age": 2}, "max_rss")
    assert os.environ[lc.RECYCLES_ENV] == "max_age=2,max_rss=1"
    assert lc.inherited_recycles() == {"max_age": 2, "max_rss": 1}
    assert counted == [("max_age", 2), ("max_rss", 1)]
    assert lc.RECYCLES_ENV not in os.environ
    monkeypatch.setenv(lc.RECYCLES_ENV, "bogus=3,max_age=x")  # hand-set garbage is ignored
    assert lc.inherited_recycles() == {}


@pytest.mark.parametrize("shared", [False, True], ids=["single", "master"])
def test_boot_record_gives_up_after_the_attempts_and_announces_once(monkeypatch, shared):
    monkeypatch.setenv(lc.BOOT_FAILURES_ENV, "3")
    boots = lc.BootRecord(shared)
    assert boots.count == 3
    assert boots.failed("ValueError: x") is True  # 4th
    assert boots.failed("ValueError: x") is False  # 5th: give up
    assert boots.succeeded() is True  # the first success says "serving on"
    assert boots.count == 0
    assert boots.succeeded() is False  # a recycled or second worker does not
    boots.hand_over()
    assert lc.BootRecord(shared).succeeded() is False  # nor the re-executed process
    monkeypatch.setenv(lc.BOOT_FAILURES_ENV, "-1; rm -rf /")
    assert lc.BootRecord(shared).count == 0


def test_startup_errors_keep_the_last_line_of_the_apps_traceback():
    errors = lc.StartupErrors()
    log = logging.getLogger("test.startup")
    record = log.makeRecord("uvicorn.error", logging.ERROR, __file__, 1,
                            "Traceback (most recent call last):\n  File x\nKeyError: 'dsn'\n",
                            None, None)
    assert errors.filter(record)
    errors.filter(log.makeRecord("uvicorn.error", logging.ERROR, __file__, 1,
                                 "Application startup failed. Exiting.", None, None))
    errors.filter(log.makeRecord("uvicorn.error", logging.INFO, __file__, 1, "noise", None, None))
    assert errors.cause == "KeyError: 'dsn'"
