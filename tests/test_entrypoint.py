"""The entry script (entrypoint/docker-entrypoint.sh), branch by branch, in containers of the image.

Which project is served (mounted, copied into the container, or the demo), the requirements
installed at start-up into a prefix outside the root-owned runtime (also on a read-only root),
prestart.sh, other commands run as given, and signals reaching the command as tini's child.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docker_support import (
    Container,
    docker,
    docker_available,
    ensure_image,
    free_port,
    run_container,
    wait_http,
)
from tests.projects import write_project
from tests.support import REPO, need

pytestmark = pytest.mark.docker

ENTRYPOINT = REPO / "entrypoint" / "docker-entrypoint.sh"

PROBE = {
    "app/probe/__init__.py": "from .router import router\n",
    "app/probe/router.py": """
        from fastflyer import APIRouter

        router = APIRouter(prefix="/probe")


        @router.get("")
        async def probe():
            return {"data": "probe"}
    """,
}

# A project needing a package the image does not hold (pure Python, on PyPI).
NEEDS_HUMANIZE = {
    **PROBE,
    "app/probe/router.py": """
        import humanize
        from fastflyer import APIRouter

        router = APIRouter(prefix="/probe")


        @router.get("")
        async def probe():
            return {"data": humanize.intcomma(1234567), "from": humanize.__file__}
    """,
    "requirements.txt": "humanize>=4.9,<5\n",
}

# A command of its own: says its parent and which signals reached it, exits 7 on SIGTERM.
SIGNALS = """
import os, signal, sys, time
def said(name):
    return lambda *_: print(f"got {name}", flush=True)
signal.signal(signal.SIGUSR1, said("SIGUSR1"))
signal.signal(signal.SIGHUP, said("SIGHUP"))
def term(*_):
    print("got SIGTERM", flush=True)
    sys.exit(7)
