"""The docs pages render completely in headless Chromium with every non-loopback name made
unresolvable, and the pages themselves request nothing outside the service.

The service is browsed under a non-localhost name (mapped to 127.0.0.1), as in production:
Swagger UI, for one, behaves differently for localhost URLs.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess

import httpx
import pytest

from tests.support import DEMO, need, run_server

HOST = "flyer-docs.test"


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    need(exe is not None, "chromium is not installed")
    return exe


@pytest.fixture(scope="module")
def demo():
    with run_server(cwd=DEMO, env={"flyer_workers": "1"}) as srv:
        yield srv


def render(exe: str, url: str, workdir) -> tuple[str, list[dict]]:
    """The page's DOM after scripts ran, and every request start from Chromium's net log."""
    net_log = workdir / "net.json"
    result = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={workdir / 'profile'}",
         f"--host-resolver-rules=MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         f"--log-net-log={net_log}", "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = [e["params"] for e in log["events"] if e["type"] == start and "params" in e]
    return result.stdout, requests


def operations(demo) -> list[dict]:
    spec = httpx.get(demo.url("/flyer/openapi.json")).json()
    return [{"method": method.upper(), "path": path, "summary": op.get("summary", "")}
            for path, ops in spec["paths"].items() for method, op in ops.items()]


@pytest.mark.browser
@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_docs_render_offline(demo, page, tmp_path):
    exe = chromium()
    origin = f"http://{HOST}:{demo.port}"
    dom, requests = render(exe, f"{origin}/flyer/{page}", tmp_path)
    text = html.unescape(dom)

    ops = operations(demo)
    assert len(ops) >= 10
    if page == "docs":  # Swagger UI: one block per operation, with its path
        assert text.count('class="opblock opblock-') == len(ops)
        for op in ops:
            assert op["path"] in text, op
    else:  # ReDoc: every operation rendered in the middle panel
        assert "FastFlyer Demo" in text
        for op in ops:
            assert op["summary"] in text, op

    from_page = [r for r in requests if r.get("initiator") == origin]
    assert from_page, "the page loaded nothing: assets and openapi.json expected"
    outside = [r["url"] for r in from_page if not r["url"].startswith(origin + "/")]
    browser_own = sorted({r["url"].split("?")[0] for r in requests
                          if r.get("initiator") == "not an origin"
                          and not r["url"].startswith(origin)})
    print(f"{page}: {len(from_page)} requests from the page, none outside; Chromium's own "
          f"(blocked, not the page's): {browser_own}")
    assert not outside, outside
