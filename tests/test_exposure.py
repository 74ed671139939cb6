"""Exposure control on a real server: what is reachable, by whom, and which client-supplied
headers are believed. Defaults are closed: no CORS, no trusted proxy; docs can be turned off;
HTTP Basic auth guards app routes and docs but never the health checks."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from tests.support import DEMO, run_cli, run_server

APP_ROUTE = "/flyer/items/1"
DOCS_PATHS = ("/flyer/docs", "/flyer/redoc", "/flyer/openapi.json",
              "/flyer/static/swagger-ui/swagger-ui.css", "/")
HEALTH_PATHS = ("/health_check", "/health_check/async", "/flyer/health_check",
                "/health_check/ready")


@pytest.fixture(scope="module")
def default_server():
    with run_server(cwd=DEMO, env={"flyer_workers": "1"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def locked_server():
    env = {"flyer_workers": "1", "flyer_docs_enable": "0", "flyer_auth_enable": "1",
           "flyer_auth_user": "ops", "flyer_auth_pass": "correct horse"}
    with run_server(cwd=DEMO, env=env) as srv:
        yield srv


def test_docs_switched_off_answer_404(locked_server):
    auth = ("ops", "correct horse")
    for path in DOCS_PATHS:
        assert httpx.get(locked_server.url(path), auth=auth).status_code == 404, path
    assert httpx.get(locked_server.url(APP_ROUTE), auth=auth).status_code == 200


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, 401),
    (basic("ops", "correct horse"), 200),
    (basic("ops", "wrong"), 401),
    (basic("other", "correct horse"), 401),
    (basic("ops", "correct horse "), 401),
    (basic("ops", ""), 401),
    ({"Authorization": "Basic !!!not-base64!!!"}, 401),
    ({"Authorization": "Bearer correct horse"}, 401),
    ({"Authorization": "basic " + basic("ops", "correct horse")["Authorization"][6:]}, 200),
], ids=["none", "right", "wrong-pass", "wrong-user", "trailing-space", "empty-pass",
        "bad-base64", "other-scheme", "lowercase-scheme"])
def test_basic_auth_guards_app_routes(locked_server, headers, expected):
    r = httpx.get(locked_server.url(APP_ROUTE), headers=headers)
    assert r.status_code == expected
    if expected == 401:
        assert r.headers["www-authenticate"].startswith('Basic realm="')
        assert r.json()["message"] == "Authentication required"


def test_basic_auth_leaves_health_checks_open(locked_server):
    for path in HEALTH_PATHS:
        assert httpx.get(locked_server.url(path)).status_code == 200, path


@pytest.mark.parametrize("env", [
    {"flyer_auth_enable": "1"},
    {"flyer_auth_enable": "1", "flyer_auth_user": "ops"},
    {"flyer_auth_enable": "1", "flyer_auth_pass": "only-a-password"},
], ids=["no-credentials", "no-password", "no-user"])
def test_auth_enabled_without_credentials_refuses_to_start(env):
    result = run_cli("serve", env=env, timeout=30)
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and "flyer_auth_user and flyer_auth_pass" in lines[0], lines
    assert "only-a-password" not in result.stdout + result.stderr


def test_options_needs_credentials_like_any_method(locked_server):
    r = httpx.options(locked_server.url(APP_ROUTE))
    assert r.status_code == 401 and r.json()["code"] == 401
    assert r.headers["www-authenticate"].startswith("Basic ")
    assert httpx.options(locked_server.url(APP_ROUTE),
                         headers=basic("ops", "correct horse")).status_code == 405


def test_cors_is_off_by_default(default_server):
    origin = {"Origin": "https://evil.example"}
    r = httpx.get(default_server.url(APP_ROUTE), headers=origin)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    preflight = httpx.options(default_server.url(APP_ROUTE), headers={
        **origin, "Access-Control-Request-Method": "GET"})
    assert not any(h.startswith("access-control-") for h in preflight.headers)


def test_cors_allows_only_configured_origins():
    env = {"flyer_workers": "1", "flyer_cors_origins": "https://app.example,https://ops.example"}
    with run_server(cwd=DEMO, env=env) as srv:
        ok = httpx.get(srv.url(APP_ROUTE), headers={"Origin": "https://app.example"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-request-id" in ok.headers["access-control-expose-headers"].lower()
        preflight = httpx.options(srv.url(APP_ROUTE), headers={
            "Origin": "https://ops.example", "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://ops.example"
        evil = httpx.get(srv.url(APP_ROUTE), headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
        evil_preflight = httpx.options(srv.url(APP_ROUTE), headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert evil_preflight.status_code == 400


FORGED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def client_seen(srv, marker: str) -> tuple[str, str]:
    """(client address in the access log, scheme of the trailing-slash redirect)."""
    redirect = httpx.get(srv.url("/flyer/items/"), headers={**FORGED, "X-Request-ID": marker})
    time.sleep(0.5)
    line = next(line for line in srv.log().splitlines() if marker in line and "ACCESS" in line)
    address = line.split(" | ")[4].split(" - ")[0]
    return address.rsplit(":", 1)[0], redirect.headers["location"].split("://")[0]


def test_forwarded_headers_ignored_by_default(default_server):
    assert client_seen(default_server, "fwd-default") == ("127.0.0.1", "http")


def test_forwarded_headers_believed_from_configured_proxies():
    env = {"flyer_workers": "1", "flyer_forwarded_allow_ips": "127.0.0.1"}
    with run_server(cwd=DEMO, env=env) as srv:
        assert client_seen(srv, "fwd-trusted") == ("203.0.113.7", "https")


def test_metrics_behind_basic_auth_when_it_is_on(locked_server):
    assert httpx.get(locked_server.url("/metrics")).status_code == 401
    r = httpx.get(locked_server.url("/metrics"), auth=("ops", "correct horse"))
    assert r.status_code == 200 and "fastflyer_http_requests_total" in r.text


@pytest.mark.parametrize("workers", ["1", "2"], ids=["single-process", "gunicorn"])
def test_metrics_port_serves_metrics_there_only(workers):
    from tests.support import free_port

    metrics_port = free_port()
    env = {"flyer_workers": workers, "flyer_metrics_port": str(metrics_port),
           "flyer_auth_enable": "1", "flyer_auth_user": "ops", "flyer_auth_pass": "pw"}
    with run_server(cwd=DEMO, env=env) as srv:
        httpx.get(srv.url(APP_ROUTE), auth=("ops", "pw"))
        scrape = f"http://127.0.0.1:{metrics_port}"
        r = httpx.get(f"{scrape}/metrics")  # a scrape-only port: no credentials asked
        assert r.status_code == 200 and "fastflyer_http_requests_total" in r.text
        assert httpx.get(f"{scrape}{APP_ROUTE}").status_code == 404  # nothing else there
        assert httpx.get(srv.url("/metrics"), auth=("ops", "pw")).status_code == 404
        assert httpx.get(f"{scrape}/health_check").status_code == 200