signal.signal(signal.SIGTERM, term)
print(f"ready pid={os.getpid()} ppid={os.getppid()}", flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.fixture(scope="module")
def image() -> str:
    need(docker_available(), "no Docker daemon answers (set DOCKER_HOST or run .ci/docker.sh)")
    return ensure_image()


@pytest.fixture
def project_dir() -> Iterator[Path]:
    """A temp directory the container's user (10001) can read: for mounted projects."""
    path = Path(tempfile.mkdtemp(prefix="fastflyer-entry-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def readable(root: Path) -> Path:
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def entry_lines(logs: str) -> list[str]:
    return [line.split("| entrypoint | ", 1)[1] for line in logs.splitlines()
            if "| entrypoint | " in line]


def server_of(box: Container) -> dict:
    """tini's child in the container: pid, argv."""
    script = ("import json, os\n"
              "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
              "    status = open(f'/proc/{pid}/status').read()\n"
              "    if '\\nPPid:\\t1\\n' in status:\n"
              "        argv = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')\n"
              "        print(json.dumps({'pid': int(pid), 'argv': [a.decode() for a in argv if a]}))\n")
    lines = box.exec("python", "-c", script).stdout.splitlines()
    # docker exec's own process is a child of the runtime, not of tini: one line.
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def test_script_is_posix_sh_without_eval():
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/bin/sh\n")
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert not re.search(r"\beval\b", code), "eval in the entry script"
    assert "/proc/self/mountinfo" not in code
    assert re.search(r'^exec "\$@"$', text, re.M), "the script must end by exec'ing the command"


# --- which project: the demo, a copied project, a mounted one --------------------------

def test_empty_app_serves_the_demo(image):
    with run_container(image=image) as box:
        assert httpx.get(box.url("/flyer/items/demo"), params={"id": 3}).status_code == 200
        assert entry_lines(box.logs())[0].startswith("no project in /app: serving the demo")


@contextlib.contextmanager
def copied(image: str, project: Path, env: dict[str, str] | None = None) -> Iterator[Container]:
    """A container whose /app was filled inside it (as a child image's COPY does), not mounted."""
    readable(project)
    name, port = f"fastflyer-test-{uuid.uuid4().hex[:10]}", free_port()
    options = [f"--env={key}={value}" for key, value in (env or {}).items()]
    docker("create", "--name", name, "--network", "host", "-e", f"flyer_port={port}", *options,
           image)
    try:
        docker("cp", f"{project}/.", f"{name}:/app")
        docker("start", name)
        box = Container(name=name, port=port)
        wait_http(box, timeout=180)
        yield box
    finally:
        docker("rm", "-f", "-v", name, check=False)


def test_copied_project_replaces_the_demo(image, tmp_path):
    with copied(image, write_project(tmp_path / "project", PROBE)) as box:
        assert httpx.get(box.url("/flyer/probe")).json()["data"] == "probe"
        paths = httpx.get(box.url("/flyer/openapi.json")).json()["paths"]
        assert not any("/items" in path or "/users" in path for path in paths)
        assert entry_lines(box.logs())[0] == "project /app: built into the image"


def test_mounted_project_is_served_and_said_so(image, project_dir):
    write_project(project_dir, PROBE)
    readable(project_dir)
    with run_container(image=image, options=("-v", f"{project_dir}:/app:ro")) as box:
        assert httpx.get(box.url("/flyer/probe")).json()["data"] == "probe"
        assert entry_lines(box.logs())[0] == "project /app: mounted (development)"


def test_mounted_empty_directory_is_not_replaced_by_the_demo(image, project_dir):
    """A fresh project being started in a mounted directory: its (empty) app, not the demo's."""
    with run_container(image=image, options=("-v", f"{project_dir}:/app")) as box:
        assert entry_lines(box.logs())[0] == "project /app: mounted (development)"
        assert httpx.get(box.url("/flyer/items/demo"), params={"id": 1}).status_code == 404
        config = json.loads(box.exec("fastflyer", "config").stdout)
        assert config["app_root"] == "/app"


# --- requirements and prestart.sh ------------------------------------------------------

@pytest.mark.parametrize("read_only", [False, True], ids=["writable-root", "read-only-root"])
def test_requirements_go_to_a_prefix_outside_the_runtime(image, project_dir, read_only):
    write_project(project_dir, NEEDS_HUMANIZE)
    readable(project_dir)
    options = ["-v", f"{project_dir}:/app:ro"]
    if read_only:
        options += ["--read-only", "--tmpfs", "/tmp"]
    env = {"flyer_install_requirements": "1"}
    with run_container(image=image, env=env, options=tuple(options), timeout=180) as box:
        body = httpx.get(box.url("/flyer/probe")).json()
        assert body["data"] == "1,234,567"
        assert body["from"].startswith("/tmp/fastflyer-requirements/lib/python3."), body["from"]
        lines = entry_lines(box.logs())
        assert "installing /app/requirements.txt into /tmp/fastflyer-requirements" in lines
        assert not any(line.startswith("hint:") for line in lines), "mounted code needs no hint"
        # The runtime's own packages were not touched, nor installed again into the prefix.
        listing = box.exec("python", "-c", (
            "import glob, json; print(json.dumps(["
            "glob.glob('/opt/fastflyer/lib/python3.*/site-packages/humanize*'),"
            "[p.rsplit('/', 1)[1] for p in glob.glob("
            "'/tmp/fastflyer-requirements/lib/python3.*/site-packages/*')]]))")).stdout
        in_runtime, in_prefix = json.loads(listing)
        assert in_runtime == []
        assert not any(name.startswith(("fastapi", "starlette", "pydantic")) for name in in_prefix)


def test_requirements_cannot_move_the_runtimes_locked_versions(image, project_dir):
    files = {**PROBE, "requirements.txt": "starlette==0.40.0\n"}
    write_project(project_dir, files)
    readable(project_dir)
    proc = docker("run", "--rm", "--network", "host", "-v", f"{project_dir}:/app:ro",
                  "-e", "flyer_install_requirements=1", image, check=False, timeout=180)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "starlette" in output and "conflict" in output.lower(), output[-2000:]
    assert "Application startup complete" not in output


def test_copied_project_with_requirements_gets_a_hint(image, tmp_path):
    project = write_project(tmp_path / "project", NEEDS_HUMANIZE)
    with copied(image, project, env={"flyer_install_requirements": "1"}) as box:
        assert httpx.get(box.url("/flyer/probe")).json()["data"] == "1,234,567"
        lines = entry_lines(box.logs())
    assert lines[0] == "project /app: built into the image"
    assert "hint: a child image should install requirements.txt at build time" in lines


def test_missing_requirements_file_is_said_and_not_fatal(image, project_dir):
    write_project(project_dir, PROBE)
    readable(project_dir)
    env = {"flyer_install_requirements": "yes"}
    with run_container(image=image, env=env, options=("-v", f"{project_dir}:/app:ro")) as box:
        assert httpx.get(box.url("/flyer/probe")).status_code == 200
        assert ("flyer_install_requirements=1 but /app/requirements.txt does not exist"
                in entry_lines(box.logs()))


def test_prestart_runs_then_the_server_replaces_the_shell(image, project_dir):
    write_project(project_dir, {**PROBE, "prestart.sh": """
        echo "prestart ran as $(id -u)"
        export flyer_version=v7
    """})
    readable(project_dir)
    with run_container(image=image, options=("-v", f"{project_dir}:/app:ro")) as box:
        assert "prestart ran as 10001" in box.logs()
        assert httpx.get(box.url("/flyer/openapi.json")).json()["info"]["version"] == "v7"
        server = server_of(box)
        assert server["argv"][:1] != ["/bin/sh"] and "fastflyer" in " ".join(server["argv"])


def test_failing_prestart_stops_the_start_with_its_code(image, project_dir):
    write_project(project_dir, {**PROBE, "prestart.sh": "echo migrating\nsh -c 'exit 5'\n"})
    readable(project_dir)
    proc = docker("run", "--rm", "--network", "host", "-v", f"{project_dir}:/app:ro", image,
                  check=False, timeout=60)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "migrating" in proc.stdout
    assert "Application startup complete" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_switch_neither_true_nor_false_exits_2(image, value):
    proc = docker("run", "--rm", "--network", "host", "-e", f"flyer_install_requirements={value}",
                  image, check=False, timeout=60)
    assert proc.returncode == 2
    assert f"flyer_install_requirements='{value}' is not a boolean" in proc.stderr


# --- other commands, signals --------------------------------------------------------

def test_other_commands_run_as_given_with_their_exit_code(image, project_dir):
    write_project(project_dir, {**NEEDS_HUMANIZE, "prestart.sh": "echo prestart\n"})
    readable(project_dir)
    # Neither requirements nor prestart.sh for a command that is not the server.
    proc = docker("run", "--rm", "--network", "host", "-v", f"{project_dir}:/app:ro",
                  "-e", "flyer_install_requirements=1", image,
                  "sh", "-c", "echo as given; exit 7", check=False, timeout=60)
    assert proc.returncode == 7
    assert proc.stdout.strip() == "as given"
    assert "entrypoint" not in proc.stderr and "prestart" not in proc.stdout


def test_signals_reach_the_command_as_tinis_child(image):
    name = f"fastflyer-test-{uuid.uuid4().hex[:10]}"
    docker("run", "-d", "--name", name, "--network", "host", image, "python", "-c", SIGNALS)
    box = Container(name=name, port=0)
    try:
        deadline = time.monotonic() + 30
        while "ready" not in box.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert re.search(r"ready pid=\d+ ppid=1\b", box.logs()), box.logs()
        for sig in ("USR1", "HUP"):
            docker("kill", "--signal", sig, name)
            deadline = time.monotonic() + 10
            while f"got SIG{sig}" not in box.logs() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert f"got SIG{sig}" in box.logs(), box.logs()
        started = time.monotonic()
        docker("stop", "--time", "20", name, timeout=60)
        assert time.monotonic() - started < 10, "SIGTERM did not reach the command"
        assert "got SIGTERM" in box.logs()
        assert box.inspect()["State"]["ExitCode"] == 7
    finally:
        docker("rm", "-f", "-v", name, check=False)
