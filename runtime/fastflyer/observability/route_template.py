"""The route template a request matched (``/flyer/items/{item_id}``), for logs and metrics:
the raw path would turn every id into its own label."""

from __future__ import annotations

from fastflyer.adapters.fastapi import matched_route
from fastflyer.adapters.starlette import path_template
from fastflyer.types import Scope


def route_template(scope: Scope) -> str | None:
    """The matched template, or None when no route matched (e.g. a 404)."""
    route = matched_route(scope)
    return None if route is None else path_template(route)
