"""Prometheus metrics: definitions, the multiprocess set-up for several workers (gunicorn or
granian), and the exposition.

With several workers (gunicorn, granian) every worker writes its values to memory-mapped
files in one per-start directory (prometheus-client's multiprocess mode) and a scrape of any
worker sums them all.
That mode is chosen when ``prometheus_client`` is first imported, so the directory must be
set before that: :func:`prepare_multiprocess_dir` runs in the main process before the app
loads, and nothing imports ``prometheus_client`` until metrics are switched on.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import platform
import shutil
import sys
import tempfile
from bisect import bisect_left
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from fastflyer import __version__
from fastflyer.adapters import prometheus_client as prometheus_adapter
from fastflyer.observability import procfs
from fastflyer.observability.logs import logger

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DIR_PREFIX = "fastflyer-metrics-"
LOCK_FILE = ".fold.lock"
UNMATCHED_ROUTE = "<unmatched>"
# Seconds; from a fast cached answer to a slow upstream call.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BUCKET_BOUNDS = (*LATENCY_BUCKETS, float("inf"))
STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}
BUILD_PACKAGES = ("fastapi", "starlette", "pydantic", "uvicorn", "gunicorn")

_metrics: FlyerMetrics | None = None
_owned_dir: tuple[int, Path] | None = None  # (pid of the master that made it, path)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


@contextlib.contextmanager
def _dir_lock(directory: str, operation: int) -> Iterator[None]:
    """Scrapes (shared) never see a dead worker's files half folded into the archive
    (exclusive), which would make totals dip or double for a moment."""
    fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)


class RequestTally:
    """Requests answered with one (method, route, status class) and not yet written."""

    __slots__ = ("seconds", "buckets")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.buckets = [0] * len(BUCKET_BOUNDS)

    def add(self, seconds: float) -> None:
        self.seconds += seconds
        self.buckets[bisect_left(BUCKET_BOUNDS, seconds)] += 1  # first bound >= seconds


class FlyerMetrics:
    """Every FastFlyer metric, defined once per process."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.directory = os.environ.get(MULTIPROC_ENV) or None
        # In multiprocess mode values live in the directory; the metrics need no registry.
        own = None if self.directory else CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "fastflyer_http_requests", "HTTP requests served, by method, route template and "
            "status class.", ["method", "route", "status"], registry=own)
        self.http_latency = Histogram(
            "fastflyer_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=own)
        self.http_in_progress = Gauge(
            "fastflyer_http_requests_in_progress", "HTTP requests being answered right now.",
            multiprocess_mode="livesum", registry=own)
        self.worker_starts = Counter(
            "fastflyer_worker_starts", "Worker processes started.", registry=own)
        self.worker_exits = Counter(
            "fastflyer_worker_exits", "Worker processes that exited (or were killed).",
            registry=own)
        self.worker_recycles = Counter(
            "fastflyer_worker_recycles", "Workers recycled, by reason: max_requests, max_rss, "
            "max_age.", ["reason"], registry=own)
        # In multiprocess mode each live worker's value is kept with a `pid` label.
        self.loop_lag = Gauge(
            "fastflyer_event_loop_lag_seconds", "How late the worker's event loop ran its "
            "timers in the last second (a blocked loop delays every request).",
            multiprocess_mode="liveall", registry=own)
        self.job_runs = Counter(
            "fastflyer_scheduler_job_runs", "Scheduled job runs by outcome: success, failure, "
            "lock_skipped (another worker or replica held the job's lock).",
            # Not "job": Prometheus gives that label to the scrape job.
            ["job_id", "outcome"], registry=own)
        self.outbound = Counter(
            "fastflyer_http_client_requests", "Calls made with fastflyer.Client/AsyncClient, by "
            "host and status code (`error` when no answer came).", ["host", "status"],
            registry=own)
        self.outbound_latency = Histogram(
            "fastflyer_http_client_request_duration_seconds", "Duration of outbound calls.",
            ["host"], buckets=LATENCY_BUCKETS, registry=own)
        self.registry = own if own is not None else self._multiprocess_registry()
        self.registry.register(BuildInfoCollector())
        self.registry.register(ProcessTreeCollector(several_workers=own is None))
        self._request_children: dict[tuple[str, str, str], Any] = {}
        self._latency_children: dict[tuple[str, str], Any] = {}

    def _multiprocess_registry(self) -> Any:
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        directory = self.directory

        class FoldSafeCollector(MultiProcessCollector):
            def collect(self) -> Any:
                with _dir_lock(directory, fcntl.LOCK_SH):
                    return super().collect()

        registry = CollectorRegistry(auto_describe=True)
        FoldSafeCollector(registry, path=directory)
        return registry

    def write_requests(self, batch: dict[tuple[str, str, str], RequestTally]) -> None:
        """Add answered requests, keyed by (method, route, status class); label children are
        cached (``labels()`` is slow)."""
        for key, tally in batch.items():
            counter = self._request_children.get(key)
            if counter is None:
                counter = self._request_children[key] = self.http_requests.labels(*key)
            counter.inc(sum(tally.buckets))
            histogram = self._latency_children.get(key[:2])
            if histogram is None:
                histogram = self._latency_children[key[:2]] = self.http_latency.labels(*key[:2])
            # observe() takes one value at a time; a tally is written in one addition each.
            prometheus_adapter.add_observations(histogram, tally.seconds, tally.buckets)

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition in the format the scraper asked for (text or OpenMetrics)."""
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def get_metrics() -> FlyerMetrics:
    """The process's metrics, defined on first use (this imports prometheus_client)."""
    global _metrics
    if _metrics is None:
        _metrics = FlyerMetrics()
    return _metrics


def record_job_run(job_id: str, outcome: str) -> None:
    """Count a scheduled job run: ``success``, ``failure`` or ``lock_skipped``.
    A no-op unless this process serves metrics."""
    if _metrics is not None:
        _metrics.job_runs.labels(job_id, outcome).inc()


def record_recycle(reason: str, times: int = 1) -> None:
    """Count a worker recycle (``max_requests``, ``max_rss``, ``max_age``)."""
    if _metrics is not None:
        _metrics.worker_recycles.labels(reason).inc(times)


def record_loop_lag(seconds: float) -> None:
    if _metrics is not None:
        _metrics.loop_lag.set(seconds)


def record_outbound(host: str, status: int | str, seconds: float | None = None) -> None:
    """Count a call made by the SDK HTTP client (status code, or ``error`` without an answer).
    A no-op unless this process serves metrics."""
    if _metrics is not None:
        _metrics.outbound.labels(host, str(status)).inc()
        if seconds is not None:
            _metrics.outbound_latency.labels(host).observe(seconds)


# --- collected when scraped -------------------------------------------------------------------
# Each has ``describe()``: a registry with auto_describe would otherwise call ``collect()`` at
# registration, in every worker's start.

class BuildInfoCollector:
    """``fastflyer_build_info``: the versions are looked up on the first scrape, not at every
    worker's start (each package-metadata lookup scans ``sys.path``)."""

    def __init__(self) -> None:
        self._labels: list[str] | None = None

    @staticmethod
    def describe() -> list[Any]:
        from prometheus_client.core import GaugeMetricFamily

        return [GaugeMetricFamily("fastflyer_build_info",
                                  "Versions of FastFlyer and its stack (always 1).",
                                  labels=["version", "python", *BUILD_PACKAGES])]

    def collect(self) -> Iterator[Any]:
        if self._labels is None:
            self._labels = [__version__, platform.python_version(),
                            *(_version(p) for p in BUILD_PACKAGES)]
        (build,) = self.describe()
        build.add_metric(self._labels, 1)
        yield build


class ProcessTreeCollector:
    """Memory, CPU and open files of every process of the server, read from /proc when
    scraped: the main process (gunicorn master, granian main) and each worker, labelled by
    pid. Nothing is written while serving, and a worker's values vanish with it."""

    def __init__(self, several_workers: bool) -> None:
        self.several_workers = several_workers

    def processes(self) -> list[tuple[int, str]]:
        if not self.several_workers:
            return [(os.getpid(), "worker")]
        main = os.getppid()
        return [(main, "main"), *((pid, "worker") for pid in sorted(procfs.children(main)))]

    @staticmethod
    def describe() -> list[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = ["pid", "role"]
        return [
            GaugeMetricFamily("fastflyer_process_resident_memory_bytes",
                              "Resident memory of each server process.", labels=labels),
            CounterMetricFamily("fastflyer_process_cpu_seconds",
                                "CPU time (user + system) of each server process.",
                                labels=labels),
            GaugeMetricFamily("fastflyer_process_open_fds",
                              "Open file descriptors of each server process.", labels=labels),
        ]

    def collect(self) -> Iterator[Any]:
        rss, cpu, fds = self.describe()
        for pid, role in self.processes():
            values = procfs.usage(pid)
            if values is None:
                continue
            label_values = [str(pid), role]
            rss.add_metric(label_values, values[0])
            cpu.add_metric(label_values, values[1])
            if values[2] is not None:
                fds.add_metric(label_values, values[2])
        yield from (rss, cpu, fds)


# --- several workers: the main process (gunicorn master, granian's main process) ----------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_dirs(parent: Path) -> None:
    """Directories left by masters that died without cleaning up (SIGKILL, OOM)."""
    for candidate in parent.glob(f"{DIR_PREFIX}*"):
        pid = candidate.name.removeprefix(DIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid))):
            shutil.rmtree(candidate, ignore_errors=True)


