"""The image, for real: containers of the image built from this tree, on a real Docker daemon.

Skipped with the reason when no daemon answers (a failure under CI=true, where .ci/run
starts one). Each container runs with --network host on a port in 20000-20999.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from packaging.utils import canonicalize_name

from tests.docker_support import (
    TEST_BASE,
    Container,
    build,
    docker,
    docker_available,
    ensure_image,
    pip_ca_secret,
    python_version,
    run_container,
)
from tests.projects import write_project
from tests.support import REPO, need
from tests.test_lock import pins

pytestmark = pytest.mark.docker

OK = {"code": 200, "message": "success"}

# Lists the container's processes as JSON: pid, ppid, uid, argv (no ps in a slim image).
PROCESSES = """
import json, os
out = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        lines = open(f"/proc/{pid}/status").read().splitlines()
        status = dict(line.split(":\\t", 1) for line in lines if ":\\t" in line)
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    out.append({"pid": int(pid), "ppid": int(status["PPid"]), "uid": int(status["Uid"].split()[0]),
                "argv": [a.decode() for a in argv if a]})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def image() -> str:
    need(docker_available(), "no Docker daemon answers (set DOCKER_HOST or run .ci/docker.sh)")
    return ensure_image()


def processes(container: Container) -> list[dict]:
    return json.loads(container.exec("python", "-c", PROCESSES).stdout)


def server_processes(container: Container) -> tuple[dict, list[dict]]:
    """The server (tini's child: the gunicorn master, or the one process at one worker) and
    its workers (none at one worker)."""
    procs = processes(container)
    master = next(p for p in procs if p["ppid"] == 1)
    return master, [p for p in procs if p["ppid"] == master["pid"]]


def poll(predicate, timeout: float = 60, interval: float = 0.3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def project_dir() -> Iterator[Path]:
    """A temp directory the container's user (10001) can read: for mounted projects."""
    path = Path(tempfile.mkdtemp(prefix="fastflyer-mounted-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def readable(root: Path) -> None:
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


# --- the image's configuration -----------------------------------------------------------

def test_image_config(image):
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["WorkingDir"] == "/app"
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"][:2] == ["tini", "--"]
    assert config["Cmd"] == ["fastflyer", "serve"]
    assert config["Healthcheck"]["Test"] == ["CMD", "fastflyer", "healthcheck"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    labels = config["Labels"]
    for key in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.version"] == re.search(
        r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)


def test_image_is_lean_and_precompiled(image):
    script = (
        "import glob, os, shutil, fastflyer\n"
        "print(json.dumps({\n"
        " 'compilers': [c for c in ('gcc', 'cc', 'g++', 'make') if shutil.which(c)],\n"
        " 'apt_lists': os.listdir('/var/lib/apt/lists') if os.path.isdir('/var/lib/apt/lists')"
        " else [],\n"
        " 'pip_caches': [d for d in ('/root/.cache/pip', '/home/flyer/.cache/pip')"
        " if os.path.exists(d)],\n"
        " 'runtime_pyc': len(glob.glob(os.path.dirname(fastflyer.__file__)"
        " + '/__pycache__/*.pyc')),\n"
        " 'demo_pyc': len(glob.glob('/usr/local/share/fastflyer/demo/**/*.pyc',"
        " recursive=True)),\n"
        "}))"
    )
    proc = docker("run", "--rm", "--network", "host", "--entrypoint", "python", image,
                  "-c", "import json\n" + script)
    facts = json.loads(proc.stdout)
    assert facts["compilers"] == []
    assert [f for f in facts["apt_lists"] if f not in ("partial", "lock")] == []
    assert facts["pip_caches"] == []
    assert facts["runtime_pyc"] > 10
    assert facts["demo_pyc"] > 5


def test_report_image_size(image):
    """Prints the image's size and what our layers add over the base (for docs/image.md)."""
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout)
    base = int(docker("image", "inspect", "--format", "{{.Size}}", TEST_BASE).stdout)
    history = docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}",
                     image).stdout
    print(f"\nimage {image}: {size / 1e6:.1f} MB; base {TEST_BASE}: {base / 1e6:.1f} MB; "
          f"our layers add {(size - base) / 1e6:.1f} MB")
    print(history)
    assert size > base


