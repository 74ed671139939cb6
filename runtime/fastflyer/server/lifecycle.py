"""What one serving process of the default engine watches while it runs, the same under a
gunicorn master, alone, or reloading: the drain delay after SIGTERM, when to recycle (requests
served, resident memory, age), the event loop's lag, and boot failures in a row.

:class:`~fastflyer.server.uvicorn_server.FlyerServer` asks it on uvicorn's 0.1 s tick, so
nothing here runs per request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastflyer.observability import procfs
from fastflyer.observability.logs import logger
from fastflyer.settings import FlyerSettings

RSS_CHECK_SECONDS = 5.0  # memory is read from /proc this often, not per request
AGE_JITTER = 0.1  # up to 10 % more age, so that workers started together recycle apart
BOOT_ATTEMPTS = 5  # consecutive failed starts before the server gives up
MAX_BACKOFF = 8.0  # seconds between failed starts: 1, 2, 4, 8, 8 ...
RECYCLES_ENV = "FASTFLYER_RECYCLES"  # recycle counts handed across the single process's exec
BOOT_FAILURES_ENV = "FASTFLYER_BOOT_FAILURES"  # failed starts in a row, likewise
SERVING_ENV = "FASTFLYER_SERVING"  # "1" once the server has said it serves, likewise
RECYCLE_REASONS = ("max_requests", "max_rss", "max_age")
MIB = 1024 * 1024


def backoff(failures: int) -> float:
    """Seconds to wait before the next start after ``failures`` failed ones."""
    return min(MAX_BACKOFF, 2.0 ** max(0, failures - 1))


@dataclass
class RecycleLimits:
    """When a worker has served its time; None = no such limit."""

    requests: int | None = None
    rss_bytes: int | None = None
    age: float | None = None  # seconds, jitter included

    @classmethod
    def from_settings(cls, settings: FlyerSettings) -> RecycleLimits:
        requests = None
        if settings.enable_max_requests and settings.max_requests:
            requests = settings.max_requests + random.randint(0, settings.max_requests_jitter)
        age = None
        if settings.worker_max_age:
            age = settings.worker_max_age * (1 + random.uniform(0, AGE_JITTER))
        rss = settings.worker_max_rss * MIB if settings.worker_max_rss else None
        return cls(requests=requests, rss_bytes=rss, age=age)


@dataclass
class Lifecycle:
    """The watch of one serving process, asked on every tick of its event loop."""

    limits: RecycleLimits = field(default_factory=RecycleLimits)
    drain_delay: float = 0.0
    on_started: Callable[[], None] | None = None
    started_at: float = field(default_factory=time.monotonic)
    recycle_reason: str | None = None
    _next_rss_check: float = 0.0
    _last_tick: float | None = None
    _worst_lag: float = 0.0

    @classmethod
    def from_settings(cls, settings: FlyerSettings,
                      on_started: Callable[[], None] | None = None) -> Lifecycle:
        limits = RecycleLimits() if settings.reload else RecycleLimits.from_settings(settings)
        return cls(limits=limits, drain_delay=settings.drain_delay_seconds, on_started=on_started)

    def started(self) -> None:
        self.started_at = time.monotonic()
        self._next_rss_check = self.started_at + RSS_CHECK_SECONDS
        if self.on_started is not None:
            self.on_started()

    def due(self, total_requests: int, now: float) -> str | None:
        """The recycle reason (``max_requests``, ``max_rss``, ``max_age``) once one is due; it
        is logged and counted here, once."""
        if self.recycle_reason is not None:
            return self.recycle_reason
        limits = self.limits
        reason = detail = None
        if limits.requests is not None and total_requests >= limits.requests:
            reason, detail = "max_requests", f"served {total_requests} requests (limit {limits.requests})"
        elif limits.age is not None and now - self.started_at >= limits.age:
            reason, detail = "max_age", f"age {now - self.started_at:.0f} s (limit {limits.age:.0f} s)"
        elif limits.rss_bytes is not None and now >= self._next_rss_check:
            self._next_rss_check = now + RSS_CHECK_SECONDS
            rss = procfs.resident_bytes()
            if rss is not None and rss > limits.rss_bytes:
                reason = "max_rss"
                detail = f"resident memory {rss // MIB} MiB (limit {limits.rss_bytes // MIB} MiB)"
        if reason is not None:
            self.recycle_reason = reason
            logger.info(f"recycling worker {os.getpid()}: {detail}; it stops accepting, "
                        f"finishes its requests and is replaced")
            count_recycle(reason)
        return reason

    def tick(self, now: float, interval: float) -> None:
        """Note how late this tick of the loop came (event-loop lag)."""
        if self._last_tick is not None:
            self._worst_lag = max(self._worst_lag, now - self._last_tick - interval)
        self._last_tick = now

    def take_lag(self) -> float:
        """The worst lag since the last call (the loop reports it once a second)."""
        worst, self._worst_lag = max(0.0, self._worst_lag), 0.0
        return worst


def count_recycle(reason: str, times: int = 1) -> None:
    from fastflyer.observability import metrics

    metrics.record_recycle(reason, times)


def inherited_recycles() -> dict[str, int]:
    """Recycle counts a previous incarnation of this process (the single process re-executes
    itself) handed over: counted again here, so that ``/metrics`` keeps them."""
    counts: dict[str, int] = {}
    for item in filter(None, os.environ.pop(RECYCLES_ENV, "").split(",")):
        reason, _, times = item.partition("=")
        if reason in RECYCLE_REASONS and times.isdigit():
            counts[reason] = int(times)
            count_recycle(reason, int(times))
    return counts


def hand_over_recycles(counts: dict[str, int], reason: str) -> None:
    counts = {**counts, reason: counts.get(reason, 0) + 1}
    os.environ[RECYCLES_ENV] = ",".join(f"{k}={v}" for k, v in sorted(counts.items()))


class BootRecord:
    """Failed starts in a row, and whether the server has said it serves: shared by every
    worker of one master (``shared``: memory mapped before the fork), or handed across the
    single process's re-exec."""

    def __init__(self, shared: bool = False) -> None:
        inherited = os.environ.pop(BOOT_FAILURES_ENV, "0")
        failures = int(inherited) if inherited.isdigit() else 0
        announced = os.environ.pop(SERVING_ENV, "") == "1"
        if shared:
            from multiprocessing import get_context
            from multiprocessing.sharedctypes import RawValue

            self._failures = RawValue("i", failures)
            # The fork context's lock is an unnamed semaphore: no resource-tracker process
            # (the default start method is no longer fork from Python 3.14).
            self._announced = get_context("fork").Value("b", announced)
        else:  # one process: plain values (no shared memory to map at start-up)
            self._failures = _Value(failures)
            self._announced = _Value(announced)

    @property
    def count(self) -> int:
        return int(self._failures.value)

    def succeeded(self) -> bool:
        """A start succeeded; True for the server's first (it then says it serves)."""
        self._failures.value = 0
        with self._announced.get_lock():
            first = not self._announced.value
            self._announced.value = True
        return first

    def failed(self, cause: str) -> bool:
        """Record a failed start; True when the server should retry (after :func:`backoff`),
        False when it should give up. Logs one line either way."""
        self._failures.value += 1
        failures = self.count
        if failures >= BOOT_ATTEMPTS:
            logger.error(f"start-up failed {failures} times in a row, giving up: {cause}")
            return False
        logger.warning(f"start-up failed (attempt {failures} of {BOOT_ATTEMPTS}), retrying in "
                       f"{backoff(failures):g} s: {cause}")
        return True

    def hand_over(self) -> None:
        os.environ[BOOT_FAILURES_ENV] = str(self.count)
        os.environ[SERVING_ENV] = "1" if self._announced.value else "0"


class _Value:
    """A plain value with the interface of a shared ctypes ``Value``."""

    def __init__(self, value: int) -> None:
        self.value = value

    def get_lock(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


_boot_record: BootRecord | None = None


def boot_record() -> BootRecord:
    """This server's record of starts; a master makes it before forking its workers."""
    global _boot_record
    if _boot_record is None:
        _boot_record = BootRecord(shared=True)
    return _boot_record


class StartupErrors(logging.Filter):
    """While a worker starts, remembers the last error uvicorn logged (an app whose start-up
    raised: the last line of its traceback), so a failed start is reported on one line."""

    def __init__(self) -> None:
        super().__init__()
        self.cause = "the app's start-up failed (see the lines above)"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            lines = [line.strip() for line in record.getMessage().splitlines() if line.strip()]
            if lines and not lines[-1].startswith("Application startup failed"):
                self.cause = lines[-1]
        return True
