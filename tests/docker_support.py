"""Docker for the container tests: the daemon to talk to, the image under test, containers.

The daemon is `DOCKER_HOST`, or else the private one `.ci/docker.sh` starts
(`/tmp/ff-docker-ci` under CI=true, `/tmp/ff-docker` otherwise). `ensure_image()` builds the
image from the working tree once per test session (BuildKit's cache makes that seconds when
nothing changed) on `FF_TEST_BASE` - the local stand-in for python:3.x-slim that
`.ci/docker.sh` makes with mmdebstrap, or any real Debian bookworm Python image.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import IN_CI, REPO

DOCKER_SH = REPO / ".ci" / "docker.sh"
TEST_IMAGE = os.environ.get("FF_TEST_IMAGE", "fastflyer:test")
TEST_BASE = os.environ.get("FF_TEST_BASE", "fastflyer-test-base:bookworm")
PORT_RANGE = (20000, 20999)


def docker_host() -> str | None:
    """DOCKER_HOST if set, else the socket of the private daemon if one is there."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    run_dir = os.environ.get("FF_DOCKER_RUN") or ("/tmp/ff-docker-ci" if IN_CI else "/tmp/ff-docker")
    sock = Path(run_dir) / "docker.sock"
    return f"unix://{sock}" if sock.exists() else None


def docker_cli() -> str:
    """Debian's client (BuildKit built in) when present; a newer one may lack buildx."""
    explicit = os.environ.get("FF_DOCKER_CLI")
    if explicit:
        return explicit
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    return shutil.which("docker") or "docker"


def docker_env() -> dict[str, str]:
    env = dict(os.environ)
    host = docker_host()
    if host:
        env["DOCKER_HOST"] = host
    env["DOCKER_BUILDKIT"] = "1"
    return env


def docker(*args: str, check: bool = True, timeout: float = 120,
           input: str | None = None) -> subprocess.CompletedProcess:
    """Run the docker client; raise with its output when `check` and it fails."""
    proc = subprocess.run(
        [docker_cli(), *args], env=docker_env(), capture_output=True, text=True,
        timeout=timeout, input=input,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@functools.lru_cache(maxsize=1)
def docker_available() -> bool:
    """True when a Docker daemon answers (cached: asked once per test session)."""
    try:
        return docker("version", "--format", "{{.Server.Version}}", check=False,
                      timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def build(context: Path | str, tag: str, *extra: str, dockerfile: str | None = None,
          timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
    """`docker build` with host networking (the private daemon has no bridge network)."""
    args = ["build", "--network", "host", "--progress", "plain", "-t", tag]
    if dockerfile:
        args += ["-f", dockerfile]
    return docker(*args, *extra, str(context), timeout=timeout, check=check)


def pip_ca_secret(directory: Path) -> tuple[str, ...]:
    """The build's `pip_ca` secret: this host's extra CA certificates (a re-signing proxy),
    for pip in one RUN of image/Dockerfile; as a secret, in no layer of the image."""
    bundle = directory / "pip-ca.pem"
    bundle.write_text("".join(crt.read_text()
                              for crt in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))))
    return ("--secret", f"id=pip_ca,src={bundle}")


def python_version(image: str) -> str:
    """The image's Python, major.minor (the venv's interpreter)."""
    return docker("run", "--rm", "--network", "host", "--entrypoint", "python", image, "-c",
                  "import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()


@functools.lru_cache(maxsize=1)
def ensure_image() -> str:
    """The tag of our image built from the working tree (built once per session)."""
    env = docker_env()
    env.setdefault("FF_TEST_IMAGE", TEST_IMAGE)
    env.setdefault("FF_TEST_BASE", TEST_BASE)
    proc = subprocess.run(["bash", str(DOCKER_SH), "image"], env=env, capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"building {TEST_IMAGE} failed:\n{proc.stdout}\n{proc.stderr}")
    return TEST_IMAGE


def free_port() -> int:
    """A free port in 20000-20999 (containers share the host network)."""
    for _ in range(200):
        port = random.randint(*PORT_RANGE)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-20999")


@dataclass
class Container:
    name: str
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def logs(self) -> str:
        proc = docker("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def exec(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return docker("exec", self.name, *args, check=check)

    def inspect(self) -> dict:
        return json.loads(docker("inspect", self.name).stdout)[0]

    def running(self) -> bool:
        return self.inspect()["State"]["Running"]

    def wait(self, timeout: float = 60) -> int:
        """Wait for the container to exit; its exit code."""
        return int(docker("wait", self.name, timeout=timeout).stdout.strip())


def wait_http(container: Container, path: str = "/health_check", timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(container.url(path), timeout=2).status_code < 500:
                return
        except httpx.HTTPError as exc:
            last = exc
        if not container.running():
            raise RuntimeError(f"container exited before answering {path}\n{container.logs()}")
        time.sleep(0.2)
    raise TimeoutError(f"{path} did not answer in {timeout}s ({last})\n{container.logs()}")


@contextlib.contextmanager
def run_container(*cmd: str, image: str | None = None, env: dict[str, str] | None = None,
                  options: tuple[str, ...] = (), wait: str | None = "/health_check",
                  timeout: float = 60) -> Iterator[Container]:
    """`docker run -d --network host` our image on a free port; removed afterwards.

    `wait` is the path to poll before yielding (None: yield at once).
    """
    port = free_port()
    name = f"fastflyer-test-{uuid.uuid4().hex[:10]}"
    args = ["run", "-d", "--name", name, "--network", "host", "-e", f"flyer_port={port}"]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    docker(*args, *options, image or ensure_image(), *cmd)
    container = Container(name=name, port=port)
    try:
        if wait:
            wait_http(container, wait, timeout=timeout)
        yield container
    finally:
        docker("rm", "-f", "-v", name, check=False)
