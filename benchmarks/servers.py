"""The contenders: FastFlyer and the reference servers, each started alone on its own core.

A contender knows how to start one server and which cells (route x connections) to load it
with. Native servers run as processes pinned with ``taskset``; see ``container.py`` for the
image mode.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import procstat

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
REFERENCE = Path(__file__).resolve().parent / "reference"
PORTS = (21000, 21999)

ROUTES = {
    "health": "/health_check/async",
    "item": "/flyer/items/12345",
    "export": "/flyer/items/export?count=1000",
}
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
GRANIAN_FLAGS = ["--interface", "asgi", "--loop", "uvloop", "--workers", "1", "--no-access-log"]


@dataclass(frozen=True)
class Cell:
    route: str
    connections: int

    @property
    def key(self) -> str:
        return f"{self.route}@{self.connections}"


class Running:
    """A started server: its process tree for /proc readings, and how to stop it."""

    def __init__(self, root_pid: int, port: int, stop: Callable[[], None],
                 alive: Callable[[], bool], log_path: Path):
        self.root_pid = root_pid
        self.port = port
        self.stop = stop
        self.alive = alive
        self.log_path = log_path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self) -> float:
        return procstat.cpu_seconds(procstat.tree(self.root_pid))

    def sockets(self) -> int:
        return procstat.sockets(procstat.tree(self.root_pid))

    def tree_pss_mib(self) -> float | None:
        return procstat.pss_mib(procstat.tree(self.root_pid))

    def memory(self) -> dict[str, float | None]:
        """Worker RSS (the serving processes) and the rest of the tree's (gunicorn master,
        init), summed apart (``master_rss_mib`` is None for a single-process server), and the
        PSS of the whole tree."""
        workers = procstat.leaves(self.root_pid)
        others = [pid for pid in procstat.tree(self.root_pid) if pid not in workers]

        def total(pids: list[int]) -> float | None:
            values = [v for v in map(procstat.rss_mib, pids) if v is not None]
            return sum(values) if values else None

        return {"worker_rss_mib": total(workers), "master_rss_mib": total(others),
                "workers": len(workers), "tree_pss_mib": self.tree_pss_mib()}


@dataclass
class Contender:
    name: str
    description: str
    cells: tuple[Cell, ...]
    start: Callable[[int, Path], Running]  # (port, scratch dir) -> running server
    access_log: Path | None = None  # where this contender writes its access log, if it does


def free_port() -> int:
    """A free TCP port in the range the benchmarks may use."""
    for _ in range(500):
        port = random.randint(*PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


def wait_first_200(port: int, alive: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``/health_check`` with a raw socket (cheap, so it hardly delays the server)."""
    request = b"GET /health_check HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(request)
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                return
        if not alive():
            raise RuntimeError("server exited before answering /health_check")
        time.sleep(0.002)
    raise TimeoutError(f"no 200 from /health_check on port {port} within {timeout}s")


def compile_bytecode() -> None:
    """Byte-compile what the contenders import, as the image's install does, so that no
    start-up is timed compiling source (``PYTHONDONTWRITEBYTECODE`` keeps Python from caching
    it, and an editable install of FastFlyer has no bytecode of its own)."""
    import fastflyer

    roots = {Path(fastflyer.__file__).parent, DEMO, REFERENCE,
             *(Path(sysconfig.get_path(k)) for k in ("purelib", "platlib"))}
    for root in sorted(roots):
        compileall.compile_dir(root, quiet=2, workers=0)


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without stray flyer_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("flyer_")}
    env.update(extra)
    return env


def start_process(argv: list[str], cwd: Path, env: dict[str, str], cpu: int | None,
                  port: int, log_path: Path) -> Running:
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]  # taskset execs: the pid is the server's
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: leftovers only
        proc.wait()

    return Running(proc.pid, port, stop, lambda: proc.poll() is None, log_path)


def fastflyer_argv() -> list[str]:
    """`fastflyer serve` through the console script next to this interpreter (no shims)."""
    script = Path(sys.executable).parent / "fastflyer"
    return [str(script) if script.exists() else "fastflyer", "serve"]


def native_contenders(cpu: int | None) -> list[Contender]:
    """FastFlyer on each engine (access log off, and on with the default engine) and the
    references: R0, R1 on uvicorn, G0, G1 (the same apps) on granian, as local processes."""
    sweep = (Cell("item", 10), Cell("item", 100), Cell("item", 1000))
    main_cells = (Cell("health", 100), *sweep, Cell("export", 100))

    def flyer(access_log: bool, engine: str = "gunicorn") -> Callable[[int, Path], Running]:
        def start(port: int, scratch: Path) -> Running:
            settings = {"flyer_host": "127.0.0.1", "flyer_port": str(port), "flyer_workers": "1",
                        "flyer_access_log": "1" if access_log else "0", "flyer_server": engine}
            if access_log:
                settings["flyer_access_logfile"] = str(scratch / "access.log")
            name = "fastflyer-log" if access_log else f"fastflyer-{engine}"
            return start_process(fastflyer_argv(), DEMO, clean_env(**settings), cpu, port,
                                 scratch / f"{name}.out")
        return start

    def uvicorn(module: str) -> Callable[[int, Path], Running]:
        def start(port: int, scratch: Path) -> Running:
            argv = [sys.executable, "-m", "uvicorn", f"{module}:app", "--app-dir", str(REFERENCE),
                    "--host", "127.0.0.1", "--port", str(port), *UVICORN_FLAGS]
            return start_process(argv, REPO, clean_env(), cpu, port, scratch / f"{module}.out")
        return start

    def granian(module: str) -> Callable[[int, Path], Running]:
        def start(port: int, scratch: Path) -> Running:
            argv = [sys.executable, "-m", "granian", *GRANIAN_FLAGS, "--working-dir",
                    str(REFERENCE), "--host", "127.0.0.1", "--port", str(port), f"{module}:app"]
            return start_process(argv, REPO, clean_env(), cpu, port,
                                 scratch / f"{module}-granian.out")
        return start

    return [
        Contender("fastflyer", "fastflyer serve, 1 worker, demo project, access log off",
                  main_cells, flyer(False)),
        Contender("fastflyer-granian", "the same with flyer_server=granian (granian's main "
                  "process + 1 worker)", main_cells, flyer(False, "granian")),
        Contender("fastflyer+log", "the same with the access log on, written to a file",
                  (Cell("item", 100),), flyer(True), access_log=Path("access.log")),
        Contender("R0", "bare FastAPI app on uvicorn, same routes and bodies",
                  main_cells, uvicorn("r0_fastapi")),
        Contender("R0r", "the demo's own routers on a bare FastAPI app (same route table): "
                  "the same FastAPI app on bare uvicorn", main_cells, uvicorn("r0_routers")),
        Contender("R1", "raw ASGI callable on uvicorn, health body",
                  (Cell("health", 100),), uvicorn("r1_raw_asgi")),
        Contender("G0", "R0's bare FastAPI app on granian (1 worker)", main_cells,
                  granian("r0_fastapi")),
        Contender("G1", "R1's raw ASGI callable on granian (1 worker), health body",
                  (Cell("health", 100),), granian("r1_raw_asgi")),
    ]
