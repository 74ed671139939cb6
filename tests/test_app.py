"""The app factory in-process: discovery, envelope, errors, request id, docs."""

from __future__ import annotations

import re
import sys

import pytest
from fastflyer.application.discovery import SubAppError
from fastflyer.application.factory import create_app
from fastflyer.settings import load_settings
from starlette.testclient import TestClient

from tests.projects import BROKEN_SUBAPP, SEED_STYLE, write_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    write_project(tmp_path, SEED_STYLE)
    yield tmp_path
    # Sub-apps are imported as `app.<name>` and `settings`: forget them between tests.
    for name in list(sys.modules):
        if name in ("app", "settings", "main", "shop", "jobs") or name.startswith(("app.", "shop.")):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path))]


@pytest.fixture
def client(project):
    app = create_app(load_settings(app_root=project, access_log=False))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_health_checks(client):
    for path in ("/health_check", "/health_check/async", "/flyer/health_check"):
        r = client.get(path)
        assert r.status_code == 200 and r.json() == {"code": 200, "message": "success"}
    r = client.get("/health_check/ready")
    assert r.status_code == 200 and r.json()["message"] == "ready"


def test_seed_router_is_mounted_under_base_url(client):
    r = client.get("/flyer/demo", params={"id": 7})
    assert r.status_code == 200
    assert r.json() == {"code": 200, "message": "success", "data": {"itemId": 7}}


def test_discovery_rules(client):
    import os

    assert os.environ.get("SHOP_JOBS_IMPORTED") == "1"  # side-effect-only package imported
    assert client.get("/flyer/legacy").status_code == 404  # __ENABLED__ = False
    assert "app._private" not in sys.modules


def test_custom_config_sets_openapi_info(client):
    info = client.get("/flyer/openapi.json").json()["info"]
    assert info == {"title": "Shop Service", "description": "Written by someone else.",
                    "version": "3.2.1"}


def test_health_paths_are_documented(client):
    paths = client.get("/flyer/openapi.json").json()["paths"]
    assert {"/health_check", "/health_check/async", "/flyer/health_check",
            "/health_check/ready"} <= set(paths)


def test_validation_error_is_enveloped(client):
    r = client.get("/flyer/demo", params={"id": "abc"})
    body = r.json()
    assert r.status_code == 422 and body["code"] == 422
    assert body["data"][0]["loc"] == ["query", "id"]
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert r.headers["x-request-id"] == body["request_id"]


def test_not_found_and_method_not_allowed(client):
    r = client.get("/flyer/nope")
    assert r.status_code == 404 and r.json()["code"] == 404 and r.json()["message"] == "Not Found"
    r = client.post("/flyer/demo?id=1")
    assert r.status_code == 405 and r.json()["code"] == 405
    assert r.headers["allow"] == "GET"


def test_http_exception_keeps_headers(client):
    r = client.get("/flyer/teapot")
    assert r.status_code == 418 and r.headers["x-pot"] == "tea"
    assert r.json()["message"] == "short and stout"


@pytest.mark.parametrize("path", ["/flyer/boom", "/flyer/boom-sync"])
def test_unhandled_errors_leak_nothing(client, path):
    r = client.get(path, headers={"X-Request-ID": "trace-me-123"})
    assert r.status_code == 500
    assert r.json() == {"code": 500, "message": "Internal Server Error", "data": None,
                        "request_id": "trace-me-123"}
    for leak in ("secret-internal-detail", "another-internal-detail", "Traceback", ".py",
                 "RuntimeError", "KeyError"):
        assert leak not in r.text


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("bad id with spaces", False),
        ("evil\tvalue", False),
        ("", False),
    ],
)
def test_request_id_is_validated(client, sent, kept):
    r = client.get("/flyer/demo?id=1", headers={"X-Request-ID": sent})
    echoed = r.headers["x-request-id"]
    assert (echoed == sent) is kept
    if not kept:
        assert re.fullmatch(r"[0-9a-f]{32}", echoed)


def test_docs_are_offline(client):
    for path in ("/flyer/docs", "/flyer/redoc"):
        r = client.get(path)
        assert r.status_code == 200
        urls = re.findall(r"""(?:src|href)=["']([^"']+)""", r.text)
        assert urls and all(u.startswith("/flyer/static/") for u in urls), urls
        assert "http://" not in r.text and "https://" not in r.text
        for url in urls:
            assert client.get(url).status_code == 200
    assert client.get("/", follow_redirects=False).headers["location"] == "/flyer/docs"


def test_static_assets_refuse_path_traversal(client):
    for path in ("/flyer/static/../../settings.py", "/flyer/static/%2e%2e/factory.py",
                 "/flyer/static/swagger-ui/../../cli.py"):
        assert client.get(path).status_code == 404


def test_docs_can_be_switched_off(project):
    app = create_app(load_settings(app_root=project, docs_enable=False, access_log=False))
    with TestClient(app) as c:
        for path in ("/flyer/docs", "/flyer/redoc", "/flyer/openapi.json", "/"):
            assert c.get(path, follow_redirects=False).status_code == 404
        assert c.get("/flyer/demo?id=1").status_code == 200


def test_threads_setting_bounds_the_thread_pool(project):
    import anyio.to_thread

    app = create_app(load_settings(app_root=project, threads=7, access_log=False))
    with TestClient(app) as c:
        tokens = c.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
        assert tokens == 7


