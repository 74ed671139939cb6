"""Image mode (`make bench-image`): the seed's exact run against the container.

Every contender is a container started like the seed's benchmark, ``docker run --cpus 1
--net host`` with the access log off, and loaded with ``wrk -c 100 -t 10``. The references
run in the same image (its Python, its uvicorn), from ``benchmarks/reference`` mounted
read-only, so the ratios compare servers, not images. Docker comes from
``tests/docker_support.py`` (daemon at DOCKER_HOST or the private one of ``.ci/docker.sh``).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from servers import REFERENCE, REPO, UVICORN_FLAGS, Cell, Contender, Running

sys.path.insert(0, str(REPO))
from tests.docker_support import docker, docker_available, ensure_image  # noqa: E402

SEED_RUN = ("--cpus", "1", "--network", "host")


def start_container(args: list[str], port: int, log_path: Path) -> Running:
    name = f"ff-bench-{uuid.uuid4().hex[:10]}"
    docker("run", "-d", "--name", name, *SEED_RUN, *args)

    def state() -> dict:
        proc = docker("inspect", name, check=False)
        return json.loads(proc.stdout)[0]["State"] if proc.returncode == 0 else {}

    def stop() -> None:
        logs = docker("logs", name, check=False)
        log_path.write_text(logs.stdout + logs.stderr)
        docker("rm", "-f", "-v", name, check=False)

    return Running(state().get("Pid", 0), port, stop, lambda: bool(state().get("Running")),
                   log_path)


def image_contenders() -> list[Contender]:
    if not docker_available():
        raise SystemExit("no Docker daemon answers (set DOCKER_HOST or run .ci/docker.sh)")
    image = ensure_image()
    cells = (Cell("health", 100), Cell("item", 100))

    def flyer(port: int, scratch: Path) -> Running:
        env = ["-e", "flyer_access_log=0", "-e", f"flyer_port={port}"]
        return start_container([*env, image], port, scratch / "fastflyer.out")

    def uvicorn(module: str) -> Callable[[int, Path], Running]:
        def start(port: int, scratch: Path) -> Running:
            args = ["-v", f"{REFERENCE}:/bench:ro", "--entrypoint", "python", image,
                    "-m", "uvicorn", f"{module}:app", "--app-dir", "/bench",
                    "--host", "127.0.0.1", "--port", str(port), *UVICORN_FLAGS]
            return start_container(args, port, scratch / f"{module}.out")
        return start

    return [
        Contender("fastflyer", f"{image}: docker run --cpus 1 --net host, access log off",
                  cells, flyer),
        Contender("R0", "bare FastAPI on uvicorn in the same image and limits", cells,
                  uvicorn("r0_fastapi")),
        Contender("R1", "raw ASGI on uvicorn in the same image and limits",
                  (Cell("health", 100),), uvicorn("r1_raw_asgi")),
    ]
