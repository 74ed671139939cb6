"""`fastflyer dev` with a sub-app that fails to load: every request answers 503 at once with
the load error (sub-app, file:line, message), as the envelope or as a page for browsers; the
error is logged once; the next save that fixes the file serves normally again, without
restarting the command."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from fastflyer.application.discovery import SubAppError
from fastflyer.application.load_error import describe

from tests.projects import write_project
from tests.support import each_engine, run_server

GOOD = """\
from fastflyer import APIRouter

router = APIRouter(prefix="/shop")


@router.get("/ping")
async def ping():
    return {"code": 200, "message": "pong"}
"""
# Line 7 is where Python reports the syntax error.
BROKEN = GOOD.replace("async def ping():", "async def ping(:")
PROJECT = {"app/__init__.py": "", "app/shop/__init__.py": "from .router import router\n",
           "app/shop/router.py": GOOD}


def poll(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout}s (last: {last!r})")


@each_engine
def test_syntax_error_answers_503_with_file_and_line_then_recovers(tmp_path: Path, engine):
    write_project(tmp_path, PROJECT)
    router = tmp_path / "app" / "shop" / "router.py"
    with run_server("dev", cwd=tmp_path, ready_path="/flyer/shop/ping",
                    env={"flyer_server": engine}) as srv:
        url = srv.url("/flyer/shop/ping")
        assert httpx.get(url).json()["message"] == "pong"

        router.write_text(BROKEN)
        # Each request answers within a second (timeout=1): no hang, no refused connection.
        answer = poll(lambda: (r := httpx.get(url, timeout=1)).status_code == 503 and r,
                      "a 503 after the broken save")
        body = answer.json()
        assert body["code"] == 503
        assert body["data"]["sub_app"] == "shop"
        assert body["data"]["file"] == "app/shop/router.py"
        assert body["data"]["line"] == 7
        assert body["data"]["error"].startswith("SyntaxError")
        assert "sub-app 'shop'" in body["message"] and "app/shop/router.py:7" in body["message"]
        assert answer.headers["x-request-id"] == body["request_id"]

        # Every path, health checks and docs included, and quickly each time.
        for path in ("/health_check", "/flyer/docs", "/", "/flyer/shop/ping"):
            started = time.monotonic()
            response = httpx.get(srv.url(path), timeout=1)
            assert response.status_code == 503, path
            assert time.monotonic() - started < 1

        page = httpx.get(url, headers={"Accept": "text/html,application/xhtml+xml"}, timeout=1)
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "app/shop/router.py" in page.text and "SyntaxError" in page.text
        assert "<table>" in page.text and "<code>7</code>" in page.text

        router.write_text(GOOD.replace("pong", "pong again"))
        poll(lambda: httpx.get(url, timeout=1).json().get("message") == "pong again",
             "serving again after the fixing save")
        assert srv.proc.poll() is None  # the same command, never restarted

        # An exception raised while importing: the project line that raised it.
        router.write_text("from fastflyer import APIRouter\n\nimport no_such_module_here\n")
        answer = poll(lambda: (r := httpx.get(url, timeout=1)).status_code == 503 and r,
                      "a 503 after the import error")
        data = answer.json()["data"]
        assert (data["sub_app"], data["file"], data["line"]) == ("shop", "app/shop/router.py", 3)
        assert data["error"] == "ModuleNotFoundError: No module named 'no_such_module_here'"
        router.write_text(GOOD)
        poll(lambda: httpx.get(url, timeout=1).json().get("message") == "pong", "fixed again")

    log = srv.log()
    # Once per failed load (the syntax error, then the import error), never per request.
    assert log.count("sub-app 'shop' failed to load: SyntaxError") == 1, log
    assert log.count("sub-app 'shop' failed to load: ModuleNotFoundError") == 1, log
    assert "Traceback" not in log


def test_describe_names_sub_app_file_and_line(tmp_path: Path):
    write_project(tmp_path, {"app/shop/helpers.py": "def f():\n    raise KeyError('nope')\n"})
    try:
        exec(compile((tmp_path / "app/shop/helpers.py").read_text(),
                     str(tmp_path / "app/shop/helpers.py"), "exec"), ns := {})
        ns["f"]()
    except KeyError as exc:
        error = SubAppError("shop", exc, tmp_path)
    assert (error.file, error.line) == ("app/shop/helpers.py", 2)
    wrapped = RuntimeError(str(error))
    wrapped.__cause__ = error
    info = describe(wrapped, tmp_path)
    assert info == {"message": "sub-app 'shop' failed to load: KeyError: 'nope' "
                               "(app/shop/helpers.py:2)",
                    "sub_app": "shop", "file": "app/shop/helpers.py", "line": 2,
                    "error": "KeyError: 'nope'"}


def test_describe_a_broken_main_py(tmp_path: Path):
    from fastflyer.application.loader import AppLoadError

    main = tmp_path / "main.py"
    main.write_text("import os\nraise ValueError('bad main')\n")
    try:
        exec(compile(main.read_text(), str(main), "exec"), {})
    except ValueError as cause:
        error = AppLoadError(f"{main} failed to load: ValueError: bad main")
        error.__cause__ = cause
    info = describe(error, tmp_path)
    assert (info["sub_app"], info["file"], info["line"]) == (None, "main.py", 2)
    assert info["error"] == "ValueError: bad main"


def test_describe_an_error_without_a_cause_names_no_file():
    """An error FastFlyer raised itself has no project file to point at."""
    from fastflyer.application.loader import AppLoadError

    try:
        raise AppLoadError("main.py:app sets root_path='/x' and flyer_base_url='/y' is set too")
    except AppLoadError as exc:
        info = describe(exc)
    assert (info["sub_app"], info["file"], info["line"]) == (None, None, None)
    assert info["error"] == info["message"]
