"""Sub-app routers are copied onto the app as flat routes, and FastFlyer's own endpoints are
grouped: the result must behave and document exactly as FastAPI's include_router would."""

from __future__ import annotations

import sys

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException
from fastapi.routing import APIRoute
from fastflyer.application.factory import create_app
from fastflyer.application.routing import FixedPathRoutes, mount_router
from fastflyer.settings import load_settings
from pydantic import BaseModel
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.projects import write_project


class Thing(BaseModel):
    id: int
    name: str


def require_token(x_token: str = Header(...)) -> None:
    if x_token != "secret":
        raise HTTPException(403, "bad token")


def seen_by(name: str):
    def dependency(x_trail: str | None = Header(None)) -> str:
        return name

    return dependency


def seed_style_router() -> APIRouter:
    """Like the seed's users app: router files with their own prefixes, tags and
    dependencies, aggregated into one router that adds more."""
    things = APIRouter(prefix="/things", tags=["Things"], dependencies=[Depends(require_token)],
                       responses={418: {"description": "teapot"}})

    @things.get("/{thing_id}", response_model=Thing, summary="One thing")
    async def read_thing(thing_id: int, who: str = Depends(seen_by("things"))):
        """Reads a thing."""
        return {"id": thing_id, "name": who}

    @things.post("", response_model=Thing, status_code=201)
    async def create_thing(thing: Thing):
        return thing

    @things.get("/old", deprecated=True, include_in_schema=True)
    async def old_thing():
        return {"old": True}

    hidden = APIRouter(prefix="/hidden", include_in_schema=False)

    @hidden.get("/ping")
    async def ping():
        return {"pong": True}

    aggregate = APIRouter(tags=["Aggregate"])
    aggregate.include_router(things)
    aggregate.include_router(hidden, prefix="/inner")

    @aggregate.get("/direct", operation_id="direct_op")
    def direct():
        return {"direct": True}

    return aggregate


def served(mount: str) -> FastAPI:
    app = FastAPI()
    router = seed_style_router()
    if mount == "flat":
        assert mount_router(app, router, prefix="/flyer") is True
    else:
        app.include_router(router, prefix="/flyer")
    return app


def test_flat_routes_document_exactly_as_include_router():
    flat, nested = served("flat"), served("nested")
    assert all(isinstance(r, APIRoute) for r in flat.router.routes if r.path.startswith("/flyer"))
    assert flat.openapi() == nested.openapi()


@pytest.mark.parametrize("mount", ["flat", "nested"])
def test_flat_routes_behave_as_include_router(mount):
    with TestClient(served(mount)) as client:
        assert client.get("/flyer/things/3").status_code == 422  # router dependency: header missing
        assert client.get("/flyer/things/3", headers={"x-token": "no"}).status_code == 403
        r = client.get("/flyer/things/3", headers={"x-token": "secret"})
        assert r.status_code == 200 and r.json() == {"id": 3, "name": "things"}
        r = client.post("/flyer/things", json={"id": 1, "name": "a"}, headers={"x-token": "secret"})
        assert r.status_code == 201
        assert client.get("/flyer/inner/hidden/ping").json() == {"pong": True}
        assert client.get("/flyer/direct").json() == {"direct": True}
        assert client.delete("/flyer/direct").status_code == 405


@pytest.mark.parametrize("root_path", ["", "/api"])
def test_fixed_paths_turned_away_early_answer_as_include_router(root_path):
    """Copied routes without path parameters reject other paths with one comparison; every
    answer stays FastAPI's, including its corner cases."""
    flat = served("flat")
    shortcut = [r for r in flat.router.routes if getattr(r, "_fixed_paths", None)]
    assert {r.path for r in shortcut} == {"/flyer/things", "/flyer/things/old",
                                          "/flyer/inner/hidden/ping", "/flyer/direct"}
    requests = [("GET", "/flyer/direct"), ("GET", "/flyer/direct/"), ("GET", "/flyer/direct%0A"),
                ("DELETE", "/flyer/direct"), ("GET", "/flyer/things"), ("GET", "/flyer/things/7"),
                ("GET", "/flyer/things/old"), ("GET", "/flyer/inner/hidden/ping"),
                ("GET", "/flyer/nothing")]
    answers = {}
    for mount, app in (("flat", flat), ("nested", served("nested"))):
        with TestClient(app, root_path=root_path, follow_redirects=False) as client:
            answers[mount] = [
                (r.status_code, r.headers.get("location"), r.content)
                for r in (client.request(method, root_path + url, headers={"x-token": "secret"})
                          for method, url in requests)]
    assert answers["flat"] == answers["nested"]
    assert [status for status, _, _ in answers["flat"]] == [200, 307, 200, 405, 405, 200, 422,
                                                            200, 404]


