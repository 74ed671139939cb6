"""FastAPI names used by FastFlyer's routing (``application/routing.py``, ``route_template.py``)
beyond its documented API.

Checked against FastAPI 0.138.0 to 0.165.0. ``tests/contract/test_fastapi.py`` fails, naming
the piece, when a release changes one of them.

- Every argument of ``APIRouter.add_api_route`` but the path, the endpoint and the route class
  is kept on the route under its own name.
- ``fastapi.routing.iter_route_contexts(routes)``: every route of the routers included, as a context with
  ``original_route`` and, under the names above, the route's values as its routers resolved
  them (path with prefixes, tags, dependencies...).
- A router included in another one stays in its ``routes`` as a route whose
  ``original_router`` is the included router.
- ``APIRouter._low_priority_routes``: routes matched after all others, such
  as those of ``APIRouter.frontend()``; ``APIRouter.form_limits`` (FastAPI >= 0.165): limits a
  router applies to the form requests of its routes.
- ``APIRouter().lifespan_context``: for a router made without ``lifespan``, an instance of a
  private class (FastAPI's or Starlette's ``_DefaultLifespan``) that runs its ``on_startup``
  and ``on_shutdown`` handlers.
- ``scope["fastapi"]["effective_route_context"]``: the route a request
  matched inside a nested router, resolved as above; ``scope["route"]`` otherwise.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.routing import iter_route_contexts

from fastflyer.types import Scope

CHECKED_VERSIONS = ("0.138.0", "0.165.0")

__all__ = [
    "CHECKED_VERSIONS", "ROUTE_OPTIONS", "route_contexts", "included_routers", "low_priority_routes",
    "form_limits", "has_default_lifespan", "matched_route",
]

ROUTE_OPTIONS = tuple(
    name for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in {"self", "path", "endpoint", "route_class_override"}
)
_DEFAULT_LIFESPAN = type(APIRouter().lifespan_context)


def route_contexts(router: APIRouter) -> list[tuple[Any, Any]]:
    """``(route, resolved)`` for every route of ``router`` and of the routers it includes:
    ``resolved`` has the route's values as its routers resolved them."""
    return [(context.original_route, context) for context in iter_route_contexts(router.routes)]


def included_routers(router: APIRouter) -> list[APIRouter]:
    """The routers ``router`` includes, and those they include."""
    found: list[APIRouter] = []
    for route in router.routes:
        nested = getattr(route, "original_router", None)
        if isinstance(nested, APIRouter):
            found += [nested, *included_routers(nested)]
    return found


def low_priority_routes(router: APIRouter) -> list[Any]:
    """The routes ``router`` matches after all others."""
    return list(router._low_priority_routes)


def form_limits(router: APIRouter) -> Mapping[str, Any]:
    """The form limits ``router`` applies to its routes (none before FastAPI 0.165)."""
    return getattr(router, "form_limits", None) or {}


def has_default_lifespan(router: APIRouter) -> bool:
    """``router`` was made without ``lifespan``: its lifespan only runs its event handlers."""
    return type(router.lifespan_context) is _DEFAULT_LIFESPAN


def matched_route(scope: Scope) -> Any:
    """The route a request matched, resolved with the prefixes of its routers; None when
    none matched (yet)."""
    effective = scope.get("fastapi", {}).get("effective_route_context")
    return scope.get("route") if effective is None else effective
