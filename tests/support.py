"""Helpers shared by the test modules: free ports, real server processes, service checks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip with a visible reason on a laptop; fail under CI=true, where nothing may be missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def need_redis() -> tuple[str, int]:
    host = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
    port = int(os.environ.get("TEST_REDIS_PORT", "6379"))
    need(port_open(host, port), f"no Redis server at {host}:{port}")
    return host, port


def need_mysql() -> tuple[str, int]:
    host = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
    port = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
    need(port_open(host, port), f"no MySQL/MariaDB server at {host}:{port}")
    return host, port


def fastflyer_exe() -> str:
    """The `fastflyer` console script of the interpreter running the tests."""
    candidate = Path(sys.executable).parent / "fastflyer"
    return str(candidate) if candidate.exists() else "fastflyer"


def base_env(**overrides: str) -> dict[str, str]:
    """A clean environment for a server process: no stray flyer_* from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("flyer_")}
    env.update(overrides)
    return env


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log_path: Path
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=5)


def wait_http(url: str, timeout: float = 30, proc: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})")


@contextlib.contextmanager
def run_server(
    *args: str,
    cwd: Path | str = DEMO,
    env: dict[str, str] | None = None,
    port: int | None = None,
    ready_path: str = "/health_check",
    timeout: float = 40,
) -> Iterator[Server]:
    """Start `fastflyer <args>` (default `serve`) on a free loopback port; stop it after."""
    port = port or free_port()
    full_env = base_env(flyer_host="127.0.0.1", flyer_port=str(port))
    full_env.update(env or {})
    fd, log_name = tempfile.mkstemp(prefix="fastflyer-test-", suffix=".log")
    log_file = os.fdopen(fd, "wb")
    proc = subprocess.Popen(
        [fastflyer_exe(), *(args or ("serve",))],
        cwd=str(cwd),
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(proc=proc, port=port, log_path=Path(log_name))
    try:
        try:
            wait_http(server.url(ready_path), timeout=timeout, proc=proc)
        except Exception as exc:
            server.stop()
            raise RuntimeError(f"{exc}\n--- server log ---\n{server.log()}") from exc
        yield server
    finally:
        server.stop()
        log_file.close()
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)


def run_cli(*args: str, cwd: Path | str = DEMO, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = base_env()
    full_env.update(env or {})
    return subprocess.run(
        [fastflyer_exe(), *args], cwd=str(cwd), env=full_env, capture_output=True, text=True,
        timeout=timeout,
    )
