"""Where the microseconds go, without the network: each app is called in-process with a
prebuilt request, so the figures are the application's own cost per request (no HTTP
parsing, no sockets) and stay stable on a busy machine.

    python3 benchmarks/layers.py [--requests N]

Variants switch FastFlyer's optional layers off one at a time through its settings, so the
difference between two lines is what that layer costs. The reference apps R0 and R1 are the
same ones ``run.py`` serves.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from servers import DEMO, REFERENCE, ROUTES

# prometheus-client picks its multiprocess mode at import: be in it, as under gunicorn.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="ff-layers-"))


def scope_for(target: str) -> dict[str, Any]:
    path, _, query = target.partition("?")
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080), "state": {},
    }


async def per_request_us(app: Any, target: str, requests: int, repeats: int = 5) -> float:
    """Best of ``repeats`` timings of ``requests`` sequential calls, in µs per request."""
    template = scope_for(target)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(min(requests, 2000)):  # warm caches (route compilation, pydantic)
        await app(dict(template), receive, send)
    if statuses[-1] != 200:
        raise RuntimeError(f"{target} answered {statuses[-1]}")
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(requests):
            await app(dict(template), receive, send)
        best = min(best, (time.perf_counter() - start) / requests * 1e6)
    return best


def flyer_app(bare: bool = False, **overrides: Any) -> Any:
    """The demo service's ASGI stack; ``bare``: without FastFlyer's own ASGI layers, i.e.
    only FastAPI with the demo's routes, FastFlyer's exception handlers and docs routes."""
    from fastapi import FastAPI
    from fastflyer.application.factory import create_app
    from fastflyer.settings import FlyerSettings

    app = create_app(FlyerSettings(app_root=DEMO, **overrides))
    return FastAPI.build_middleware_stack(app) if bare else app.build_middleware_stack()


def variants(log_dir: Path) -> dict[str, Any]:
    sys.path.insert(0, str(REFERENCE))
    import r0_fastapi
    import r1_raw_asgi

    access_log = {"access_log": True, "access_logfile": str(log_dir / "access.log")}
    return {
        "R1 raw ASGI": r1_raw_asgi.app,
        "R0 bare FastAPI": r0_fastapi.app,
        "fastflyer (as benchmarked: access log off)": flyer_app(access_log=False),
        "  - metrics off": flyer_app(access_log=False, metrics_enable=False),
        "  - metrics, body limit off": flyer_app(access_log=False, metrics_enable=False,
                                                 max_body_size=0),
        "  + access log on (file)": flyer_app(**access_log),
        "demo app without FastFlyer's ASGI layers": flyer_app(bare=True),
    }


async def measure(requests: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ff-layers-log-") as tmp:
        for name, app in variants(Path(tmp)).items():
            routes = ("health",) if name.startswith("R1") else ("health", "item", "export")
            results[name] = {}
            for route in routes:
                n = requests // 20 if route == "export" else requests
                results[name][route] = await per_request_us(app, ROUTES[route], n)
            print(f"{name:<44} " + "  ".join(f"{r} {v:7.1f} us" for r, v in
                                            results[name].items()), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import uvloop  # the loop the servers run on

    results = uvloop.run(measure(args.requests))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