# --- supply chain: a root-owned runtime, installed from the lock -------------------------

# What the runtime user (the image's default user) can do to the installed runtime.
RUNTIME_FACTS = """
import importlib.metadata, json, os, platform, stat, sysconfig
import fastflyer

def denied(action):
    try:
        action()
    except PermissionError:
        return True
    return False

site = sysconfig.get_path("purelib")
loose = []  # not root's, or writable by group or others
for root, dirs, files in os.walk("/opt/fastflyer"):
    for path in [root, *(os.path.join(root, name) for name in files)]:
        st = os.lstat(path)
        if st.st_uid != 0 or (not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o022):
            loose.append(path)
print(json.dumps({
    "uid": os.getuid(),
    "machine": platform.machine(),
    "site": site,
    "loose": loose[:20],
    "create_in_site_packages": denied(lambda: open(os.path.join(site, "injected.py"), "x")),
    "append_to_fastflyer": denied(lambda: open(fastflyer.__file__, "a")),
    "replace_a_package": denied(lambda: os.rename(os.path.join(site, "fastapi"), "/tmp/x")),
    "add_a_script": denied(lambda: open("/opt/fastflyer/bin/uvicorn-x", "x")),
    "distributions": {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()},
    "constraints": open("/opt/fastflyer/constraints.txt").read().split(),
}))
"""


def pinned_pip() -> str:
    """The pip version image/pip.txt pins (with hashes) for the image's virtualenv."""
    text = (REPO / "image" / "pip.txt").read_text()
    (version,) = re.findall(r"^pip==(\S+) \\$", text, re.M)
    assert "--hash=sha256:" in text
    return version


@pytest.fixture(scope="module")
def runtime_facts(image) -> dict:
    proc = docker("run", "--rm", "--network", "host", image, "python", "-c", RUNTIME_FACTS)
    return json.loads(proc.stdout)


def test_id_is_not_root(image):
    ids = docker("run", "--rm", "--network", "host", image, "id").stdout
    assert ids.startswith("uid=10001(flyer) gid=10001(flyer)"), ids
    assert "(root)" not in ids and "uid=0" not in ids


def test_runtime_is_roots_and_read_only_to_the_service(runtime_facts):
    facts = runtime_facts
    assert facts["uid"] == 10001
    assert facts["site"].startswith("/opt/fastflyer/lib/python3.")
    assert facts["loose"] == [], "files of the runtime the service could change"
    for action in ("create_in_site_packages", "append_to_fastflyer", "replace_a_package",
                   "add_a_script"):
        assert facts[action] is True, f"{action} succeeded as user 10001"


def test_installed_versions_are_the_lock(image, runtime_facts):
    """The image holds exactly the lock's runtime set for its Python, FastFlyer and pip: two
    builds of one commit, on any day, hold the same versions."""
    py, machine = python_version(image), runtime_facts["machine"]
    expected = {name: str(version) for name, version in pins(py, machine).items()}
    expected["fastflyer"] = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(),
                                      re.M).group(1)
    installed = {canonicalize_name(name): version
                 for name, version in runtime_facts["distributions"].items()}
    # pip stays for child images and flyer_install_requirements (docs/image.md), at the version
    # image/pip.txt pins; no other installer or build tool does.
    assert installed.pop("pip", None) == pinned_pip(), "pip is not image/pip.txt's"
    assert "setuptools" not in installed and "wheel" not in installed
    assert installed == expected
    # PIP_CONSTRAINT pins all of them for later installs (child images, start-up installs).
    constraints = dict(line.split("==") for line in runtime_facts["constraints"])
    assert {canonicalize_name(k): v for k, v in constraints.items()} == expected


