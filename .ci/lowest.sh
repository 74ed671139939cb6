#!/usr/bin/env bash
# Lowest-versions job: the server and contract tests with every runtime dependency at the lowest
# version pyproject.toml allows, so that its lower bounds are true and not just written down.
#
# 1. `uv pip compile --resolution lowest-direct` resolves [project].dependencies with each one
#    at its lowest allowed version (their own dependencies at the newest that fit);
# 2. each of them must have landed exactly on its `>=` bound: one that cannot (another pin
#    forbids it) means the bound is not true, and the job names it;
# 3. a fresh venv gets those pins, then fastflyer itself (editable) with its test tools at normal
#    versions, held to the runtime pins by a constraint;
# 4. pytest runs whichever of tests/contract, tests/server, tests/test_server.py,
#    tests/test_app.py and tests/test_routing.py exist (none existing is an error). The last
#    is there because FastFlyer's flat routing depends on FastAPI internals that moved in 0.137
#    and 0.138 and that tests/contract does not cover.
#
# Needs uv on PATH (the `test` extra installs it) or UV=/path/to/uv. The venv lives in
# $FF_LOWEST_VENV (default .ci-cache/lowest-venv) and is rebuilt on every run.
# Usage: bash .ci/lowest.sh [extra pytest arguments]      (or: make test-lowest)
set -euo pipefail
cd "$(dirname "$0")/.."

UV="${UV:-uv}"
VENV="${FF_LOWEST_VENV:-.ci-cache/lowest-venv}"
PYTHON="${PYTHON:-python3}"
export UV_PYTHON_DOWNLOADS=never    # the machine's Python, never one uv would fetch

command -v "$UV" >/dev/null || { echo "lowest.sh: uv not found (pip install uv, or UV=...)" >&2; exit 1; }

paths=()
for path in tests/contract tests/server tests/test_server.py tests/test_app.py tests/test_routing.py; do
    [ -e "$path" ] && paths+=("$path")
done
if [ "${#paths[@]}" -eq 0 ]; then
    echo "lowest.sh: none of the server or contract test paths exists" >&2
    exit 1
fi

rm -rf "$VENV"
"$UV" venv -q --python "$PYTHON" "$VENV"
py="$VENV/bin/python"
pins="$VENV/lowest.txt"

"$UV" pip compile -q --python "$py" --resolution lowest-direct --no-header \
    --output-file "$pins" pyproject.toml
# Bytecode compiled at install, as pip does: no server under test pays for it at its first import.
"$UV" pip install -q --compile-bytecode --python "$py" -r "$pins"
"$UV" pip install -q --compile-bytecode --python "$py" --constraint "$pins" -e '.[test]'
"$UV" pip check --python "$py"

# Every runtime dependency at its lower bound (packaging comes with pytest).
"$py" - <<'EOF'
import sys
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.version import Version

with open("pyproject.toml", "rb") as file:
    dependencies = tomllib.load(file)["project"]["dependencies"]
wrong = []
for line in dependencies:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate():
        continue
    lower = [s.version for s in req.specifier if s.operator in (">=", "==")]
    installed = metadata.version(req.name)
    print(f"  {req.name:<20} {installed:<10} ({req.specifier})")
    if not lower:
        wrong.append(f"{req.name}: no lower bound in pyproject.toml")
    elif Version(installed) != Version(lower[0]):
        wrong.append(f"{req.name}: lowest resolution gave {installed}, not its lower bound {lower[0]}"
                     " (another dependency excludes it: raise the bound)")
if wrong:
    sys.exit("lower bounds that are not true:\n  " + "\n  ".join(wrong))
EOF

"$py" -m pytest -p no:cacheprovider "${paths[@]}" "$@"
