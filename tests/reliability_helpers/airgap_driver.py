"""Run inside a network namespace with only ``lo`` (see tests/test_airgap.py): import
fastflyer, serve the demo, fetch what a user would, print one JSON report on stdout.

Usage: airgap_driver.py FASTFLYER_EXE DEMO_DIR PORT
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

# strace stops the server at every syscall of every thread: a first request that imports
# and opens SQLite can take seconds on a slow CI machine, which is no network access.
TIMEOUT = 60


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def main(exe: str, demo: str, port: str) -> dict:
    import fastflyer  # noqa: F401 - the import itself must not reach the network
    from fastflyer import APIRouter, Client, logger  # noqa: F401

    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("flyer_")}
    env.update(flyer_host="127.0.0.1", flyer_port=port, flyer_workers="1")
    server = subprocess.Popen([exe, "serve"], cwd=demo, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    report: dict = {"statuses": {}}
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                if fetch(base + "/health_check")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        paths = ["/health_check", "/health_check/ready", "/flyer/items/1", "/flyer/users",
                 "/flyer/openapi.json", "/flyer/docs", "/flyer/redoc"]
        for path in paths:
            status, body = fetch(base + path)
            report["statuses"][path] = status
            if path in ("/flyer/docs", "/flyer/redoc"):
                for asset in re.findall(rb"""(?:src|href)=["']([^"']+)""", body):
                    report["statuses"][asset.decode()] = fetch(base + asset.decode())[0]
    finally:
        server.terminate()
        report["server_output"] = server.communicate(timeout=30)[0].decode(errors="replace")
        report["exit_code"] = server.returncode
    return report


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
