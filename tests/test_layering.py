"""The package's layout is its architecture: other libraries' internals are reached only through
``fastflyer.adapters`` (one module per library, each with a contract test), and layers import
downwards only. Both read the source with ``ast``, imports inside functions included."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "runtime" / "fastflyer"
ADAPTERS = PACKAGE / "adapters"
# Files of the projects `fastflyer new` writes: the user's code, not FastFlyer's.
TEMPLATES = PACKAGE / "templates"

# Modules (or names in them) that their libraries do not document, though their names have no
# underscore. Underscore modules and names of every other library are internal too.
INTERNAL = (
    "uvicorn.protocols", "uvicorn.server", "uvicorn.supervisors", "uvicorn.lifespan",
    "uvicorn.loops", "uvicorn_worker",
    "gunicorn.glogging", "gunicorn.arbiter", "gunicorn.workers",
    "prometheus_client.mmap_dict", "prometheus_client.values",
    "dataset.util",
    "fastapi.routing.iter_route_contexts",
    "granian.server", "granian.log", "granian.net", "granian.asgi",
)
# Keys of another library's entries in an ASGI scope (read through adapters/fastapi.py).
INTERNAL_SCOPE_KEYS = {"fastapi", "effective_route_context"}
# Single-underscore names read off objects that are not FastFlyer's, which are nonetheless
# allowed: {name: reason}. Keep it short; prefer an adapter.
ALLOWED_PRIVATE = {
    "_exit": "os._exit() is documented: a forked child leaves without running the parent's exit code",
}
OUR_PREFIX = "_fastflyer"  # FastFlyer's own attributes set on another library's objects

SDK = ("httpclient", "scheduler", "cache", "database", "schemas", "status")
# (modules whose dotted name starts with this, may not import modules starting with these)
LAYERS = [
    ("fastflyer.application", ("fastflyer.server",)),
    ("fastflyer.observability", ("fastflyer.application", "fastflyer.server")),
    *((f"fastflyer.{sdk}", ("fastflyer.server", "fastflyer.application")) for sdk in SDK),
]
# Adapters sit below everything: besides their own library, at most FastFlyer's ASGI types.
ADAPTER_IMPORTS = ("fastflyer.types",)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(exclude: tuple[Path, ...] = (ADAPTERS, TEMPLATES)) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if not any(path.is_relative_to(part) for part in exclude):
            yield path, ast.parse(path.read_text(), str(path))


def imported(path: Path, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of every import: ``from a.b import c`` gives ``a.b.c``."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(PACKAGE.parent.parent)}:{line}"


# --- (a) other libraries' internals only through fastflyer.adapters ---------------------


def is_internal(name: str) -> bool:
    """``name`` (a module, or a name in one) is another library's internal."""
    if name.startswith(("fastflyer.", "__future__.")):
        return False
    return any(name == p or name.startswith(f"{p}.") for p in INTERNAL) or any(
        is_private(part) for part in name.split("."))


