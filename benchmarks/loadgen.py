"""Drives wrk (pinned to its own core) and returns its summary as a dict."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

LUA = Path(__file__).with_name("report.lua")
MARKER = "WRK_JSON "


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing (needs root or sudo)."""
    found = shutil.which("wrk")
    if found:
        return found
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    print("wrk not found; installing it with apt-get ...", flush=True)
    install = [*prefix, "apt-get", "install", "-y", "--no-install-recommends", "wrk"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run([*prefix, "apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still missing after apt-get install; install it and retry")
    return found


def wrk_version(binary: str) -> str:
    proc = subprocess.run([binary, "-v"], capture_output=True, text=True)
    return (proc.stdout + proc.stderr).splitlines()[0].strip() if proc.stdout + proc.stderr else "?"


def run_wrk(binary: str, url: str, connections: int, duration: int, cpu: int | None,
            threads: int = 10, timeout: float = 2.0) -> dict:
    """One wrk run; the dict has requests, errors by kind and latency percentiles (µs)."""
    threads = min(threads, connections)
    argv = [binary, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
            "--timeout", f"{timeout:g}s", "-s", str(LUA), url]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER) :])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status",
                                                       "timeout"))
            return result
    raise RuntimeError(
        f"wrk gave no summary (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
