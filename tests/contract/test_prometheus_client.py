"""Contract of fastflyer/adapters/prometheus_client.py with the installed prometheus-client."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from bisect import bisect_left
from importlib.metadata import version

from fastflyer.adapters import prometheus_client as adapter
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

BOUNDS = (0.1, 1.0, 5.0)
VALUES = (0.05, 0.1, 0.3, 0.3, 2.0, 7.5, 0.0)


def changed(what: str) -> str:
    return (f"prometheus_client {version('prometheus-client')} {what}: "
            "update fastflyer/adapters/prometheus_client.py")


def exposition(fill) -> list[str]:
    registry = CollectorRegistry()
    histogram = Histogram("latency", "Latency.", ["route"], buckets=BOUNDS, registry=registry)
    fill(histogram.labels("/x"))
    return [line for line in generate_latest(registry).decode().splitlines()
            if "_created" not in line]


def test_a_histogram_child_keeps_a_sum_and_a_value_per_bucket():
    child = Histogram("shape", "Shape.", ["route"], buckets=BOUNDS,
                      registry=CollectorRegistry()).labels("/x")
    assert callable(getattr(getattr(child, "_sum", None), "inc", None)), changed(
        "removed Histogram._sum (or its inc())")
    buckets = getattr(child, "_buckets", None)
    assert isinstance(buckets, list) and len(buckets) == len(BOUNDS) + 1, changed(
        "changed Histogram._buckets (no longer a list with one value per bucket and +Inf)")
    assert all(callable(getattr(b, "inc", None)) for b in buckets), changed(
        "changed Histogram._buckets (its values have no inc())")


def test_added_observations_expose_as_observe_does():
    def observed(child) -> None:
        for value in VALUES:
            child.observe(value)

    def added(child) -> None:
        counts = [0] * (len(BOUNDS) + 1)
        for value in VALUES:
            counts[bisect_left((*BOUNDS, float("inf")), value)] += 1
        adapter.add_observations(child, sum(VALUES), counts)

    assert exposition(added) == exposition(observed), changed(
        "changed what Histogram.observe() writes (_sum, per-bucket _buckets)")


def test_mmaped_dict_keeps_its_shape():
    shapes = {
        "read_value": ["self", "key"],
        "write_value": ["self", "key", "value", "timestamp"],
        "close": ["self"],
    }
    for name, params in shapes.items():
        method = getattr(MmapedDict, name, None)
        assert method is not None and list(inspect.signature(method).parameters) == params, \
            changed(f"changed MmapedDict.{name} (expected parameters {params})")
    assert isinstance(inspect.getattr_static(MmapedDict, "read_all_values_from_file", None),
                      staticmethod), changed(
        "changed MmapedDict.read_all_values_from_file (no longer a static method)")


WORKER = """
from prometheus_client import Counter, Histogram
Counter("jobs", "Jobs.", ["kind"]).labels("a").inc(3)
Histogram("latency", "Latency.", buckets=(0.1, 1.0)).observe(0.5)
import os; print(os.getpid())
"""


def dead_worker(directory: str) -> int:
    """Run a process in multiprocess mode that writes a counter and a histogram, and exits."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
    done = subprocess.run([sys.executable, "-c", WORKER], env=env, check=True,
                          capture_output=True, text=True, timeout=60)
    return int(done.stdout)


def totals(directory: str) -> dict[str, float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return {sample.name: sample.value for metric in registry.collect()
            for sample in metric.samples if sample.name in ("jobs_total", "latency_count")}


def test_dead_workers_files_fold_into_an_archive_the_collector_reads(tmp_path):
    directory = str(tmp_path)
    pids = [dead_worker(directory), dead_worker(directory)]
    for pid in pids:
        for kind in ("counter", "histogram"):
            dead = adapter.values_file(directory, kind, pid)
            assert os.path.exists(dead), changed(
                f"no longer keeps a process's {kind} values in {os.path.basename(dead)}")
    assert totals(directory) == {"jobs_total": 6.0, "latency_count": 2.0}
    for pid in pids:
        for kind in ("counter", "histogram"):
            dead = adapter.values_file(directory, kind, pid)
            adapter.add_file_values(dead, adapter.values_file(directory, kind, "archive"))
            os.unlink(dead)
    assert sorted(os.listdir(directory)) == ["counter_archive.db", "histogram_archive.db"]
    assert totals(directory) == {"jobs_total": 6.0, "latency_count": 2.0}, changed(
        "reads or writes multiprocess files differently: folded archive files lost values")