def internal_keys(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``x["key"]`` and ``x.get("key", ...)`` with a key of :data:`INTERNAL_SCOPE_KEYS`."""
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "get" and node.args and isinstance(node.args[0], ast.Constant)):
            key = node.args[0].value
        if key in INTERNAL_SCOPE_KEYS:
            yield node.lineno, key


def test_no_module_imports_another_librarys_internals():
    found = [f"{where(path, line)} imports {name}" for path, tree in sources()
             for line, name in imported(path, tree) if is_internal(name)]
    assert not found, "import these through fastflyer.adapters:\n  " + "\n  ".join(found)


def test_no_module_reads_fastapis_entries_of_the_scope():
    found = [f"{where(path, line)} reads [{key!r}]" for path, tree in sources()
             for line, key in internal_keys(tree)]
    assert not found, "read these through fastflyer.adapters:\n  " + "\n  ".join(found)


def own_private_names() -> set[str]:
    """Single-underscore names FastFlyer defines itself: functions, classes, module and class
    variables, ``__slots__``, and attributes it sets on ``self``/``cls``."""
    names: set[str] = set()
    for _, tree in sources(exclude=(ADAPTERS,)):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                names.add(node.attr)
            elif (isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets)):
                names.update(c.value for c in ast.walk(node.value)
                             if isinstance(c, ast.Constant) and isinstance(c.value, str))
    return {name for name in names if is_private(name)}


def foreign_private_names(bases: list[type]) -> set[str]:
    """Single-underscore names that classes of other libraries among ``bases`` (and their own
    bases) define or set on ``self``: FastFlyer's subclasses must not use or reuse them."""
    names: set[str] = set()
    for base in bases:
        for cls in base.__mro__:
            if cls is object or cls.__module__.split(".")[0] == "fastflyer":
                continue
            names.update(name for name in vars(cls) if is_private(name))
            try:
                source = inspect.getsource(cls)
            except (OSError, TypeError):  # built in, or no source shipped
                continue
            names.update(n for n in re.findall(r"\bself\.(_\w+)", source) if is_private(n))
    return names


def namespace_of(path: Path, tree: ast.Module) -> dict[str, object]:
    """The module's globals plus the names its functions import (classes may be defined
    inside functions)."""
    namespace = dict(vars(importlib.import_module(module_name(path))))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                namespace.setdefault(alias.asname or top, importlib.import_module(
                    alias.name if alias.asname else top))
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for alias in node.names:
                if (alias.asname or alias.name) not in namespace:
                    module = importlib.import_module(node.module)
                    namespace[alias.asname or alias.name] = getattr(module, alias.name)
    return namespace


def class_bases(tree: ast.Module, namespace: dict[str, object]) -> dict[ast.ClassDef, list[type]]:
    """The base classes of every class in ``tree``, evaluated in ``namespace``."""
    classes: dict[ast.ClassDef, list[type]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            values = [eval(ast.unparse(base), namespace) for base in node.bases]
            # Generic[T] and DataResponse[T] stand for their origin class.
            classes[node] = [v for v in (getattr(v, "__origin__", v) for v in values)
                             if isinstance(v, type)]
    return classes


def attributes(tree: ast.AST) -> Iterator[tuple[int, ast.expr, str]]:
    """``(line, object, name)`` of every attribute used: ``x.name`` and ``getattr(x, "name")``
    (``hasattr``, ``setattr``, ``delattr`` too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            yield node.lineno, node.value, node.attr
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str)):
            yield node.lineno, node.args[0], node.args[1].value


def on_self(value: ast.expr) -> bool:
    """``self.x``, ``cls.x`` or ``super().x``."""
    return (isinstance(value, ast.Name) and value.id in ("self", "cls")) or (
        isinstance(value, ast.Call) and ast.unparse(value.func) == "super")


def private_uses(path: Path, tree: ast.Module, own: set[str],
                 namespace: dict[str, object]) -> Iterator[str]:
    for cls, cls_bases in class_bases(tree, namespace).items():
        foreign = foreign_private_names(cls_bases)
        for line, value, name in attributes(cls):
            if is_private(name) and on_self(value) and name in foreign:
                yield (f"{where(path, line)} {cls.name} uses {name}, a private name "
                       "of a class it inherits from another library")
    for line, value, name in attributes(tree):
        if not is_private(name) or on_self(value):  # on self: checked above, per class
            continue
        if name in own or name.startswith(OUR_PREFIX) or name in ALLOWED_PRIVATE:
            continue
        yield f"{where(path, line)} reads {ast.unparse(value)}.{name}"


def test_no_module_uses_private_names_of_other_libraries_objects():
    own = own_private_names()
    found = [use for path, tree in sources()
             for use in private_uses(path, tree, own, namespace_of(path, tree))]
    assert not found, "go through fastflyer.adapters instead:\n  " + "\n  ".join(found)


# --- (b) layers import downwards only ------------------------------------------------------


@pytest.mark.parametrize(("layer", "forbidden"), LAYERS, ids=[layer for layer, _ in LAYERS])
def test_a_layer_does_not_import_the_layers_above_it(layer, forbidden):
    found = []
    for path, tree in sources(exclude=(TEMPLATES,)):
        name = module_name(path)
        if name != layer and not name.startswith(f"{layer}."):
            continue
        for line, target in imported(path, tree):
            if any(target == f or target.startswith(f"{f}.") for f in forbidden):
                found.append(f"{where(path, line)} imports {target}")
    assert not found, f"{layer} must not import {' or '.join(forbidden)}:\n  " + "\n  ".join(found)


def test_adapters_import_no_other_fastflyer_module():
    found = []
    for path, tree in sources(exclude=(TEMPLATES,)):
        if not path.is_relative_to(ADAPTERS):
            continue
        for line, target in imported(path, tree):
            if target.startswith("fastflyer.") and not target.startswith(
                    ("fastflyer.adapters.", *ADAPTER_IMPORTS)):
                found.append(f"{where(path, line)} imports {target}")
    assert not found, "adapters sit below the rest of FastFlyer:\n  " + "\n  ".join(found)


def test_the_checks_see_what_they_look_for():
    """The scans above find real offences (so that an empty result means something)."""
    sample = ast.parse(
        "from loguru._logger import Logger\nfrom uvicorn.server import Server\n"
        "from fastapi.routing import iter_route_contexts\nfrom fastflyer.server import serve\n"
        "def f(scope, h):\n    h._sum.inc(1)\n    return scope['fastapi']\n")
    path = PACKAGE / "application" / "example.py"
    names = [name for _, name in imported(path, sample)]
    assert names == ["loguru._logger.Logger", "uvicorn.server.Server",
                     "fastapi.routing.iter_route_contexts", "fastflyer.server.serve"]
    assert [is_internal(name) for name in names] == [True, True, True, False]
    assert not is_internal("fastapi.routing.APIRoute") and not is_internal("uvicorn.config.Config")
    assert list(internal_keys(sample)) == [(7, "fastapi")]
    relative = ast.parse("from ..server import common\nfrom . import errors\n")
    assert [n for _, n in imported(path, relative)] == [
        "fastflyer.server.common", "fastflyer.application.errors"]
    code = ast.parse(
        "from apscheduler.schedulers.asyncio import AsyncIOScheduler\n"
        "class Flyer(AsyncIOScheduler):\n"
        "    _started = False\n"
        "    def start(self):\n"
        "        self._eventloop = None\n"
        "        super()._stop_timer()\n"
        "        return self._started, histogram._sum, os._exit, getattr(router, '_routes')\n")
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    uses = list(private_uses(path, code, {"_started"}, {"AsyncIOScheduler": AsyncIOScheduler}))
    assert [use.split(" ", 1)[1] for use in uses] == [
        "Flyer uses _eventloop, a private name of a class it inherits from another library",
        "Flyer uses _stop_timer, a private name of a class it inherits from another library",
        "reads histogram._sum",
        "reads router._routes",
    ]
