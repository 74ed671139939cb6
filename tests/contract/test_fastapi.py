"""Contract of fastflyer/adapters/fastapi.py with the installed FastAPI (in-process requests)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from importlib.metadata import version

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from fastflyer.adapters import fastapi as adapter
from fastflyer.adapters import starlette as starlette_adapter
from fastflyer.adapters.starlette import path_template


def changed(what: str) -> str:
    return f"FastAPI {version('fastapi')} {what}: update fastflyer/adapters/fastapi.py"


def tagged() -> str:
    return "tagged"


def item(item_id: int) -> dict:
    return {"item_id": item_id}


def nested_routers() -> tuple[APIRouter, APIRouter]:
    """``outer`` includes ``inner`` with a prefix, tags and a dependency of its own."""
    inner = APIRouter(prefix="/in", tags=["inner"])
    inner.add_api_route("/items/{item_id}", item, methods=["GET"], summary="One item")
    outer = APIRouter()
    outer.include_router(inner, prefix="/o", tags=["outer"], dependencies=[Depends(tagged)])
    return outer, inner


def test_add_api_route_options_are_kept_on_the_route_by_name():
    router = APIRouter()
    router.add_api_route("/x", item, methods=["GET"])
    (route,) = router.routes
    assert "summary" in adapter.ROUTE_OPTIONS and "path" not in adapter.ROUTE_OPTIONS
    missing = [name for name in adapter.ROUTE_OPTIONS if not hasattr(route, name)]
    assert not missing, changed(f"no longer keeps add_api_route's {missing} on APIRoute by name")


def test_route_contexts_resolve_the_routes_of_included_routers():
    outer, _ = nested_routers()
    contexts = adapter.route_contexts(outer)
    assert len(contexts) == 1, changed("changed fastapi.routing.iter_route_contexts()")
    route, resolved = contexts[0]
    assert isinstance(route, APIRoute), changed(
        "gives contexts whose original_route is not the APIRoute (iter_route_contexts)")
    assert (resolved.path, resolved.endpoint) == ("/o/in/items/{item_id}", item), changed(
        "resolves routes of included routers differently (path, endpoint)")
    assert set(resolved.tags) == {"outer", "inner"} and len(resolved.dependencies) == 1, changed(
        "resolves routes of included routers differently (tags, dependencies)")
    for name in adapter.ROUTE_OPTIONS:
        assert hasattr(resolved, name) or hasattr(route, name), changed(
            f"has neither a resolved nor a route value for add_api_route's {name}")


def test_included_routers_are_found_where_fastapi_keeps_them():
    outer, inner = nested_routers()
    kept_nested = [route for route in outer.routes if not isinstance(route, APIRoute)]
    assert all(getattr(route, "original_router", None) is inner for route in kept_nested), \
        changed("keeps an included router in APIRouter.routes without original_router")
    assert adapter.included_routers(outer) == ([inner] if kept_nested else []), changed(
        "keeps included routers elsewhere")


def test_router_level_routes_and_limits_are_found(tmp_path):
    router = APIRouter()
    assert adapter.low_priority_routes(router) == [] and adapter.form_limits(router) == {}
    if hasattr(router, "frontend"):
        (tmp_path / "index.html").write_text("<p>ui</p>")
        router.frontend("/ui", directory=str(tmp_path))
        assert adapter.low_priority_routes(router), changed(
            "no longer keeps frontend() routes in APIRouter._low_priority_routes")
    if "form_limits" in inspect.signature(APIRouter).parameters:
        limited = APIRouter(form_limits={"max_files": 1})
        assert adapter.form_limits(limited) == {"max_files": 1}, changed(
            "no longer keeps APIRouter(form_limits=...) in APIRouter.form_limits")


def test_a_router_without_lifespan_has_the_default_one_running_its_handlers():
    started: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield

    plain = APIRouter(on_startup=[lambda: started.append("handler")])
    assert adapter.has_default_lifespan(plain), changed(
        "gives routers made without lifespan a lifespan of another class")
    assert not adapter.has_default_lifespan(APIRouter(lifespan=lifespan))

    async def run() -> None:
        async with starlette_adapter.lifespan(plain)(FastAPI()):
            pass

    asyncio.run(run())
    assert started == ["handler"], changed("no longer runs on_startup from the default lifespan")


def matched_templates(app: FastAPI) -> list[str | None]:
    """The template an outer ASGI layer finds for a request after the app answered it."""
    seen: list[str | None] = []

    async def outer_layer(scope, receive, send):
        await app(scope, receive, send)
        if scope["type"] == "http":
            route = adapter.matched_route(scope)
            seen.append(None if route is None else path_template(route))

    with TestClient(outer_layer) as client:
        assert client.get("/o/in/items/3").json() == {"item_id": 3}
        assert client.get("/nowhere").status_code == 404
    return seen


def test_the_matched_route_is_found_in_the_scope_after_the_request():
    nested = FastAPI()
    nested.include_router(nested_routers()[0])
    assert matched_templates(nested) == ["/o/in/items/{item_id}", None], changed(
        'changed scope["fastapi"]["effective_route_context"] (or scope["route"])')
    flat = FastAPI()
    flat.add_api_route("/o/in/items/{item_id}", item, methods=["GET"])
    assert matched_templates(flat) == ["/o/in/items/{item_id}", None], changed(
        'no longer puts the matched APIRoute in scope["route"]')
