"""The route template a request matched (``/flyer/items/{item_id}``), for logs and metrics:
the raw path would turn every id into its own label."""

from __future__ import annotations

from .types import Scope


def route_template(scope: Scope) -> str | None:
    """The matched template, or None when no route matched (e.g. a 404)."""
    # FastAPI >= 0.160 keeps included routers as they are and records the effective route.
    effective = scope.get("fastapi", {}).get("effective_route_context")
    if effective is not None:
        return getattr(effective, "path_format", None) or getattr(effective, "path", None)
    route = scope.get("route")
    if route is None:
        return None
    return getattr(route, "path_format", None) or getattr(route, "path", None)
