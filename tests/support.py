"""Helpers shared by the test modules: free ports, real server processes, service checks."""

from __future__ import annotations

import contextlib
import os
import shutil
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
ENGINES = ("gunicorn", "granian")
# Run a server-level test once per engine (``flyer_server``), on real processes.
each_engine = pytest.mark.parametrize("engine", ENGINES)


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
    scheme: str = "http"
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.base = f"{self.scheme}://127.0.0.1:{self.port}"

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


def wait_http(url: str, timeout: float = 30, proc: subprocess.Popen | None = None,
              http2_only: bool = False) -> None:
    import httpx

    options = {"http1": False, "http2": True} if http2_only else {}

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with httpx.Client(timeout=2, verify=False, **options) as client:  # noqa: S501
                answered = client.get(url).status_code < 500
            if answered:
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
    scheme: str = "http",
    http2_only: bool = False,
) -> Iterator[Server]:
    """Start `fastflyer <args>` (default `serve`) on a free loopback port; stop it after.
    ``scheme="https"`` when the env sets flyer_ssl_* (the probe does not verify the cert),
    ``http2_only`` with flyer_http=2 (the probe speaks h2c)."""
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
    server = Server(proc=proc, port=port, log_path=Path(log_name), scheme=scheme)
    try:
        try:
            wait_http(server.url(ready_path), timeout=timeout, proc=proc, http2_only=http2_only)
        except Exception as exc:
            server.stop()
            raise RuntimeError(f"{exc}\n--- server log ---\n{server.log()}") from exc
        yield server
    finally:
        server.stop()
        log_file.close()
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)


def child_pids(parent: int) -> set[int]:
    """The live processes whose parent is ``parent``: the workers of a gunicorn master or of
    granian's main process."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)],
                         capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 and its key, made with the openssl CLI."""
    need(shutil.which("openssl") is not None, "the openssl command is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


def run_cli(*args: str, cwd: Path | str = DEMO, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = base_env()
    full_env.update(env or {})
    return subprocess.run(
        [fastflyer_exe(), *args], cwd=str(cwd), env=full_env, capture_output=True, text=True,
        timeout=timeout,
    )