def _remove_owned_dir() -> None:
    # Workers inherit this atexit handler through fork; only the master removes the directory.
    if _owned_dir is not None and _owned_dir[0] == os.getpid():
        shutil.rmtree(_owned_dir[1], ignore_errors=True)


def prepare_multiprocess_dir() -> Path | None:
    """Point prometheus-client at an empty directory shared by this start's workers.

    A ``PROMETHEUS_MULTIPROC_DIR`` given by the operator is used (and emptied); otherwise a
    fresh directory under ``$TMPDIR`` (or /tmp) is made and removed when the master exits.
    Returns None (metrics then stay per worker) when no writable directory exists.
    """
    global _owned_dir
    if "prometheus_client" in sys.modules:
        logger.warning("prometheus_client was imported before the server started; "
                       "/metrics may show one worker's values only")
    given = os.environ.get(MULTIPROC_ENV)
    try:
        if given:
            directory = Path(given)
            directory.mkdir(parents=True, exist_ok=True)
            for stale in directory.glob("*.db"):
                stale.unlink()
        else:
            parent = Path(tempfile.gettempdir())
            _remove_stale_dirs(parent)
            directory = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-", dir=parent))
            _owned_dir = (os.getpid(), directory)
            atexit.register(_remove_owned_dir)
    except OSError as exc:
        logger.warning(f"no writable directory for worker metrics ({exc}); "
                       f"/metrics will show one worker's values only")
        return None
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def worker_started() -> None:
    """A worker started (gunicorn's ``post_fork``, granian's worker start-up; the single
    process at its start)."""
    get_metrics().worker_starts.inc()


def worker_exited(pid: int) -> None:
    """A worker exited (gunicorn's ``child_exit``, granian's exit watcher; in the main
    process): count the exit, drop the dead worker's live
    gauges and fold its counters and histograms into one archive file per type, so the
    directory (and the cost of a scrape) does not grow with every recycled worker."""
    from prometheus_client.multiprocess import mark_process_dead

    metrics = get_metrics()
    metrics.worker_exits.inc()
    directory = metrics.directory
    if directory is None:
        return
    mark_process_dead(pid, directory)
    with _dir_lock(directory, fcntl.LOCK_EX):
        for kind in ("counter", "histogram"):
            dead = prometheus_adapter.values_file(directory, kind, pid)
            if not os.path.exists(dead):
                continue
            archive = prometheus_adapter.values_file(directory, kind, "archive")
            prometheus_adapter.add_file_values(dead, archive)
            os.unlink(dead)
        # Its build-info gauge too: the master's own copy keeps the series alive.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(prometheus_adapter.values_file(directory, "gauge_max", pid))
