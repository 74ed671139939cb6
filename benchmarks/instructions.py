"""Instructions per request over a real socket, counted by callgrind: a figure a busy machine
does not move, for the targets whose wall-clock ratios it cannot settle.

    python3 benchmarks/instructions.py [--requests N] [--only fastflyer-health,R1-health]

Each server runs alone under ``valgrind --tool=callgrind`` and answers N, then 4N requests sent
one after another on one keep-alive connection; (count(4N) - count(N)) / 3N leaves start-up and
shut-down out. User-space instructions only: the kernel's share of each request (the same
syscalls for every server) is not counted, and timers are charged ~50x their share (the
server runs ~50x slower under valgrind), which stays under 1 % here.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from servers import DEMO, REFERENCE, ROUTES, UVICORN_FLAGS, clean_env, compile_bytecode

STARTUP_SECONDS = 300  # a server starting under valgrind


def uvicorn(module: str) -> list[str]:
    return [sys.executable, "-m", "uvicorn", f"{module}:app", "--app-dir", str(REFERENCE),
            "--host", "127.0.0.1", "--port", "{port}", *UVICORN_FLAGS, "--log-level", "warning"]


FLYER = [sys.executable, "-m", "fastflyer.cli", "serve"]  # valgrind runs the interpreter itself
FLYER_ENV = {"flyer_host": "127.0.0.1", "flyer_workers": "1", "flyer_access_log": "0"}
# name: (argv, working directory, settings, route)
CASES = {
    "fastflyer-health": (FLYER, DEMO, FLYER_ENV, "health"),
    "R1-health": (uvicorn("r1_raw_asgi"), REFERENCE, {}, "health"),
    "fastflyer-item": (FLYER, DEMO, FLYER_ENV, "item"),
    "R0-item": (uvicorn("r0_fastapi"), REFERENCE, {}, "item"),
}


def send_sequentially(port: int, target: str, count: int) -> None:
    """``count`` GETs, each sent once the previous response has fully arrived."""
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        buffered = b""
        for _ in range(count):
            conn.sendall(request)
            while True:
                end = buffered.find(b"\r\n\r\n")
                if end >= 0:
                    length = re.search(rb"content-length: *(\d+)", buffered[:end], re.I)
                    if length is None:
                        raise RuntimeError(f"no content-length in {buffered[:end]!r}")
                    total = end + 4 + int(length.group(1))
                    if len(buffered) >= total:
                        buffered = buffered[total:]
                        break
                chunk = conn.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed the connection")
                buffered += chunk


def count(case: str, requests: int, scratch: Path) -> int:
    """Instructions the server ran in all, from start to exit, answering ``requests``."""
    argv, cwd, settings, route = CASES[case]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = scratch / f"{case}-{requests}.callgrind"
    argv = [arg.replace("{port}", str(port)) for arg in argv]
    env = clean_env(**settings, flyer_port=str(port))
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                send_sequentially(port, ROUTES[route], 1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{case} did not start under valgrind") from None
                time.sleep(0.5)
        send_sequentially(port, ROUTES[route], requests - 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STARTUP_SECONDS)
    totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if totals is None:
        raise RuntimeError(f"no total in {out}")
    return int(totals.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="N (default 1000)")
    parser.add_argument("--only", help="comma-separated cases: " + ", ".join(CASES))
    args = parser.parse_args(argv)
    cases = args.only.split(",") if args.only else list(CASES)
    compile_bytecode()
    per_request = {}
    with tempfile.TemporaryDirectory(prefix="ff-callgrind-") as tmp:
        for case in cases:
            low = count(case, args.requests, Path(tmp))
            high = count(case, 4 * args.requests, Path(tmp))
            per_request[case] = (high - low) / (3 * args.requests)
            print(f"{case:<18} {per_request[case]:>12,.0f} instructions per request", flush=True)
    for ours, reference in (("fastflyer-health", "R1-health"), ("fastflyer-item", "R0-item")):
        if ours in per_request and reference in per_request:
            print(f"{ours} / {reference}: {per_request[ours] / per_request[reference]:.3f}")
    return 0


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    sys.exit(main())
