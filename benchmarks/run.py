"""FastFlyer's benchmark harness: `make bench` (native) and `make bench-image` (container).

Starts each contender alone - FastFlyer on each engine, the reference servers R0 (bare FastAPI)
and R1 (raw ASGI) on uvicorn, G0 and G1 (the same apps) on granian - pinned to one core, drives
it with wrk pinned to the other core, interleaves the contenders over several rounds, prints one
table and writes it as JSON under ``benchmarks/results/``. Never asserts anything about speed;
``--check`` only sets the exit code from the issue's targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

import loadgen
import report
from servers import (
    ROUTES,
    Contender,
    compile_bytecode,
    free_port,
    native_contenders,
    wait_first_200,
)

RESULTS = Path(__file__).resolve().parent / "results"
RSS_SETTLE_SECONDS = 1.0  # after a cell, before the memory after it is read
HELD_SAMPLE_SECONDS = 0.5  # how often open sockets are counted during a cell
WARMUP_CLOSE_SECONDS = 5.0  # at most, for the server to close the warm-up's connections
PACKAGES = ("fastflyer", "fastapi", "starlette", "pydantic", "pydantic-core", "uvicorn",
            "gunicorn", "granian", "uvloop", "httptools", "orjson")


def pick_cpus() -> tuple[int | None, int | None, str | None]:
    """Server core, wrk core, and a warning when they cannot be kept apart."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None, f"only {len(cpus)} CPU available: server and wrk share it"
    return cpus[0], cpus[1], None


