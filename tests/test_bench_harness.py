"""The benchmark harness runs end to end (`benchmarks/run.py --quick`): every contender starts,
wrk drives it, and the table and JSON come out complete. No speed is asserted here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support import REPO, need

pytestmark = pytest.mark.tool


@pytest.mark.timeout(560)
def test_quick_run_prints_table_and_writes_json(tmp_path):
    need(shutil.which("wrk") is not None, "wrk is not installed (apt-get install wrk)")
    need(shutil.which("taskset") is not None, "taskset is not installed (util-linux)")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=540,
        env={k: v for k, v in os.environ.items() if not k.lower().startswith("flyer_")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for heading in ("req/s", "p99 ms", "CPU us/req", "worker RSS MiB", "start->200 ms",
                    "tree PSS MiB", "(item@100)", "sockets held @1000", "target", "x G0",
                    "x G1"):
        assert heading in proc.stdout

    result = json.loads(out.read_text())
    summary = result["summary"]
    assert set(summary) == {"fastflyer", "fastflyer+log", "fastflyer-granian", "R0", "R0r", "R1",
                            "G0", "G1"}
    for name, entry in summary.items():
        assert entry["startup_ms"] > 0, name
        assert entry["worker_rss_mib"] > 0, name
        assert entry["tree_pss_mib"] > 0 and entry["idle_pss_mib"] > 0, name
        for key, cell in entry["cells"].items():
            assert cell["requests"] > 0 and cell["rps"] > 0, (name, key)
            assert cell["p50_ms"] <= cell["p99_ms"], (name, key)
            assert cell["cpu_us_per_req"] > 0, (name, key)
            assert cell["tree_pss_after_mib"] > 0 and cell["sockets_held"] >= 1, (name, key)
    # FastFlyer's acceptor takes every client of the 1000-connection cell
    assert summary["fastflyer"]["cells"]["item@1000"]["sockets_held"] >= 1000
    # at one worker fastflyer runs without a master, like the references
    assert summary["fastflyer"]["master_rss_mib"] is None
    assert summary["R0"]["master_rss_mib"] is None
    # granian always has a main process beside its worker (FastFlyer's engine and bare granian)
    for name in ("fastflyer-granian", "G0", "G1"):
        assert summary[name]["master_rss_mib"] is not None, name
    # the access-log contender really logged (to its file), about one line per request
    logged = summary["fastflyer+log"]["access_log_lines"]
    assert logged >= summary["fastflyer+log"]["cells"]["item@100"]["requests"] * 0.9
    # same route, same bytes: FastFlyer and the bare FastAPI reference answer identically
    bodies = {name: r["bodies"] for name, r in result["rounds"][0]["contenders"].items()}
    for route in ("health", "item", "export"):
        assert bodies["fastflyer"][route] == bodies["R0"][route], route
        # the same answers whatever the engine, and from the same app on granian
        assert bodies["fastflyer-granian"][route] == bodies["R0"][route], route
        assert bodies["G0"][route] == bodies["R0"][route], route
    assert bodies["R1"]["health"] == bodies["R0"]["health"] == bodies["G1"]["health"]
    for route in ("health", "item", "export"):  # R0r: the same app on bare uvicorn
        assert bodies["R0r"][route] == bodies["R0"][route], route
    assert [t["target"] for t in result["targets"]] and all(
        t["value"] is not None for t in result["targets"])
