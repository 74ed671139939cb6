"""``fastflyer.APIRouter`` (FastAPI's router, so sub-apps depend only on fastflyer), and how
the app mounts a sub-app's router: as flat routes.

FastAPI's ``include_router`` keeps each included router nested: every request is matched
against every included router, twice (once to find it, once to run it), about 20 µs per
request on the demo's item route, a fifth of a whole request. FastFlyer builds its route
table once at start-up, so it copies each ``APIRoute`` of a sub-app onto the app with
``add_api_route``. Routers this cannot
copy faithfully (other route kinds, form limits, FastAPI's frontend routes) are included the
normal way.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from fastflyer.adapters import fastapi as fastapi_adapter
from fastflyer.adapters import starlette as starlette_adapter
from fastflyer.adapters.starlette import BaseRoute, Match

SELECTED_KEY = "fastflyer.selected_route"


def _route_options(route: APIRoute, resolved: Any) -> dict[str, Any]:
    """add_api_route's arguments for ``route``, read from ``resolved`` (the route as its
    routers resolved it: prefixes, tags, dependencies...), else from the route itself."""
    options: dict[str, Any] = {}
    for name in fastapi_adapter.ROUTE_OPTIONS:
        try:
            options[name] = getattr(resolved, name)
        except AttributeError:
            if hasattr(route, name):
                options[name] = getattr(route, name)
    return options


def flat_routes(router: APIRouter) -> list[tuple[APIRoute, str, Any, dict[str, Any]]] | None:
    """``(route, path, endpoint, options)`` for every route of ``router``, through the
    routers it includes itself; None when some part cannot be copied route by route (another
    kind of route, form limits, FastAPI's frontend routes)."""
    for part in (router, *fastapi_adapter.included_routers(router)):
        # Applied by the router (nested) around its routes, not by the routes themselves.
        if fastapi_adapter.form_limits(part) or fastapi_adapter.low_priority_routes(part):
            return None
    flat = []
    for route, resolved in fastapi_adapter.route_contexts(router):
        if not isinstance(route, APIRoute):
            return None
        flat.append((route, resolved.path, resolved.endpoint, _route_options(route, resolved)))
    return flat


def _merged_lifespan(outer: Any, inner: Any) -> Any:
    """The app's lifespan around a mounted router's own (as include_router merges them)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        async with outer(app) as outer_state, inner(app) as inner_state:
            if outer_state is None and inner_state is None:
                yield None
            else:
                yield {**(inner_state or {}), **(outer_state or {})}

    return lifespan


class _FixedPathRoute:
    """Mixed into the class of a copied route whose path has no parameters: a request for
    another path is turned away with one comparison instead of FastAPI's and Starlette's whole
    matching (a route table is tried in order, so every fixed path in front of the matching
    route cost a full match: 5 of them on the demo's item route)."""

    path: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Starlette's pattern for a fixed path is ``^path$``; ``$`` also matches before a
        # final newline (``%0A``), so that spelling still goes the whole way.
        self._fixed_paths = (self.path, self.path + "\n")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["path"] not in self._fixed_paths and not scope.get("root_path"):
            return Match.NONE, {}
        return super().matches(scope)  # type: ignore[misc]


_fixed_path_classes: dict[type[APIRoute], type[APIRoute]] = {}


def _route_class(route: APIRoute, path: str) -> type[APIRoute]:
    """The class to copy ``route`` to ``path`` with: its own, with the fixed-path shortcut
    when the path has no parameters (Starlette's are all in braces) and the class matches
    paths as APIRoute does."""
    cls = type(route)
    if "{" in path or cls.matches is not APIRoute.matches:
        return cls
    if cls not in _fixed_path_classes:
        _fixed_path_classes[cls] = type(cls.__name__, (_FixedPathRoute, cls), {
            "__module__": cls.__module__, "__qualname__": cls.__qualname__})
    return _fixed_path_classes[cls]


def mount_router(app: FastAPI, router: APIRouter, prefix: str = "") -> bool:
    """Add ``router``'s routes to ``app`` under ``prefix``; True when they were copied flat,
    False when the router was included the normal (nested) way."""
    flat = flat_routes(router)
    if flat is None:
        app.include_router(router, prefix=prefix)
        return False
    for route, path, endpoint, options in flat:
        full_path = prefix + path
        app.router.add_api_route(full_path, endpoint,
                                 route_class_override=_route_class(route, full_path), **options)
    # Start-up and shutdown exactly as include_router arranges them: the router's handlers
    # join the app's, and its lifespan (with those of the routers it includes) runs inside.
    for handler in router.on_startup:
        app.router.add_event_handler("startup", handler)
    for handler in router.on_shutdown:
        app.router.add_event_handler("shutdown", handler)
    if router.on_startup or router.on_shutdown or not fastapi_adapter.has_default_lifespan(router):
        starlette_adapter.set_lifespan(app.router, _merged_lifespan(
            starlette_adapter.lifespan(app.router), starlette_adapter.lifespan(router)))
    return True


def _without_root(scope: Scope) -> str:
    root = scope.get("root_path", "")
    path: str = scope["path"]
    return path[len(root):] if root and path.startswith(root) else path


class FixedPathRoutes(BaseRoute):
    """FastFlyer's own endpoints (OpenAPI JSON, docs pages, their static files, the ``/``
    redirect) behind one set lookup.

    They come before the project's routes, so that a project's ``/{name}`` route cannot
    shadow the docs. As plain routes every request to the project paid one regular-expression
    match per built-in route (about 3 µs per request, a twentieth of the item route);
    here a request whose path is none of theirs skips them all at once.
    """

    def __init__(self, routes: Sequence[Route | Mount]):
        self.routes = list(routes)
        self.paths = frozenset(r.path for r in self.routes if isinstance(r, Route))
        self.prefixes = tuple(f"{r.path}/" for r in self.routes if isinstance(r, Mount))
        for route in self.routes:
            if isinstance(route, Route) and starlette_adapter.has_path_parameters(route):
                raise ValueError(f"{route.path} has path parameters; only fixed paths belong here")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path = scope["path"]
        if not self._may_match(path):
            bare = _without_root(scope)
            if bare is path or not self._may_match(bare):  # no root_path: the same path again
                return Match.NONE, {}
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.routes:
            match, child_scope = route.matches(scope)
            # "route": the endpoint itself, not this group, so that metrics, logs and traces
            # label the docs pages with their own paths.
            if match == Match.FULL:
                return match, {**child_scope, "route": route, SELECTED_KEY: route}
            if match == Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            return Match.PARTIAL, {**partial[1], "route": partial[0], SELECTED_KEY: partial[0]}
        return Match.NONE, {}

    def _may_match(self, path: str) -> bool:
        return path in self.paths or path.startswith(self.prefixes)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope.pop(SELECTED_KEY).handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)


def arrange_builtin_routes(app: FastAPI, builtin: Sequence[BaseRoute]) -> None:
    """Order the route table for fast matching once the project's routes are in: FastFlyer's
    fixed-path endpoints grouped in front, the project's routes, then the declarations of the
    health checks (answered before routing by the health layer; kept for OpenAPI)."""
    ours = {id(route) for route in builtin}
    fixed = [r for r in builtin if isinstance(r, Route | Mount) and not isinstance(r, APIRoute)]
    declared = [r for r in builtin if isinstance(r, APIRoute)]
    sorted_out = {id(r) for r in (*fixed, *declared)}
    others = [r for r in builtin if id(r) not in sorted_out]
    project = [r for r in app.router.routes if id(r) not in ours]
    app.router.routes[:] = [FixedPathRoutes(fixed), *others, *project, *declared]


__all__ = ["APIRouter", "arrange_builtin_routes", "mount_router"]