def body_digest(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return hashlib.sha256(response.read()).hexdigest()[:16]


class HeldConnections:
    """The most sockets the server's processes held open during a cell, sampled."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(HELD_SAMPLE_SECONDS):
            self.peak = max(self.peak, self.server.sockets())

    def __enter__(self) -> HeldConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def wait_closed(server: Any, idle_sockets: int) -> float:
    """Seconds until the server has closed the warm-up's connections (it counts one until it
    reads its end), so that the measured run starts with its own clients only."""
    started = time.monotonic()
    while server.sockets() > idle_sockets and time.monotonic() - started < WARMUP_CLOSE_SECONDS:
        time.sleep(0.02)
    return time.monotonic() - started


def measure(contender: Contender, args: argparse.Namespace, wrk: str, wrk_cpu: int | None,
            scratch: Path) -> dict[str, Any]:
    """Start the contender, time it to its first 200, run its cells, read CPU and RSS, stop."""
    scratch.mkdir(parents=True, exist_ok=True)
    log_file = scratch / "access.log"
    log_file.unlink(missing_ok=True)
    port = free_port()
    started = time.perf_counter()
    server = contender.start(port, scratch)
    # Other work on the machine skews every figure: keep the load next to them.
    result: dict[str, Any] = {"cells": {}, "loadavg_1m": os.getloadavg()[0]}
    try:
        wait_first_200(port, server.alive)
        result["startup_ms"] = (time.perf_counter() - started) * 1000
        result["idle_pss_mib"] = server.tree_pss_mib()
        result["bodies"] = {c.route: body_digest(server.url(ROUTES[c.route]))
                            for c in contender.cells}
        for cell in contender.cells:
            url = server.url(ROUTES[cell.route])
            closed_after = 0.0
            if args.warmup:
                idle_sockets = server.sockets()
                loadgen.run_wrk(wrk, url, cell.connections, args.warmup, wrk_cpu)
                closed_after = wait_closed(server, idle_sockets)
            cpu_before = server.cpu_seconds()
            with HeldConnections(server) as held:
                run = loadgen.run_wrk(wrk, url, cell.connections, args.duration, wrk_cpu)
            cpu_used = server.cpu_seconds() - cpu_before
            run["cpu_us_per_req"] = cpu_used * 1e6 / max(run["requests"], 1)
            run["sockets_held"] = held.peak
            run["warmup_closed_s"] = round(closed_after, 3)
            run["worker_rss_at_end_mib"] = server.memory()["worker_rss_mib"]  # clients still on
            # Memory after each cell (clients gone, server settled): a server that accepts
            # only part of a cell's clients pays less for it, so compare like for like.
            time.sleep(RSS_SETTLE_SECONDS)
            settled = server.memory()
            run["tree_pss_after_mib"] = settled["tree_pss_mib"]
            run["worker_rss_after_mib"] = settled["worker_rss_mib"]
            result["cells"][cell.key] = run
            print(f"  {contender.name:<17} {cell.key:<12} {run['rps']:>9,.0f} req/s  "
                  f"p99 {run['p99_us'] / 1000:.2f} ms  errors {run['errors']}", flush=True)
        result["worker_rss_at_end_mib"] = run["worker_rss_at_end_mib"]
        result.update(settled)  # after the last cell
    except Exception:
        print(f"--- {contender.name} output ---\n{server.log_path.read_text(errors='replace')}",
              file=sys.stderr)
        raise
    finally:
        server.stop()
    if contender.access_log is not None:
        result["access_log_lines"] = (sum(1 for _ in log_file.open("rb"))
                                      if log_file.exists() else 0)
    return result


def environment(wrk: str, server_cpu: int | None, wrk_cpu: int | None) -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu_model": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "packages": versions,
            "wrk": loadgen.wrk_version(wrk), "server_cpu": server_cpu, "wrk_cpu": wrk_cpu}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round x 3 s per cell")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=int, help="seconds of load per cell (default 10)")
    parser.add_argument("--warmup", type=int, help="unmeasured seconds per cell (default 1)")
    parser.add_argument("--image", action="store_true",
                        help="benchmark the container image (the seed's docker run) instead")
    parser.add_argument("--only", help="comma-separated contender names to run")
    parser.add_argument("--out", type=Path, help="JSON file to write (default under results/)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (3 if args.quick else 10)
    args.warmup = 1 if args.warmup is None else args.warmup  # wrk takes whole seconds
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = loadgen.ensure_wrk()
    server_cpu, wrk_cpu, warning = pick_cpus()
    if wrk_cpu is not None:
        os.sched_setaffinity(0, {wrk_cpu})  # the harness's own polling stays off the server core
    if args.image:
        import container

        contenders = container.image_contenders()
        mode = "image"
    else:
        compile_bytecode()
        contenders = native_contenders(server_cpu)
        mode = "native"
    if args.only:
        wanted = set(args.only.split(","))
        contenders = [c for c in contenders if c.name in wanted]
    order = [c.name for c in contenders]
    if warning:
        print(f"warning: {warning}", file=sys.stderr)

    rounds = []
    with tempfile.TemporaryDirectory(prefix="ff-bench-") as tmp:
        for index in range(args.rounds):
            shift = index % len(contenders)  # rotate so no contender always runs first
            print(f"round {index + 1}/{args.rounds}", flush=True)
            sample = {"contenders": {}}
            for contender in contenders[shift:] + contenders[:shift]:
                sample["contenders"][contender.name] = measure(
                    contender, args, wrk, wrk_cpu, Path(tmp) / contender.name)
            rounds.append(sample)

    summary = report.summarize(rounds)
    targets = report.evaluate(summary)
    print()
    print(report.render(summary, targets, order))
    stamp = dt.datetime.now(dt.timezone.utc)
    payload = {
        "mode": mode,
        "date": stamp.isoformat(timespec="seconds"),
        "config": {"rounds": args.rounds, "duration_s": args.duration, "warmup_s": args.warmup,
                   "wrk_threads": 10, "wrk_timeout_s": 2, "routes": ROUTES,
                   "contenders": {c.name: c.description for c in contenders}},
        "environment": environment(wrk, server_cpu, wrk_cpu),
        "warning": warning,
        "summary": summary,
        "targets": targets,
        "rounds": rounds,
    }
    prefix = "quick-" if args.quick else ""
    out = args.out or RESULTS / f"{prefix}{mode}-{stamp:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nresults written to {out}")
    missed = [t for t in targets if t["met"] is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
