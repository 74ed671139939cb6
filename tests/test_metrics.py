"""Prometheus metrics: route templates, exclusions, and exact totals across real workers under
each engine (gunicorn, granian), including a worker killed mid-run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support import DEMO, base_env, child_pids, each_engine, run_server

ITEM_ROUTE = "/flyer/items/{item_id}"
USER_ROUTE = "/flyer/users/{user_id}"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def requests_total(values: dict, route: str, status: str = "2xx", method: str = "GET") -> float:
    key = ("fastflyer_http_requests_total",
           (("method", method), ("route", route), ("status", status)))
    return values.get(key, 0.0)


def scrape(url: str) -> dict:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


@pytest.fixture
def demo_app(monkeypatch):
    """Build the demo app in this process; forget its modules afterwards (other tests import
    their own `app` and `settings`)."""
    from fastflyer.application.factory import create_app
    from fastflyer.settings import load_settings

    monkeypatch.chdir(DEMO)
    path = list(sys.path)
    yield lambda **overrides: create_app(load_settings(app_root=DEMO, access_log=False,
                                                       **overrides))
    for name in list(sys.modules):
        if name in ("app", "settings", "main", "items", "users") or name.startswith(
                ("app.", "items.", "users.")):
            del sys.modules[name]
    sys.path[:] = path


def test_import_fastflyer_does_not_import_prometheus_client():
    code = ("import sys, fastflyer, fastflyer.application.factory, fastflyer.observability.metrics\n"
            "import fastflyer.server\n"
            "from fastflyer.observability.metrics import record_job_run, record_outbound\n"
            "record_job_run('job', 'success'); record_outbound('example.org', 200, 0.1)\n"
            "assert 'prometheus_client' not in sys.modules, 'imported'\n")
    result = subprocess.run([sys.executable, "-c", code], env=base_env(), cwd=str(DEMO),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_versions_and_process_figures_are_read_when_scraped_not_at_start(monkeypatch):
    from fastflyer.observability import metrics, procfs

    def not_at_start(*args):
        raise AssertionError("read at start-up")

    monkeypatch.setattr(metrics, "_version", not_at_start)
    monkeypatch.setattr(procfs, "usage", not_at_start)
    flyer_metrics = metrics.FlyerMetrics()
    monkeypatch.undo()
    text = flyer_metrics.render("text/plain")[0].decode()
    assert f'fastapi="{metadata.version("fastapi")}"' in text
    assert f'fastflyer_process_open_fds{{pid="{os.getpid()}",role="worker"}}' in text


def test_route_templates_and_exclusions_in_process(demo_app):
    app = demo_app(metrics_path="/internal/metrics")
    with TestClient(app) as client:
        before = samples(client.get("/internal/metrics").text)
        for item_id in range(1, 6):
            assert client.get(f"/flyer/items/{item_id}").status_code == 200
        client.get("/flyer/items/0")  # validation error: same template, 4xx
        for path in ("/no/such/1", "/no/such/2", "/flyer/items/1/x"):
            assert client.get(path).status_code == 404
        for path in ("/health_check", "/health_check/async", "/flyer/health_check",
                     "/health_check/ready"):
            client.get(path)
        client.get("/internal/metrics")
        after = samples(client.get("/internal/metrics").text)

    def added(route: str, status: str) -> float:
        return requests_total(after, route, status) - requests_total(before, route, status)

    assert added(ITEM_ROUTE, "2xx") == 5
    assert added(ITEM_ROUTE, "4xx") == 1
    assert added("<unmatched>", "4xx") == 3
    routes = {dict(labels).get("route") for name, labels in after
              if name == "fastflyer_http_requests_total"}
    # No raw paths, no health checks, no scrapes.
    assert not {r for r in routes if r and ("/1" in r or "health" in r or "metrics" in r)}
    assert after[("fastflyer_http_requests_in_progress", ())] == 0


def test_builtin_pages_are_labelled_with_their_own_paths(demo_app):
    with TestClient(demo_app()) as client:
        before = samples(client.get("/metrics").text)
        for path in ("/flyer/docs", "/flyer/redoc", "/flyer/openapi.json",
                     "/flyer/static/swagger-ui/swagger-ui.css"):
            assert client.get(path).status_code == 200, path
        assert client.get("/", follow_redirects=False).status_code in (302, 307)
        after = samples(client.get("/metrics").text)

    def added(route: str, status: str = "2xx") -> float:
        return requests_total(after, route, status) - requests_total(before, route, status)

    for route in ("/flyer/docs", "/flyer/redoc", "/flyer/openapi.json", "/flyer/static/{path}"):
        assert added(route) == 1, route
    assert added("/", "3xx") == 1
    assert added("<unmatched>") == 0 and added("<unmatched>", "3xx") == 0


def test_sdk_hooks_count_jobs_and_outbound_calls(demo_app):
    from fastflyer.observability.metrics import record_job_run, record_outbound

    app = demo_app()
    with TestClient(app) as client:
        before = samples(client.get("/metrics").text)
        record_job_run("nightly-report", "success")
        record_job_run("nightly-report", "lock_skipped")
        record_outbound("api.example.org", 503, 0.2)
        record_outbound("api.example.org", "error")
        after = samples(client.get("/metrics").text)

    def added(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    runs = "fastflyer_scheduler_job_runs_total"
    assert added(runs, job_id="nightly-report", outcome="success") == 1
    assert added(runs, job_id="nightly-report", outcome="lock_skipped") == 1
    calls = "fastflyer_http_client_requests_total"
    assert added(calls, host="api.example.org", status="503") == 1
    assert added(calls, host="api.example.org", status="error") == 1
    assert added("fastflyer_http_client_request_duration_seconds_count", host="api.example.org") == 1


def test_metrics_switched_off(demo_app):
    app = demo_app(metrics_enable=False)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def _send(url: str, request_id: str) -> int:
    # A fresh connection per request, so the kernel spreads them over both workers.
    with httpx.Client(timeout=10) as client:
        return client.get(url, headers={"X-Request-ID": request_id}).status_code


@each_engine
def test_totals_across_two_workers_survive_a_killed_worker(engine):
    env = {"flyer_workers": "2", "flyer_log_format": "json", "flyer_server": engine}
    with run_server(cwd=DEMO, env=env) as srv:
        metrics_dirs = list(Path(tempfile.gettempdir()).glob(
            f"fastflyer-metrics-{srv.proc.pid}-*"))
        assert len(metrics_dirs) == 1
        calls = [(f"/flyer/items/{n % 7 + 1}", f"items-{n}") for n in range(120)]
        calls += [(f"/flyer/users/{n + 1}", f"users-{n}") for n in range(3)]
        calls += [(f"/missing/{n}", f"missing-{n}") for n in range(40)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(lambda c: _send(srv.url(c[0]), c[1]), calls))
        assert codes.count(404) >= 40
        values = scrape(srv.url("/metrics"))
        assert requests_total(values, ITEM_ROUTE) == 120
        assert requests_total(values, "<unmatched>", "4xx") == 40
        users = sum(requests_total(values, USER_ROUTE, s) for s in ("2xx", "4xx"))
        assert users == 3
        latency_count = ("fastflyer_http_request_duration_seconds_count",
                         (("method", "GET"), ("route", ITEM_ROUTE)))
        assert values[latency_count] == 120
        assert values[("fastflyer_worker_starts_total", ())] == 2
        build = [dict(labels) for name, labels in values if name == "fastflyer_build_info"]
        assert len(build) == 1 and build[0]["fastapi"] == metadata.version("fastapi"), build
        assert build[0]["version"] == metadata.version("fastflyer")

        # JSON access lines parse and carry their own request's id; both workers served.
        time.sleep(0.5)
        access = [json.loads(line) for line in srv.log().splitlines()
                  if '"fastflyer.access"' in line]
        by_id = {record["request_id"]: record for record in access}
        for path, request_id in calls:
            assert by_id[request_id]["path"] == path
        assert by_id["items-0"]["route"] == ITEM_ROUTE
        assert len({record["pid"] for record in access}) == 2

        first = child_pids(srv.proc.pid)
        assert len(first) == 2
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _wait(lambda: len(child_pids(srv.proc.pid) - {victim}) == 2)
        _wait(lambda: scrape(srv.url("/metrics"))[("fastflyer_worker_exits_total", ())] == 1)
        values = scrape(srv.url("/metrics"))
        assert requests_total(values, ITEM_ROUTE) == 120  # the dead worker's counts are kept
        assert values[latency_count] == 120
        assert values[("fastflyer_worker_starts_total", ())] == 3
        # Its files were folded into the archive, not left to pile up.
        assert not list(metrics_dirs[0].glob(f"*_{victim}.db"))

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: _send(srv.url(f"/flyer/items/{n + 1}"), f"more-{n}"),
                          range(30)))
        values = scrape(srv.url("/metrics"))
        assert requests_total(values, ITEM_ROUTE) == 150
        # Published once a second by each worker.
        _wait(lambda: scrape(srv.url("/metrics"))[("fastflyer_http_requests_in_progress", ())] == 0)
    assert not metrics_dirs[0].exists()  # removed when the master exits


@each_engine
def test_reload_mode_serves_metrics_from_its_single_process(engine):
    with run_server("dev", cwd=DEMO, env={"flyer_access_log": "0", "flyer_server": engine}) as srv:
        for item_id in range(1, 4):
            httpx.get(srv.url(f"/flyer/items/{item_id}"))
        values = scrape(srv.url("/metrics"))
    assert requests_total(values, ITEM_ROUTE) == 3


@each_engine
def test_stale_directories_of_dead_masters_are_removed(tmp_path, engine):
    stale = tmp_path / "fastflyer-metrics-999999999-abc"  # no such pid
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"")
    env = {"flyer_workers": "2", "TMPDIR": str(tmp_path), "flyer_server": engine}
    with run_server(cwd=DEMO, env=env) as srv:
        assert not stale.exists()
        assert len(list(tmp_path.glob(f"fastflyer-metrics-{srv.proc.pid}-*"))) == 1
    assert not list(tmp_path.glob("fastflyer-metrics-*"))


def _exported_names(demo_app) -> set[str]:
    with TestClient(demo_app()) as client:
        text = client.get("/metrics").text
    # Families not observed yet are still described (HELP/TYPE) by a single process.
    return {family.name for family in text_string_to_metric_families(text)}


def test_examples_only_use_metrics_the_service_exports(demo_app):
    import yaml

    examples = DEMO.parent
    config = yaml.safe_load((examples / "prometheus" / "prometheus.yml").read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} >= {"fastflyer"}
    rules = yaml.safe_load((examples / "prometheus" / "fastflyer-alerts.yml").read_text())
    dashboard = json.loads((examples / "grafana" / "fastflyer-dashboard.json").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {re.sub(r"_(bucket|count|sum|total)$", "", name)
            for expr in exprs for name in re.findall(r"\bfastflyer_[a-z_]+", expr)}
    exported = {re.sub(r"_(bucket|count|sum|total)$", "", name)
                for name in _exported_names(demo_app)}
    assert used and used <= exported, used - exported