def lifecycle_events(mount: str) -> list[str]:
    events: list[str] = []

    async def lifespan(app):
        events.append("lifespan start")
        yield {"from_router": True}
        events.append("lifespan end")

    inner = APIRouter(on_startup=[lambda: events.append("inner startup")])
    router = APIRouter(lifespan=lifespan, on_startup=[lambda: events.append("startup")],
                       on_shutdown=[lambda: events.append("shutdown")])
    router.include_router(inner)

    @router.get("/x")
    async def x():
        return {}

    app = FastAPI(on_startup=[lambda: events.append("app startup")])
    if mount == "flat":
        assert mount_router(app, router, prefix="/flyer")
    else:
        app.include_router(router, prefix="/flyer")
    with TestClient(app) as client:
        assert client.get("/flyer/x").status_code == 200
        events.append("served")
    return events


def test_a_mounted_routers_startup_and_lifespan_run_as_with_include_router():
    flat = lifecycle_events("flat")
    assert {"app startup", "startup", "inner startup", "lifespan start", "served", "shutdown",
            "lifespan end"} <= set(flat)
    assert flat == lifecycle_events("nested")


def test_a_router_with_other_route_kinds_is_included_as_it_is():
    router = APIRouter()

    async def plain(request):
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("plain")

    router.routes.append(Route("/plain", plain))

    @router.get("/api")
    async def api():
        return {"api": True}

    app = FastAPI()
    assert mount_router(app, router, prefix="/flyer") is False
    with TestClient(app) as client:
        assert client.get("/flyer/plain").text == "plain"
        assert client.get("/flyer/api").json() == {"api": True}



def test_a_router_that_includes_frontend_routes_is_included_as_it_is(tmp_path):
    # FastAPI matches frontend routes after all others, from the router that declared them.
    (tmp_path / "index.html").write_text("<p>ui</p>")
    ui = APIRouter()
    ui.frontend("/ui", directory=str(tmp_path))
    router = APIRouter()
    router.include_router(ui)

    @router.get("/api")
    async def api():
        return {"api": True}

    app = FastAPI()
    assert mount_router(app, router, prefix="/flyer") is False
    with TestClient(app) as client:
        assert client.get("/flyer/ui/").text == "<p>ui</p>"
        assert client.get("/flyer/api").json() == {"api": True}

CATCH_ALL_PROJECT = {
    "app/__init__.py": "",
    "app/pages/__init__.py": "from .router import router\n",
    "app/pages/router.py": (
        "from fastflyer import APIRouter\n"
        "router = APIRouter()\n"
        "@router.get('/{name}')\n"
        "async def page(name: str):\n"
        "    return {'page': name}\n"
    ),
}


@pytest.fixture
def catch_all_project(tmp_path):
    write_project(tmp_path, CATCH_ALL_PROJECT)
    yield tmp_path
    # The sub-app is imported as `app.pages`: forget it, as other tests import their own `app`.
    for name in list(sys.modules):
        if name == "app" or name.startswith("app."):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path))]


def test_builtin_endpoints_come_first_and_a_catch_all_route_does_not_shadow_them(catch_all_project):
    tmp_path = catch_all_project
    app = create_app(load_settings(app_root=tmp_path, access_log=False))
    first = app.router.routes[0]
    assert isinstance(first, FixedPathRoutes)
    with TestClient(app) as client:
        assert client.get("/flyer/docs").headers["content-type"].startswith("text/html")
        assert client.get("/flyer/openapi.json").json()["openapi"].startswith("3.")
        assert client.get("/flyer/static/swagger-ui/swagger-ui.css").status_code == 200
        assert client.get("/flyer/static/nope.css").status_code == 404
        assert client.post("/flyer/docs").status_code == 405
        assert client.get("/", follow_redirects=False).headers["location"] == "/flyer/docs"
        assert client.get("/flyer/anything").json() == {"page": "anything"}
        assert client.get("/flyer/health_check").json()["code"] == 200
    assert app.url_path_for("fastflyer-static", path="x.css") == "/flyer/static/x.css"
    paths = app.openapi()["paths"]
    assert "/flyer/{name}" in paths and "/health_check" in paths
