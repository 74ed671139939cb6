"""The lock: uv.lock pins the full dependency set, requirements/runtime.txt is its runtime part as
the image installs it (``pip install --require-hashes --no-deps``).

Checked without uv: every runtime dependency of pyproject.toml has exactly one pin in the export
that its range allows, with hashes, on every Python and machine an image is built for, and
each pinned package has a wheel there (an image build compiles nothing). With uv: uv.lock
matches pyproject.toml and the export matches uv.lock (what ``make lock-check`` runs in CI).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from itertools import product

import pytest
import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tests.support import REPO, need

LOCK = REPO / "uv.lock"
EXPORT = REPO / "requirements" / "runtime.txt"
# The command in the export's header; the Makefile's LOCK_EXPORT runs the same.
EXPORT_ARGS = ["export", "--frozen", "--no-dev", "--no-emit-project", "--format", "requirements-txt"]

# What images are built for (docker-bake.hcl), plus 3.10, which pip users of the package may have.
IMAGE_PYTHONS = ("3.11", "3.12", "3.13", "3.14")
PYTHONS = ("3.10", *IMAGE_PYTHONS)
MACHINES = ("x86_64", "aarch64")
GLIBC_MINOR = 36  # Debian bookworm, the images' base
TARGETS = list(product(PYTHONS, MACHINES))
IMAGE_TARGETS = list(product(IMAGE_PYTHONS, MACHINES))


def environment(python: str, machine: str) -> dict[str, str]:
    """PEP 508 marker values of CPython ``python`` on Linux ``machine``."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "linux",
    }


def applies(marker: Marker | None, env: dict[str, str], extra: str = "") -> bool:
    return marker is None or marker.evaluate({**env, "extra": extra})


@cache
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


@cache
def exported() -> list[tuple[Requirement, list[str]]]:
    """(requirement, hashes) for every entry of requirements/runtime.txt."""
    text = re.sub(r"\\\n", " ", EXPORT.read_text())
    entries = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        hashes = re.findall(r"--hash=(\S+)", line)
        spec = re.sub(r"--hash=\S+", "", line).strip()
        assert not spec.startswith("-"), f"an option in the export: {line}"
        entries.append((Requirement(spec), hashes))
    return entries


def pins(python: str, machine: str) -> dict[str, Version]:
    """Name -> pinned version of what the export installs there."""
    env = environment(python, machine)
    pinned: dict[str, Version] = {}
    for req, _ in exported():
        if not applies(req.marker, env):
            continue
        name = canonicalize_name(req.name)
        (spec,) = req.specifier
        assert spec.operator == "==", f"not an exact pin: {req}"
        assert name not in pinned, f"{name} pinned twice for Python {python} on {machine}"
        pinned[name] = Version(spec.version)
    return pinned


@cache
def lock_packages() -> dict[tuple[str, Version], dict]:
    lock = tomllib.loads(LOCK.read_text())
    return {(canonicalize_name(p["name"]), Version(p["version"])): p for p in lock["package"]}


def supported_tags(python: str, machine: str) -> set[Tag]:
    version = tuple(int(part) for part in python.split("."))
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)]
    platforms.append(f"manylinux2014_{machine}")
    if machine == "x86_64":
        platforms += [f"manylinux_2_{minor}_{machine}" for minor in range(16, 4, -1)]
        platforms += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    platforms.append(f"linux_{machine}")
    return {*cpython_tags(version, platforms=platforms),
            *compatible_tags(version, f"cp{version[0]}{version[1]}", platforms)}


def test_export_pins_every_entry_with_hashes():
    assert exported(), "requirements/runtime.txt is empty"
    for req, hashes in exported():
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{req}: no sha256 hashes"


@pytest.mark.parametrize(("python", "machine"), TARGETS)
def test_export_satisfies_pyproject(python, machine):
    """Every runtime dependency (and its extras' dependencies) pinned inside its range."""
    env = environment(python, machine)
    pinned = pins(python, machine)
    for line in project()["dependencies"]:
        req = Requirement(line)
        if not applies(req.marker, env):
            continue
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in the export for Python {python} on {machine}"
        assert req.specifier.contains(pinned[name], prereleases=True), \
            f"{req.name}=={pinned[name]} is outside {req.specifier} (pyproject.toml)"
        entry = lock_packages()[name, pinned[name]]
        for extra in req.extras:
            for dep in entry.get("optional-dependencies", {})[extra]:
                if applies(Marker(dep["marker"]) if "marker" in dep else None, env):
                    assert canonicalize_name(dep["name"]) in pinned, f"{req.name}[{extra}]: {dep['name']}"


@pytest.mark.parametrize(("python", "machine"), IMAGE_TARGETS)
def test_image_targets_have_wheels(python, machine):
    """An image build for this target finds a wheel for every pin: nothing is compiled."""
    tags = supported_tags(python, machine)
    missing = []
    for name, version in pins(python, machine).items():
        wheels = lock_packages()[name, version].get("wheels", [])
        filenames = [w["url"].rsplit("/", 1)[-1] for w in wheels]
        if not any(parse_wheel_filename(f)[3] & tags for f in filenames):
            missing.append(f"{name}=={version}")
    assert not missing, f"no wheel for CPython {python} on {machine}: {missing}"


def uv_exe() -> str | None:
    try:
        import uv
    except ImportError:
        return shutil.which("uv")
    try:
        return uv.find_uv_bin()
    except FileNotFoundError:
        return shutil.which("uv")


def run_uv(*args: str) -> subprocess.CompletedProcess:
    exe = uv_exe()
    need(exe is not None, "uv is not installed (pip install uv, or the `test` extra)")
    return subprocess.run([exe, *args], cwd=REPO, capture_output=True, text=True, timeout=180)


@pytest.mark.tool
def test_lock_matches_pyproject():
    proc = run_uv("lock", "--check")
    assert proc.returncode == 0, f"uv.lock is stale: run `make lock`\n{proc.stderr}"


@pytest.mark.tool
def test_export_matches_lock():
    proc = run_uv(*EXPORT_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == EXPORT.read_text(), "requirements/runtime.txt is stale: run `make lock`"
