"""``fastflyer create_app``: render the project template into a directory.

The template tree ships as package data (``fastflyer/templates/project``) and is only ever
read. ``{{ key }}`` tokens are replaced from a fixed table whose values are validated or
escaped for the file they land in, so a project name can never break a script or a module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from fastflyer.settings import BASE_URL_PATTERN

if TYPE_CHECKING:  # pragma: no cover
    from importlib.resources.abc import Traversable  # Python >= 3.11

DEFAULT_PREFIX = "/flyer"
BASE_IMAGE = "jagerzhang/fastflyer:latest"
EXECUTABLE_SUFFIXES = (".sh",)
# Only `{{ project_* }}` tokens are ours; Docker's `{{.Names}}` formats pass through untouched.
TOKEN = re.compile(r"\{\{ *(project_[a-z_]+) *\}\}")
CONFLICTS_SHOWN = 5


class ScaffoldError(Exception):
    """The project cannot be generated; the message says why and what to do."""


@dataclass(frozen=True)
class ProjectSpec:
    """What varies between generated projects, already validated."""

    name: str
    prefix: str
    slug: str

    @classmethod
    def build(cls, name: str, prefix: str | None) -> ProjectSpec:
        name = " ".join(name.split())
        if not name:
            raise ScaffoldError("the project name must not be empty")
        if not name.isprintable() or len(name) > 100:
            raise ScaffoldError(f"invalid project name {name!r}: use up to 100 printable characters")
        prefix = prefix or DEFAULT_PREFIX
        if len(prefix) > 1:
            prefix = prefix.rstrip("/")
        if not BASE_URL_PATTERN.match(prefix):
            raise ScaffoldError(
                f"invalid prefix {prefix!r}: it must start with '/' and contain only letters,"
                " digits and . _ - (e.g. /orders)"
            )
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "fastflyer-app"
        return cls(name=name, prefix=prefix, slug=slug)

    def tokens(self) -> dict[str, str]:
        """Token values; ``*_escaped`` ones go inside a "double-quoted" Python string."""
        return {
            "project_name": self.name,
            "project_name_escaped": json.dumps(self.name, ensure_ascii=False)[1:-1],
            "project_prefix": self.prefix,
            "project_slug": self.slug,
            "project_base_image": BASE_IMAGE,
        }


def template_root() -> Traversable:
    return resources.files("fastflyer") / "templates" / "project"


def _walk(node: Traversable, rel: PurePosixPath) -> list[tuple[PurePosixPath, Traversable]]:
    found = []
    for child in sorted(node.iterdir(), key=lambda item: item.name):
        # pip compiles the installed templates; their bytecode is not part of a project.
        if child.name == "__pycache__" or child.name.endswith(".pyc"):
            continue
        if child.is_dir():
            found.extend(_walk(child, rel / child.name))
        else:
            found.append((rel / child.name, child))
    return found


def render(text: str, tokens: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in tokens:
            raise ScaffoldError(f"template bug: unknown token {{{{ {key} }}}}")
        return tokens[key]

    return TOKEN.sub(substitute, text)


def plan_project(name: str, prefix: str | None = None) -> dict[PurePosixPath, str]:
    """Every file of a new project (relative path -> content); pure, writes nothing."""
    tokens = ProjectSpec.build(name, prefix).tokens()
    return {
        rel: render(source.read_text(encoding="utf-8"), tokens)
        for rel, source in _walk(template_root(), PurePosixPath())
    }


def create_project(target: Path, name: str | None, prefix: str | None, force: bool) -> Path:
    """Generate a project in ``target`` (created if missing) and return its resolved path.

    Files the project would write that already exist are an error unless ``force``; other
    files in ``target`` (``.git``, a licence…) are never touched.
    """
    root = Path(target).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} exists and is not a directory")
    files = plan_project(name if name is not None else root.name or "fastflyer-app", prefix)
    conflicts = [rel for rel in files if (root / rel).exists() or (root / rel).is_symlink()]
    if conflicts and not force:
        shown = ", ".join(str(rel) for rel in conflicts[:CONFLICTS_SHOWN])
        more = len(conflicts) - CONFLICTS_SHOWN
        shown += f" and {more} more" if more > 0 else ""
        raise ScaffoldError(
            f"refusing to overwrite the existing project files in {root}: {shown}."
            " Use --force to overwrite them, or choose an empty directory."
        )
    for rel, content in files.items():
        path = root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                path.unlink()  # --force replaces a link; it never writes through one
            path.write_text(content, encoding="utf-8")
            path.chmod(0o755 if rel.suffix in EXECUTABLE_SUFFIXES else 0o644)
        except OSError as exc:
            raise ScaffoldError(f"cannot write {root / rel}: {exc.strerror or exc}") from None
    return root

