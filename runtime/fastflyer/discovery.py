"""Find the project's sub-apps: one package per directory under ``<root>/app``.

Each package is imported as ``app.<name>`` in sorted order. A package exposing ``router`` is
mounted; ``__ENABLED__ = False`` skips it; one without ``router`` is imported only for its
side effects (e.g. it registers scheduled jobs). A package that fails to import stops the
start-up, naming it: silently dropping routes would be worse than not starting.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter

from .logs import logger


class SubAppError(Exception):
    """A sub-app could not be loaded; the message names it and the cause."""

    def __init__(self, name: str, cause: BaseException | str):
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"sub-app '{name}' failed to load: {reason}")
        self.name = name


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
            raise SubAppError(name, exc) from exc
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
