"""Bring your own app, in process: the pieces behind ``tests/test_byo_app.py`` where a real
server shows nothing more (a bare ASGI callable's lifespan, the prefix on WebSockets, each
way a project sets up logging, refusals and warnings at load time)."""

from __future__ import annotations

import io
import json
import logging
import sys

import anyio.to_thread
import pytest
import structlog
from fastflyer.application.loader import AppLoadError, load_application
from fastflyer.settings import load_settings
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.projects import write_project


def _forget_project_modules(root) -> None:
    for name in list(sys.modules):
        if name in ("app", "settings", "main") or name.startswith("app."):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if not p.startswith(str(root))]


@pytest.fixture
def project(tmp_path):
    yield tmp_path
    _forget_project_modules(tmp_path)


BARE_ASGI = """
    async def app(scope, receive, send):
        assert scope["type"] == "http"  # no lifespan support, as many hand-written apps
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": scope["root_path"].encode() or b"-"})
"""


def test_a_bare_asgi_callable_gets_flyer_start_up_and_layers(project):
    write_project(project, {"main.py": BARE_ASGI})
    app = load_application(load_settings(app_root=project, threads=3, access_log=False,
                                         auth_enable=True, auth_user="u", auth_pass="p"))
    with TestClient(app) as c:  # the lifespan completes though the app does not speak it
        tokens = c.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
        assert tokens == 3  # flyer_threads reached the foreign app's worker
        assert c.get("/anything").status_code == 401
        r = c.get("/anything", auth=("u", "p"))
        assert r.text == "-" and len(r.headers["x-request-id"]) == 32


def test_base_url_is_the_root_path_for_http_and_websockets(project):
    write_project(project, {"main.py": BARE_ASGI})
    app = load_application(load_settings(app_root=project, access_log=False, base_url="/svc"))
    with TestClient(app) as c:
        assert c.get("/svc/x").text == "/svc"
        outside = c.get("/x")
        assert outside.status_code == 404 and outside.json()["message"] == "Not Found"
        with pytest.raises(WebSocketDisconnect), c.websocket_connect("/x"):
            pass  # closed before it is accepted: the app never sees it


def test_own_root_path_and_base_url_together_are_refused(project):
    write_project(project, {"main.py": "from fastapi import FastAPI\napp = FastAPI(root_path='/api')\n"})
    with pytest.raises(AppLoadError, match="root_path='/api' and flyer_base_url='/svc'"):
        load_application(load_settings(app_root=project, base_url="/svc"))


def test_default_base_url_leaves_the_app_at_the_root(project):
    write_project(project, {"main.py": BARE_ASGI})
    app = load_application(load_settings(app_root=project, access_log=False))
    with TestClient(app) as c:
        assert c.get("/flyer/x").text == "-" and c.get("/x").text == "-"


@pytest.fixture
def flyer_logs(tmp_path):
    """FastFlyer's logging to a file in JSON mode; stdlib loggers and structlog put back after."""
    from fastflyer.observability.logs import configure_logging

    configure_logging(log_path=tmp_path, log_format="json")
    names = set(logging.root.manager.loggerDict)
    try:
        yield lambda: [json.loads(line) for line in (tmp_path / "fastflyer.log").read_text().splitlines()]
    finally:
        structlog.reset_defaults()
        for name in set(logging.root.manager.loggerDict) - names:
            logging.getLogger(name).handlers = []
        configure_logging()


def test_project_console_handlers_are_taken_over_file_handlers_kept(flyer_logs, tmp_path, capsys):
    from fastflyer.observability.logs import adopt_project_logging

    console = logging.StreamHandler(sys.stderr)
    own_file = logging.FileHandler(tmp_path / "own.log")
    loud = logging.getLogger("byo.loud")
    loud.addHandler(console)
    loud.addHandler(own_file)
    loud.setLevel(logging.INFO)
    alone = logging.getLogger("byo.alone")  # does not propagate: keeps its lines another way
    alone.addHandler(logging.StreamHandler(sys.stdout))
    alone.propagate = False
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))
    adopt_project_logging()
    capsys.readouterr()
    loud.info("loud line")
    alone.warning("alone line")
    out = capsys.readouterr()
    assert "loud line" not in out.out + out.err.replace('"message":"loud line"', "")
    messages = [r["message"] for r in flyer_logs()]
    assert messages.count("loud line") == 1 and messages.count("alone line") == 1
    own_file.close()
    assert (tmp_path / "own.log").read_text() == "loud line\n"  # a file of its own stays


def test_structlog_default_config_becomes_fields(flyer_logs, capsys):
    from fastflyer.observability.logs import adopt_project_logging

    structlog.reset_defaults()  # structlog unconfigured: it would print by itself
    log = structlog.get_logger("byo.events")
    adopt_project_logging()
    log.info("user_created", user_id=7, roles=["admin"], note='says "hi"')
    assert "user_created" not in capsys.readouterr().out  # not printed by structlog itself
    (record,) = [r for r in flyer_logs() if r["message"] == "user_created"]
    assert (record["user_id"], record["roles"], record["note"]) == (7, ["admin"], 'says "hi"')
    assert "timestamp" not in record and record["level"] == "INFO"


def test_a_cached_structlog_logger_is_taken_over_too(flyer_logs):
    from fastflyer.observability.logs import adopt_project_logging

    structlog.configure(processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
                        cache_logger_on_first_use=True)
    log = structlog.get_logger()
    log.info("before")  # bound and cached with the project's processors
    adopt_project_logging()
    log.warning("after", n=1)
    (record,) = [r for r in flyer_logs() if r["message"] == "after"]
    assert record["n"] == 1 and record["level"] == "WARNING"


def test_text_fields_are_key_value_never_a_repr():
    from fastflyer.observability.logs import _text_value

    assert [_text_value(v) for v in ("plain", "two words", 3, None, True, {"a": 1}, ["x"])] == [
        "plain", '"two words"', "3", "null", "true", '{"a":1}', '["x"]']


def test_a_route_answered_in_front_is_named(project, capsys):
    from fastflyer.observability.logs import configure_logging

    write_project(project, {"main.py": """
        from fastapi import FastAPI
        app = FastAPI()

        @app.get("/metrics")
        async def own_metrics():
            return "mine"
    """})
    configure_logging()
    try:
        load_application(load_settings(app_root=project, access_log=False))
    finally:
        configure_logging()
    err = capsys.readouterr().err
    assert "main.py:app's route /metrics is answered by FastFlyer in front of it" in err
    assert "API docs: http://127.0.0.1:8080/docs  and  http://127.0.0.1:8080/redoc" in err