def test_broken_sub_app_names_itself(tmp_path):
    write_project(tmp_path, BROKEN_SUBAPP)
    try:
        with pytest.raises(SubAppError, match="sub-app 'broken' failed to load: ModuleNotFoundError"):
            create_app(load_settings(app_root=tmp_path))
    finally:
        for name in list(sys.modules):
            if name == "app" or name.startswith("app."):
                del sys.modules[name]


def _forget_project_modules(root) -> None:
    for name in list(sys.modules):
        if name in ("app", "settings", "main") or name.startswith("app."):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if not p.startswith(str(root))]


def test_main_py_app_is_served_instead_of_the_factory(tmp_path):
    from fastflyer.application.loader import load_application

    write_project(tmp_path, {
        "main.py": """
            from fastapi import FastAPI
            app = FastAPI()

            @app.get("/custom")
            async def custom():
                return {"mine": True}

            @app.get("/boom")
            async def boom():
                raise RuntimeError("secret detail")
        """,
        **SEED_STYLE,
    })
    try:
        app = load_application(load_settings(app_root=tmp_path))
        with TestClient(app, raise_server_exceptions=False) as c:
            assert c.get("/custom").json() == {"mine": True}
            assert c.get("/flyer/demo?id=1").status_code == 404  # the factory is not used
            # The health checks the image relies on still answer.
            assert c.get("/health_check").json() == {"code": 200, "message": "success"}
            # And it gets what every FastFlyer service has: request ids, metrics, the shield.
            r = c.get("/custom", headers={"X-Request-ID": "mine-1"})
            assert r.headers["x-request-id"] == "mine-1"
            assert re.fullmatch(r"[0-9a-f]{32}", c.get("/custom").headers["x-request-id"])
            r = c.get("/boom")
            assert r.status_code == 500 and "secret detail" not in r.text
            c.get("/metrics")  # this worker's own requests are written before the scrape
            scrape = c.get("/metrics").text
            assert 'route="/custom"' in scrape and 'status="5xx"' in scrape
    finally:
        _forget_project_modules(tmp_path)


def test_main_py_with_create_app_is_used_as_is(tmp_path):
    from fastflyer.application.factory import FlyerApp
    from fastflyer.application.loader import load_application

    write_project(tmp_path, {
        "main.py": "from fastflyer import create_app\napp = create_app()\n",
        **SEED_STYLE,
    })
    import os

    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        app = load_application(load_settings(app_root=tmp_path))
        assert isinstance(app.app, FlyerApp)  # main.py's own app, behind the health layer
        with TestClient(app) as c:
            assert c.get("/flyer/demo?id=2").json()["data"] == {"itemId": 2}
    finally:
        os.chdir(old)
        _forget_project_modules(tmp_path)


def test_broken_main_py_is_reported(tmp_path):
    from fastflyer.application.loader import AppLoadError, load_application

    write_project(tmp_path, {"main.py": "raise ValueError('bad main')\n"})
    try:
        with pytest.raises(AppLoadError, match="main.py failed to load: ValueError: bad main"):
            load_application(load_settings(app_root=tmp_path))
    finally:
        _forget_project_modules(tmp_path)


def test_body_over_the_limit_is_an_enveloped_413_before_the_app_runs(project):
    app = create_app(load_settings(app_root=project, access_log=False, max_body_size=100))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/flyer/demo", content=b"x" * 101, headers={"content-type": "application/json"})
        assert r.status_code == 413
        body = r.json()
        assert body["code"] == 413 and body["message"] == "Request body larger than 100 bytes"
        assert body["request_id"] == r.headers["x-request-id"]
        assert r.headers["connection"] == "close"



OPTIONS_ROUTE = {
    "app/__init__.py": "",
    "app/vault/__init__.py": """
        from fastflyer import APIRouter

        router = APIRouter()


        @router.api_route("/vault", methods=["GET", "OPTIONS"])
        async def vault():
            return {"code": 200, "data": "the secret"}
    """,
}


@pytest.mark.parametrize("cors", [False, True], ids=["cors-off", "cors-on"])
def test_basic_auth_covers_options_and_preflights_stop_at_cors(tmp_path, cors):
    write_project(tmp_path, OPTIONS_ROUTE)
    settings = load_settings(app_root=tmp_path, access_log=False, auth_enable=True,
                             auth_user="u", auth_pass="p",
                             cors_origins="https://app.example" if cors else "")
    try:
        with TestClient(create_app(settings)) as c:
            r = c.options("/flyer/vault")
            assert r.status_code == 401 and "secret" not in r.text
            assert c.options("/flyer/vault", auth=("u", "p")).json()["data"] == "the secret"
            preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
            r = c.options("/flyer/vault", headers=preflight)
            assert "secret" not in r.text
            if cors:  # answered by the CORS layer, not the route
                assert r.status_code == 200
                assert r.headers["access-control-allow-origin"] == "https://app.example"
                r = c.options("/flyer/vault", headers={**preflight, "Origin": "https://evil.example"})
                assert r.status_code == 400 and "secret" not in r.text
            else:
                assert r.status_code == 401
    finally:
        for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
            del sys.modules[name]
        sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path))]
