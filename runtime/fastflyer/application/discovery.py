"""Find the project's sub-apps: one package per directory under ``<root>/app``.

Each package is imported as ``app.<name>`` in sorted order. A package exposing ``router`` is
mounted; ``__ENABLED__ = False`` skips it; one without ``router`` is imported only for its
side effects (e.g. it registers scheduled jobs). A package that fails to import stops the
start-up, naming it: silently dropping routes would be worse than not starting.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter

from fastflyer.observability.logs import logger


class SubAppError(Exception):
    """A sub-app could not be loaded; the message names it, the cause and, for an exception,
    where it was raised (``file``, ``line``: the innermost project frame, or a syntax error's
    own position)."""

    def __init__(self, name: str, cause: BaseException | str, root: Path | None = None):
        self.name = name
        self.file: str | None = None
        self.line: int | None = None
        if isinstance(cause, str):
            self.reason = cause
        else:
            self.reason = f"{type(cause).__name__}: {_cause_text(cause)}"
            self.file, self.line = error_location(cause, root)
        where = f" ({self.file}:{self.line})" if self.file else ""
        super().__init__(f"sub-app '{name}' failed to load: {self.reason}{where}")


def _cause_text(exc: BaseException) -> str:
    # A SyntaxError's str() repeats its position as "(router.py, line 5)"; the location says it.
    return exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)


def error_location(exc: BaseException, root: Path | None = None) -> tuple[str | None, int | None]:
    """Where ``exc`` comes from: a syntax error's file and line, else the innermost frame of
    its traceback under ``root`` (the project), else the innermost frame. Paths under
    ``root`` are given relative to it."""
    file: str | None = None
    line: int | None = None
    if isinstance(exc, SyntaxError) and exc.filename:
        file, line = exc.filename, exc.lineno
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        inside = [f for f in frames if root is not None and _under(f.filename, root)]
        chosen = (inside or frames or [None])[-1]
        if chosen is not None:
            file, line = chosen.filename, chosen.lineno
    if file and root is not None and _under(file, root):
        file = str(Path(file).resolve().relative_to(root.resolve()))
    return file, line


def _under(path: str, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


@dataclass(frozen=True)
class SubApp:
    name: str
    router: APIRouter | None


def add_to_sys_path(*paths: Path) -> None:
    for path in paths:
        text = str(path)
        if text not in sys.path:
            sys.path.insert(0, text)


def sub_app_names(apps_path: Path) -> list[str]:
    if not apps_path.is_dir():
        return []
    return sorted(
        entry.name
        for entry in apps_path.iterdir()
        if entry.is_dir()
        and not entry.name.startswith(("_", "."))
        and (entry / "__init__.py").is_file()
    )


def discover(app_root: Path, apps_dir: str = "app") -> list[SubApp]:
    """Import every sub-app package and return those that are enabled."""
    apps_path = app_root / apps_dir
    # The root makes `app.<name>` importable; the apps dir makes `from items.module import x` work.
    add_to_sys_path(apps_path, app_root)
    found: list[SubApp] = []
    for name in sub_app_names(apps_path):
        module_name = f"{apps_dir}.{name}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - any import error is reported the same way
            raise SubAppError(name, exc, app_root) from exc
        if getattr(module, "__ENABLED__", True) is False:
            logger.info(f"sub-app '{name}' is disabled (__ENABLED__ = False)")
            continue
        router = getattr(module, "router", None)
        if router is None:
            logger.info(f"sub-app '{name}' has no router; imported for its side effects")
        elif not isinstance(router, APIRouter):
            raise SubAppError(name, f"'router' is a {type(router).__name__}, not an APIRouter")
        found.append(SubApp(name=name, router=router))
    return found
