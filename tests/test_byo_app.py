"""Bring your own app: a service written for plain uvicorn (``tests/byo_helpers/conduit/main.py``:
its own error handlers, CORS, stdlib logging, structlog, a loguru sink, a lifespan), served as
``main.py:app`` by a real ``fastflyer serve`` on each engine, gets every flyer_* layer that
applies, its own behaviour untouched, and each log line once in FastFlyer's format."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import ENGINES, run_server

CONDUIT = Path(__file__).parent / "byo_helpers" / "conduit"
AUTH = ("conduit", "s3cret pass")
ALLOWED_ORIGIN = "https://allowed.example"
LOCKED = {
    "flyer_workers": "2",
    "flyer_auth_enable": "1", "flyer_auth_user": AUTH[0], "flyer_auth_pass": AUTH[1],
    "flyer_max_body_size": str(1024 * 1024),
    "flyer_cors_origins": ALLOWED_ORIGIN,
    "flyer_docs_enable": "0",  # set, and cannot apply to main.py:app
    "flyer_log_format": "json",
}
URL = re.compile(r"https?://127\.0\.0\.1:\d+(/[^\s\"]*)")


@dataclass
class Exchange:
    """What a locked-down server answered, and its whole log once it stopped."""

    engine: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    answers: dict[str, httpx.Response] = field(default_factory=dict)
    request_ids: dict[str, str] = field(default_factory=dict)
    banner_paths: dict[str, int] = field(default_factory=dict)
    log: str = ""

    def records(self) -> list[dict]:
        """The JSON log lines (every line FastFlyer writes in JSON mode)."""
        out = []
        for line in self.log.splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


@pytest.fixture(scope="module", params=ENGINES)
def locked(request) -> Exchange:
    exchange = Exchange(engine=request.param)
    with run_server(cwd=CONDUIT, env={**LOCKED, "flyer_server": request.param}) as srv:

        def call(name: str, method: str, path: str, **kwargs) -> None:
            rid = f"{name}-{exchange.tag}"
            headers = {"X-Request-ID": rid, **kwargs.pop("headers", {})}
            exchange.answers[name] = httpx.request(method, srv.url(path), headers=headers,
                                                   timeout=20, **kwargs)
            exchange.request_ids[name] = rid

        call("no-credentials", "GET", "/api/articles")
        call("listed", "GET", f"/api/articles?tag={exchange.tag}", auth=AUTH)
        call("big-body", "POST", "/api/articles", auth=AUTH, content=b"x" * (2 * 1024 * 1024),
             headers={"content-type": "application/json"})
        call("small-body", "POST", "/api/articles", auth=AUTH, json={"title": "t", "body": "b" * 1000})
        call("unlisted-preflight", "OPTIONS", "/api/articles",
             headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        call("app-origin-preflight", "OPTIONS", "/api/articles",
             headers={"Origin": "https://conduit.example", "Access-Control-Request-Method": "POST"})
        call("listed-preflight", "OPTIONS", "/api/articles",
             headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"})
        call("not-found", "GET", "/api/no-such-thing", auth=AUTH)
        call("invalid", "POST", "/api/articles", auth=AUTH, json={"body": "no title"})
        call("lifespan", "GET", "/api/state", auth=AUTH)
        call("boom", "GET", "/api/boom", auth=AUTH)
        call("health", "GET", "/health_check")
        for url_path in sorted({m.group(1) for m in URL.finditer(srv.log())}):
            exchange.banner_paths[url_path] = httpx.get(srv.url(url_path), auth=AUTH, timeout=20).status_code
    exchange.log = srv.log()  # stopped: every access line is written
    return exchange


def test_flyer_layers_guard_the_app(locked):
    a = locked.answers
    assert a["no-credentials"].status_code == 401
    assert a["no-credentials"].headers["www-authenticate"].startswith("Basic ")
    assert a["listed"].status_code == 200
    assert a["listed"].json() == {"articles": [], "articlesCount": 0}
    assert a["big-body"].status_code == 413
    assert a["small-body"].status_code == 201
    assert a["small-body"].json() == {"article": {"title": "t", "size": 1000}}
    assert a["health"].json() == {"code": 200, "message": "success"}  # in front of auth


def test_flyer_cors_decides_preflights(locked):
    a = locked.answers
    refused = a["unlisted-preflight"]
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    # An origin only the app's own CORS lists: flyer_cors_origins is in front and decides.
    assert "access-control-allow-origin" not in a["app-origin-preflight"].headers
    allowed = a["listed-preflight"]
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_the_apps_own_errors_and_lifespan_are_untouched(locked):
    a = locked.answers
    assert a["not-found"].status_code == 404
    assert a["not-found"].json() == {"errors": {"body": ["Not Found"]}}
    assert a["invalid"].status_code == 422
    assert a["invalid"].json() == {"errors": {"body": ["invalid: title"]}}
    assert a["lifespan"].json() == {"started": True}
    assert a["boom"].status_code == 500 and "secret internals" not in a["boom"].text
    for name in ("listed", "not-found", "invalid", "boom"):  # the request id on every answer
        assert a[name].headers["x-request-id"] == locked.request_ids[name]


def test_one_access_line_per_request(locked):
    access = [r for r in locked.records() if r.get("logger") == "fastflyer.access"]
    ids = dict(locked.request_ids)
    per_id = {rid: [r for r in access if r["request_id"] == rid] for rid in ids.values()}
    assert per_id.pop(ids.pop("health")) == []  # health checks are answered before the access log
    assert all(len(lines) == 1 for lines in per_id.values()), per_id
    statuses = {name: per_id[rid][0]["status"] for name, rid in ids.items()}
    assert statuses == {name: r.status_code for name, r in locked.answers.items() if name != "health"}


def test_the_apps_log_lines_appear_once_in_flyer_format(locked):
    tag, rid = locked.tag, locked.request_ids["listed"]
    for message in (f"stdlib line {tag}", f"loguru line {tag}"):
        assert locked.log.count(message) == 1, message  # not again in the app's own format
        (record,) = [r for r in locked.records() if r["message"] == message]
        assert record["request_id"] == rid
    assert "CONDUIT-STDLIB" not in locked.log  # the app's own console handler was taken over
    assert "conduit stopped" in locked.log and locked.log.count("CONDUIT-LOGURU conduit stopped") == 0


def test_a_structlog_event_is_fields(locked):
    events = [line for line in locked.log.splitlines() if "articles_listed" in line]
    assert len(events) == 1, events
    record = json.loads(events[0])
    assert record["message"] == "articles_listed"
    assert (record["tag"], record["count"], record["author"]) == (locked.tag, 2, "jake doe")
    assert record["logger"] == "conduit.events" and record["request_id"] == locked.request_ids["listed"]
    assert "{'" not in locked.log  # never a Python dict repr


def test_inapplicable_setting_is_named_at_start_up(locked):
    named = [r["message"] for r in locked.records() if r["message"].startswith("flyer_docs_enable=")]
    assert named and "does not apply to main.py:app" in named[0]
    assert len(named) == 1  # once, by the process that loads the app


def test_the_banner_advertises_the_apps_real_docs(locked):
    assert locked.banner_paths, "no URL in the start-up log"
    assert "/docs" in locked.banner_paths  # FastAPI's docs_url, not FastFlyer's /flyer/docs
    assert "/flyer/docs" not in locked.banner_paths
    assert {path: status for path, status in locked.banner_paths.items() if status == 404} == {}


@pytest.fixture(scope="module", params=ENGINES)
def prefixed(request):
    """flyer_base_url set: the app under it as root_path; text log format."""
    env = {"flyer_server": request.param, "flyer_workers": "1", "flyer_base_url": "/svc",
           "flyer_log_format": "text"}
    tag = uuid.uuid4().hex[:12]
    with run_server(cwd=CONDUIT, env=env) as srv:
        answers = {path: httpx.get(srv.url(path), timeout=20)
                   for path in (f"/svc/api/articles?tag={tag}", "/api/articles", "/svc/docs",
                                "/svc/openapi.json", "/svc/api/nothing", "/health_check",
                                "/svc/health_check", "/")}
        banner = sorted({m.group(1) for m in URL.finditer(srv.log())})
        banner_status = {path: httpx.get(srv.url(path), timeout=20).status_code for path in banner}
    return answers, banner_status, srv.log(), tag


def test_base_url_serves_the_app_under_it_with_docs(prefixed):
    answers, _, _, tag = prefixed
    assert answers[f"/svc/api/articles?tag={tag}"].status_code == 200
    assert answers["/api/articles"].status_code == 404  # not also at the root
    docs = answers["/svc/docs"]
    assert docs.status_code == 200 and "/svc/openapi.json" in docs.text
    spec = answers["/svc/openapi.json"].json()
    assert spec["servers"] == [{"url": "/svc"}] and "/api/articles" in spec["paths"]
    assert answers["/svc/api/nothing"].json() == {"errors": {"body": ["Not Found"]}}
    for path in ("/health_check", "/svc/health_check"):
        assert answers[path].json() == {"code": 200, "message": "success"}


def test_base_url_banner_and_text_format(prefixed):
    _, banner_status, log, tag = prefixed
    assert {"/svc/docs", "/svc/redoc"} <= set(banner_status)
    assert {path: status for path, status in banner_status.items() if status == 404} == {}
    (event,) = [line for line in log.splitlines() if "articles_listed" in line]
    assert event.endswith(f'articles_listed tag={tag} count=2 author="jake doe"')
    assert log.count(f"stdlib line {tag}") == 1 and "{'" not in log