def test_two_builds_of_one_commit_install_the_same_versions(image, tmp_path):
    """The builder stage again, from scratch (no layer cache): `pip freeze` is the same."""
    rebuilt = "fastflyer-rebuilt:test"
    try:
        build(REPO, rebuilt, "--no-cache", "--target", "builder",
              "--build-arg", f"BASE_IMAGE={TEST_BASE}", *pip_ca_secret(tmp_path),
              dockerfile=str(REPO / "image" / "Dockerfile"))
        freeze = ("-m", "pip", "--disable-pip-version-check", "list", "--format=freeze")
        again = docker("run", "--rm", "--network", "host", "--entrypoint",
                       "/opt/fastflyer/bin/python", rebuilt, *freeze).stdout.split()
        first = docker("run", "--rm", "--network", "host", "--entrypoint",
                       "/opt/fastflyer/bin/python", image, *freeze).stdout.split()
    finally:
        docker("rmi", "-f", rebuilt, check=False)
    assert len(first) > 30
    assert sorted(again) == sorted(first)


# The files of the build context image/Dockerfile uses (image/Dockerfile.dockerignore).
CONTEXT = ("pyproject.toml", "uv.lock", "README.md", "LICENSE", "requirements/runtime.txt",
           "image", "entrypoint", "runtime/fastflyer", "examples/demo")


