"""Contract of fastflyer/adapters/starlette.py with the installed Starlette (plain ASGI calls)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from importlib.metadata import version

from fastflyer.adapters import starlette as adapter
from starlette.responses import PlainTextResponse
from starlette.routing import NoMatchFound, Route, Router


def changed(what: str) -> str:
    return f"Starlette {version('starlette')} {what}: update fastflyer/adapters/starlette.py"


class Fixed(adapter.BaseRoute):
    """A route of the kind FastFlyer writes: answers ``path`` for GET only."""

    def __init__(self, path: str, text: str):
        self.path, self.text = path, text

    def matches(self, scope):
        if scope["path"] != self.path:
            return adapter.Match.NONE, {}
        full = scope["method"] == "GET"
        return (adapter.Match.FULL if full else adapter.Match.PARTIAL), {"fixed_text": self.text}

    async def handle(self, scope, receive, send):
        status = 200 if scope["method"] == "GET" else 405
        await PlainTextResponse(scope["fixed_text"], status_code=status)(scope, receive, send)

    def url_path_for(self, name, /, **path_params):
        raise NoMatchFound(name, path_params)


def call(app, method: str, path: str) -> tuple[int, bytes]:
    messages: list = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
             "query_string": b"", "http_version": "1.1", "scheme": "http"}
    asyncio.run(app(scope, receive, send))
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


def test_the_route_interface_keeps_its_shape():
    assert {m.name for m in adapter.Match} >= {"NONE", "PARTIAL", "FULL"}, changed("changed Match")
    shapes = {"matches": ["self", "scope"], "handle": ["self", "scope", "receive", "send"],
              "url_path_for": ["self", "name", "path_params"]}
    for name, params in shapes.items():
        method = getattr(adapter.BaseRoute, name, None)
        assert method is not None and list(inspect.signature(method).parameters) == params, \
            changed(f"changed BaseRoute.{name} (expected parameters {params})")


def test_a_router_hands_a_request_to_the_first_full_match_else_the_first_partial():
    router = Router([Fixed("/x", "first"), Fixed("/x", "second"), Fixed("/y", "y")])
    assert call(router, "GET", "/x") == (200, b"first"), changed(
        "no longer hands a request to the first route whose matches() is FULL")
    assert call(router, "POST", "/y") == (405, b"y"), changed(
        "no longer hands a request to a PARTIAL match (with its child scope) when none is FULL")
    assert call(router, "GET", "/z")[0] == 404


def test_routes_keep_their_template_and_parameters():
    async def endpoint(request):
        return PlainTextResponse("")

    route = Route("/items/{item_id:int}", endpoint)
    assert adapter.path_template(route) == "/items/{item_id}", changed(
        "changed Route.path_format")
    assert adapter.path_template(Route("/about", endpoint)) == "/about"
    assert adapter.has_path_parameters(route) and not adapter.has_path_parameters(
        Route("/about", endpoint)), changed("changed Route.param_convertors")


def test_a_router_runs_the_lifespan_it_holds_when_the_lifespan_starts():
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def given(app):
        events.append("given")
        yield

    @contextlib.asynccontextmanager
    async def replaced(app):
        events.append("replaced")
        yield

    router = Router(lifespan=given)
    assert adapter.lifespan(router) is given, changed("no longer keeps Router.lifespan_context")
    adapter.set_lifespan(router, replaced)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(router({"type": "lifespan", "state": {}}, receive, send))
    assert events == ["replaced"], changed("no longer runs Router.lifespan_context at start-up")
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
