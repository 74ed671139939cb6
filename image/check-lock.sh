#!/bin/sh
# Stops the image build when the lock is stale: uv.lock must match pyproject.toml, and
# requirements/runtime.txt (what the image installs) must be uv.lock's export. The same checks
# as `make lock-check`; `make lock` fixes both. Run by the Dockerfile's `lock` stage as
#   check-lock.sh DIR     (DIR holds pyproject.toml, uv.lock and requirements/runtime.txt)
# uv itself is the version uv.lock pins (the `test` extra), its wheel checked against the lock's
# hashes. No network for the checks themselves (uv --offline).
set -eu
cd "$1"

python3 -c '
import tomllib
(uv,) = [p for p in tomllib.load(open("uv.lock", "rb"))["package"] if p["name"] == "uv"]
print("uv==" + uv["version"], *["--hash=" + wheel["hash"] for wheel in uv["wheels"]])
' >/tmp/uv-requirement.txt
python3 -m venv /tmp/uv
/tmp/uv/bin/pip install --quiet --require-hashes --no-deps -r /tmp/uv-requirement.txt

if ! /tmp/uv/bin/uv lock --check --offline --no-cache; then
    echo "error: uv.lock is out of date with pyproject.toml: run \`make lock\` and commit both" >&2
    exit 1
fi
# The Makefile's LOCK_EXPORT, word for word: the export's header repeats the command.
UV_OFFLINE=1 UV_NO_CACHE=1 /tmp/uv/bin/uv export --frozen --no-dev --no-emit-project \
    --format requirements-txt >/tmp/runtime.txt
if ! cmp -s requirements/runtime.txt /tmp/runtime.txt; then
    diff -u requirements/runtime.txt /tmp/runtime.txt >&2 || true
    echo "error: requirements/runtime.txt is not uv.lock's export: run \`make lock\`" >&2
    exit 1
fi
echo "lock: uv.lock matches pyproject.toml, requirements/runtime.txt matches uv.lock"
