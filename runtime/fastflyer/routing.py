"""``fastflyer.APIRouter`` (FastAPI's router, so sub-apps depend only on fastflyer), and how
the app mounts a sub-app's router: as flat routes.

Since FastAPI 0.160, ``include_router`` keeps each included router nested: every request is
matched against every included router, twice (once to find it, once to run it), which costs
about 20 µs per request on the demo's item route, a fifth of a whole request. FastFlyer builds
its route table once at start-up, so it copies each ``APIRoute`` of a sub-app onto the app with
``add_api_route``, the way ``include_router`` itself worked before 0.160. Routers this cannot
copy faithfully (other route kinds, form limits, FastAPI's frontend routes) are included the
normal way.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

SELECTED_KEY = "fastflyer.selected_route"

# Arguments of add_api_route that are stored under the same name on the route (the set
# differs between FastAPI versions; the route's value is the one its own router resolved).
_NOT_COPIED = {"self", "path", "endpoint", "route_class_override"}
_COPIED = tuple(
    name for name in inspect.signature(APIRouter.add_api_route).parameters if name not in _NOT_COPIED
)
_DEFAULT_LIFESPAN = type(APIRouter().lifespan_context)


def _route_options(route: APIRoute, resolved: Any) -> dict[str, Any]:
    """add_api_route's arguments for ``route``, read from ``resolved`` (the route as its
    routers resolved it: prefixes, tags, dependencies...), else from the route itself."""
    options: dict[str, Any] = {}
    for name in _COPIED:
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
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.160 (nested routers)
    except ImportError:  # older FastAPI copied included routes itself
        contexts: list[tuple[Any, Any]] = [(route, route) for route in router.routes]
    else:
        contexts = [(c.original_route, c) for c in iter_route_contexts(router.routes)]
    if getattr(router, "form_limits", None) or getattr(router, "_low_priority_routes", None) \
            or getattr(router, "_frontend_routes", None) is not None:
        return None
    flat = []
    for route, resolved in contexts:
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


def mount_router(app: FastAPI, router: APIRouter, prefix: str = "") -> bool:
    """Add ``router``'s routes to ``app`` under ``prefix``; True when they were copied flat,
    False when the router was included the normal (nested) way."""
    flat = flat_routes(router)
    if flat is None:
        app.include_router(router, prefix=prefix)
        return False
    for route, path, endpoint, options in flat:
        app.router.add_api_route(prefix + path, endpoint, route_class_override=type(route), **options)
    # Start-up and shutdown exactly as include_router arranges them: the router's handlers
    # join the app's, and its lifespan (with those of the routers it includes) runs inside.
    for handler in router.on_startup:
        app.router.add_event_handler("startup", handler)
    for handler in router.on_shutdown:
        app.router.add_event_handler("shutdown", handler)
    if router.on_startup or router.on_shutdown or type(router.lifespan_context) is not _DEFAULT_LIFESPAN:
        app.router.lifespan_context = _merged_lifespan(app.router.lifespan_context,
                                                       router.lifespan_context)
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
            if isinstance(route, Route) and route.param_convertors:
                raise ValueError(f"{route.path} has path parameters; only fixed paths belong here")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        if not (self._may_match(scope["path"]) or self._may_match(_without_root(scope))):
            return Match.NONE, {}
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                return match, {**child_scope, SELECTED_KEY: route}
            if match == Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            return Match.PARTIAL, {**partial[1], SELECTED_KEY: partial[0]}
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