@pytest.mark.parametrize(("edit", "message"), [
    # A range narrowed in pyproject.toml without `make lock`.
    (("pyproject.toml", r'"tenacity>=9,<10"', '"tenacity>=9,<9.9"'),
     "uv.lock is out of date with pyproject.toml"),
    # The export edited by hand (a pin moved) rather than regenerated.
    (("requirements/runtime.txt", r"(?m)^idna==\S+", "idna==3.0"),
     "requirements/runtime.txt is not uv.lock's export"),
])
def test_build_fails_on_a_stale_lock(image, tmp_path, edit, message):
    context = tmp_path / "context"
    for rel in CONTEXT:
        source = REPO / rel
        if source.is_dir():
            shutil.copytree(source, context / rel, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (context / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / rel)
    rel, pattern, replacement = edit
    text, count = re.subn(pattern, replacement, (context / rel).read_text(), count=1)
    assert count == 1, f"{pattern!r} not in {rel}: update this test"
    (context / rel).write_text(text)
    tag = "fastflyer-stale-lock:test"
    try:
        proc = build(context, tag, "--build-arg", f"BASE_IMAGE={TEST_BASE}",
                     *pip_ca_secret(tmp_path), dockerfile=str(context / "image" / "Dockerfile"),
                     check=False)
    finally:
        docker("rmi", "-f", tag, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert message in output, output[-3000:]
    assert "Successfully installed" not in output, "the build installed from a stale lock"


# --- serving -----------------------------------------------------------------------------

def test_demo_serves_routes_health_checks_and_docs(image):
    with run_container(image=image) as box:
        for path in ("/health_check", "/health_check/async", "/flyer/health_check"):
            assert httpx.get(box.url(path)).json() == OK, path
        assert httpx.get(box.url("/health_check/ready")).status_code == 200
        demo = httpx.get(box.url("/flyer/items/demo"), params={"id": 7}).json()
        assert demo["data"] == {"itemId": 7}
        docs = httpx.get(box.url("/flyer/docs"))
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert httpx.get(box.url("/flyer/redoc")).status_code == 200
        openapi = httpx.get(box.url("/flyer/openapi.json")).json()
        assert any(path.startswith("/flyer/items") for path in openapi["paths"])
        assert any(path.startswith("/flyer/users") for path in openapi["paths"])
        root = httpx.get(box.url("/"), follow_redirects=False)
        assert root.is_redirect and root.headers["location"].endswith("/flyer/docs")
        assert "serving the demo" in box.logs()


def test_runs_as_non_root_under_tini(image):
    with run_container(image=image) as box:
        procs = processes(box)
        init = next(p for p in procs if p["pid"] == 1)
        assert Path(init["argv"][0]).name == "tini"
        master, workers = server_processes(box)
        # exec all the way: no shell stays between tini and the server.
        assert "sh" not in Path(master["argv"][0]).name
        assert workers
        for proc in procs:
            assert proc["uid"] == 10001, proc
        assert box.exec("id", "-u").stdout.strip() == "10001"


@pytest.mark.parametrize(("cpus", "expected", "decider"), [
    ("1", 1, "cgroup"),
    ("2", 2, ""),
    ("1.5", 2, "cgroup"),  # a fraction rounds up; the quota, not the 2 host CPUs, decides
])
def test_workers_follow_the_cpu_limit(image, cpus, expected, decider):
    with run_container(image=image, options=("--cpus", cpus)) as box:
        line = poll(lambda: next((ln for ln in box.logs().splitlines()
                                  if "worker(s)" in ln and "decided by" in ln), None),
                    what="the worker count line")
        assert re.search(rf"\b{expected} worker\(s\)", line), line
        assert decider in line.split("decided by", 1)[1], line
        # One worker is the server process itself (no master); more are its children.
        children = 0 if expected == 1 else expected
        _, workers = poll(lambda: (lambda m, w: (m, w) if len(w) == children else None)(
            *server_processes(box)), what=f"{expected} serving processes")
        assert len(workers) == children
        if expected == 1:
            assert "one process, no master" in line, line


def test_healthcheck_turns_healthy(image):
    options = ("--health-interval", "1s", "--health-timeout", "5s", "--health-retries", "3",
               "--health-start-period", "30s")
    with run_container(image=image, options=options) as box:
        poll(lambda: box.inspect()["State"]["Health"]["Status"] == "healthy", timeout=60,
             what="health status healthy")
        log = box.inspect()["State"]["Health"]["Log"]
        assert log[-1]["ExitCode"] == 0


def test_docker_stop_lets_a_slow_request_finish(image):
    with run_container(image=image) as box:
        result: dict = {}

        def slow_request() -> None:
            try:
                result["response"] = httpx.get(box.url("/flyer/items/slow"),
                                               params={"seconds": 2}, timeout=30)
            except httpx.HTTPError as exc:  # reported by the assertion below
                result["error"] = exc

        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.8)  # the request is in flight (it takes 2 s) when SIGTERM arrives
        docker("stop", "--time", "20", box.name, timeout=60)
        thread.join(30)
        assert "error" not in result, f"{result.get('error')}\n{box.logs()}"
        assert result["response"].status_code == 200
        assert result["response"].json()["data"] == {"slept": 2}
        assert box.inspect()["State"]["ExitCode"] == 0, box.logs()


def test_read_only_root_filesystem_with_tmpfs(image):
    options = ("--read-only", "--tmpfs", "/tmp")
    with run_container(image=image, options=options) as box:
        assert httpx.get(box.url("/health_check")).json() == OK
        assert httpx.get(box.url("/flyer/items/demo"), params={"id": 1}).status_code == 200
        assert httpx.get(box.url("/flyer/docs")).status_code == 200


def test_bad_setting_exits_2_with_a_clear_line(image):
    proc = docker("run", "--rm", "--network", "host", "-e", "flyer_port=abc", image,
                  check=False, timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert re.search(r"flyer_port.*abc", output), output
    assert "Traceback" not in output


def test_bad_entrypoint_switch_exits_2(image):
    proc = docker("run", "--rm", "--network", "host", "-e", "flyer_install_requirements=maybe",
                  image, check=False, timeout=60)
    assert proc.returncode == 2
    assert "flyer_install_requirements='maybe'" in proc.stderr


def test_other_commands_run_as_given(image):
    proc = docker("run", "--rm", "--network", "host", image, "python", "-c", "print('as given')")
    assert proc.stdout.strip() == "as given"
    assert "entrypoint" not in proc.stderr  # no server preparation for other commands
    config = json.loads(docker("run", "--rm", "--network", "host", image,
                               "fastflyer", "config").stdout)
    assert config["app_root"] == "/usr/local/share/fastflyer/demo"


# --- projects: mounted (development) and copied (child image) ---------------------------

RELOAD_PROJECT = {
    "app/probe/__init__.py": "from .router import router\n",
    "app/probe/router.py": """
        from fastflyer import APIRouter

        router = APIRouter(prefix="/probe")


        @router.get("")
        async def probe():
            return {"data": "v1"}
    """,
}


def test_mounted_project_reloads_an_edited_file(image, project_dir):
    write_project(project_dir, RELOAD_PROJECT)
    readable(project_dir)
    options = ("-v", f"{project_dir}:/app")
    with run_container(image=image, env={"flyer_reload": "1"}, options=options) as box:
        assert httpx.get(box.url("/flyer/probe")).json()["data"] == "v1"
        assert "mounted (development)" in box.logs()
        router = project_dir / "app" / "probe" / "router.py"
        router.write_text(router.read_text().replace('"v1"', '"v2"'))

        def answers_v2() -> bool:
            try:
                return httpx.get(box.url("/flyer/probe"), timeout=2).json()["data"] == "v2"
            except (httpx.HTTPError, ValueError, KeyError):
                return False

        poll(answers_v2, timeout=60, what=f"the reloaded route\n{box.logs()}")
        assert "/flyer/items" not in str(httpx.get(box.url("/flyer/openapi.json")).json())


def test_mounted_project_prestart_and_requirements(image, project_dir):
    files = dict(RELOAD_PROJECT)
    files["app/probe/router.py"] = """
        import humanize
        from fastflyer import APIRouter

        router = APIRouter(prefix="/probe")


        @router.get("")
        async def probe():
            return {"data": humanize.intcomma(1234567)}
    """
    files["requirements.txt"] = "humanize>=4.9,<5\n"
    files["prestart.sh"] = """
        echo "prestart ran as $(id -u)"
        export flyer_version=v9
    """
    write_project(project_dir, files)
    readable(project_dir)
    options = ("-v", f"{project_dir}:/app")
    env = {"flyer_install_requirements": "1"}
    with run_container(image=image, env=env, options=options, timeout=180) as box:
        assert httpx.get(box.url("/flyer/probe")).json()["data"] == "1,234,567"
        assert "prestart ran as 10001" in box.logs()
        assert httpx.get(box.url("/flyer/openapi.json")).json()["info"]["version"] == "v9"


@pytest.fixture(scope="module")
def child_image(image) -> str:
    tag = "fastflyer-example-project:test"
    build(REPO / "examples" / "project", tag, "--build-arg", f"FASTFLYER_IMAGE={image}")
    return tag


SPEC_CHILD = """\
ARG FASTFLYER_IMAGE
FROM ${FASTFLYER_IMAGE}
COPY requirements.txt /app/
RUN pip install --no-cache-dir -r /app/requirements.txt
COPY . /app
ENV flyer_base_url=/greetings
"""


def test_child_image_as_the_spec_writes_it_installs_as_the_images_user(image, tmp_path):
    """The four lines of the product's quick start, no USER switch: the project's packages go
    to the project prefix as user 10001, the runtime's stay root's and pinned."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "project", project)
    (project / "Dockerfile").write_text(SPEC_CHILD)
    tag = "fastflyer-spec-child:test"
    build(project, tag, "--build-arg", f"FASTFLYER_IMAGE={image}")
    where = docker("run", "--rm", "--network", "host", tag, "python", "-c",
                   "import humanize, fastapi; print(humanize.__file__); print(fastapi.__file__)"
                   ).stdout.split()
    assert where[0].startswith("/opt/fastflyer-project/lib/python3.")
    assert where[1].startswith("/opt/fastflyer/lib/python3.")  # not reinstalled beside it
    with run_container(image=tag) as box:
        body = httpx.get(box.url("/greetings/hello"), params={"name": "Flyer", "seconds": 60})
        assert body.json()["data"] == {"text": "Hello, Flyer!", "uptime": "a minute"}
    facts = json.loads(docker("run", "--rm", "--network", "host", tag, "python", "-c",
                              RUNTIME_FACTS).stdout)
    assert facts["loose"] == [] and facts["replace_a_package"] is True


def test_child_image_serves_its_own_router(child_image):
    with run_container(image=child_image) as box:
        params = {"name": "Flyer", "seconds": 60}
        body = httpx.get(box.url("/greetings/hello"), params=params).json()
        assert body["code"] == 200
        assert body["data"] == {"text": "Hello, Flyer!", "uptime": "a minute"}
        openapi = httpx.get(box.url("/greetings/openapi.json")).json()
        assert openapi["info"]["title"] == "Greetings"
        # The project replaced the demo: none of its routes are served.
        assert not any("/items" in path or "/users" in path for path in openapi["paths"])
        assert "built into the image" in box.logs()
        assert httpx.get(box.url("/health_check")).json() == OK
