"""The README's table of published images, generated from measurements of built images.

Usage:
  python3 tools/image_table.py measure IMAGE --base BASE [--describe TEXT]
      measure a built image (docker, DOCKER_HOST): its Python, the size it adds over BASE, its
      largest packages; the record replaces that Python's in image/sizes.json
  python3 tools/image_table.py             # rewrite the table in README.md from image/sizes.json
  python3 tools/image_table.py --check     # exit 1 when README.md's table is out of date

tests/test_image_table.py checks that the table is this file's rendering, that every published
Python version has a row, that each record's package versions are the lock's, and (with Docker)
that the image under test still measures like its record.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SIZES = REPO / "image" / "sizes.json"
BAKE = REPO / "docker-bake.hcl"
START = "<!-- image-table:start (tools/image_table.py writes this table) -->"
END = "<!-- image-table:end -->"
TOP = 6  # packages listed per image

# Runs inside the image: its Python and the on-disk size of each installed distribution (the
# files its RECORD lists plus their bytecode in __pycache__).
MEASURE = r"""
import importlib.metadata, json, os, platform, sys, sysconfig
site = sysconfig.get_path("purelib")
owner = {}
for dist in importlib.metadata.distributions():
    for file in dist.files or []:
        path = os.path.normpath(os.path.join(site, str(file)))
        owner[path] = dist
        if path.endswith(".py"):
            cache = os.path.join(os.path.dirname(path), "__pycache__")
            stem = os.path.basename(path)[:-3] + "."
            if os.path.isdir(cache):
                for pyc in os.listdir(cache):
                    if pyc.startswith(stem):
                        owner[os.path.join(cache, pyc)] = dist
sizes = {}
for path, dist in owner.items():
    try:
        size = os.lstat(path).st_size
    except OSError:
        continue
    key = (dist.metadata["Name"], dist.version)
    sizes[key] = sizes.get(key, 0) + size
print(json.dumps({
    "python": platform.python_version(),
    "machine": platform.machine(),
    "packages": sorted(([n, v, s] for (n, v), s in sizes.items()), key=lambda p: -p[2]),
}))
"""


def docker(*args: str) -> str:
    cli = os.environ.get("FF_DOCKER_CLI") or (
        "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker") or "docker")
    return subprocess.run([cli, *args], check=True, capture_output=True, text=True).stdout


def measure(image: str, base: str, describe: str) -> dict:
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image))
    base_size = int(docker("image", "inspect", "--format", "{{.Size}}", base))
    inside = json.loads(docker("run", "--rm", "--network", "host", "--entrypoint", "python",
                               image, "-c", MEASURE))
    return {
        "python": inside["python"],
        "machine": inside["machine"],
        "base": describe or base,
        "base_image": base,
        "base_size": base_size,
        "added": size - base_size,
        "packages": inside["packages"][:TOP],
    }


def load() -> dict[str, dict]:
    return json.loads(SIZES.read_text()) if SIZES.exists() else {}


def save(records: dict[str, dict]) -> None:
    SIZES.write_text(json.dumps(dict(sorted(records.items(), key=lambda kv: version(kv[0]))),
                                indent=2) + "\n")


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def published() -> tuple[list[str], str, str]:
    """(PYTHON_VERSIONS, DEFAULT_PYTHON, VERSION) from docker-bake.hcl's variable defaults."""
    text = BAKE.read_text()

    def default(name: str) -> str:
        match = re.search(rf'variable "{name}" {{\s*default = (.+?)\n}}', text, re.S)
        if not match:
            raise SystemExit(f"docker-bake.hcl: no default for {name}")
        return match.group(1).strip()

    pythons = re.findall(r'"([\d.]+)"', default("PYTHON_VERSIONS"))
    return pythons, default("DEFAULT_PYTHON").strip('"'), default("VERSION").strip('"')


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def render(records: dict[str, dict] | None = None) -> str:
    records = load() if records is None else records
    pythons, default_python, release = published()
    lines = [
        "| tags | Python | added over the base | largest packages (on disk, with bytecode) |",
        "|---|---|---|---|",
    ]
    for py in sorted(pythons, key=version, reverse=True):
        tags = [f"`py{py}`", f"`{release}-py{py}`"]
        if py == default_python:
            tags += ["`latest`", f"`{release}`"]
        record = records.get(py)
        if record is None:
            lines.append(f"| {', '.join(tags)} | {py} | not measured | built and published, but "
                         "no Debian suite ships this Python for a stand-in base here |")
            continue
        top = ", ".join(f"{name} {mb(size)}" for name, _, size in record["packages"])
        lines.append(f"| {', '.join(tags)} | {record['python']} | {mb(record['added'])} | {top} |")
    bases = sorted({(version(py), r["python"], r["base"]) for py, r in records.items()})
    lines += ["", "Measured with `tools/image_table.py measure` on the CI's stand-in bases, "
              "not the published `python:*-slim` ones (no registry there): "
              + "; ".join(f"{python} on {base}" for _, python, base in bases) + "."]
    return "\n".join(lines)


def replace_block(text: str, table: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    m = sub.add_parser("measure", help="measure a built image into image/sizes.json")
    m.add_argument("image")
    m.add_argument("--base", required=True, help="the image it was built FROM")
    m.add_argument("--describe", default="", help="how the base is described in the README")
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md is stale")
    args = parser.parse_args(argv)

    if args.command == "measure":
        record = measure(args.image, args.base, args.describe)
        records = load()
        records[record["python"].rsplit(".", 1)[0]] = record
        save(records)
        print(json.dumps(record, indent=2))
        return 0
    current = README.read_text()
    wanted = replace_block(current, render())
    if args.check:
        if wanted != current:
            print("README.md's image table is stale: run python3 tools/image_table.py",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
