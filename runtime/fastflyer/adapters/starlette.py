"""Starlette names used by FastFlyer's routing (``application/routing.py``, ``route_template.py``)
beyond its documented API.

Checked against Starlette 1.0.0 to 1.10.0. ``tests/contract/test_starlette.py`` fails, naming
the piece, when a release changes one of them.

- ``BaseRoute`` and ``Match``: what a router asks each of its routes, in order:
  ``matches(scope)`` gives ``(Match.FULL | Match.PARTIAL | Match.NONE, child_scope)``; the
  router adds ``child_scope`` to the scope and calls ``handle(scope, receive, send)`` of the
  first full match, else of the first partial one. ``url_path_for(name, /, **params)`` raises
  ``NoMatchFound`` for a name that is not the route's.
- ``Route.path_format`` (the path with ``{param}`` placeholders, the template) and
  ``Route.param_convertors`` (one per path parameter).
- ``Router.lifespan_context``: the lifespan the router runs, ``lifespan_context(app)`` an async
  context manager.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router

CHECKED_VERSIONS = ("1.0.0", "1.10.0")

__all__ = [
    "CHECKED_VERSIONS", "BaseRoute", "Match", "path_template", "has_path_parameters", "lifespan",
    "set_lifespan",
]


def path_template(route: Any) -> str | None:
    """The path template of ``route`` (``/items/{item_id}``); None for a route without a path."""
    return getattr(route, "path_format", None) or getattr(route, "path", None)


def has_path_parameters(route: Route) -> bool:
    return bool(route.param_convertors)


def lifespan(router: Router) -> Any:
    """What ``router`` runs at start-up and shutdown: ``lifespan(router)(app)`` is an async
    context manager."""
    return router.lifespan_context


def set_lifespan(router: Router, lifespan_context: Any) -> None:
    """Make ``router`` run ``lifespan_context`` instead (it is read when the lifespan starts)."""
    router.lifespan_context = lifespan_context
