"""Swagger UI and ReDoc served offline: the JavaScript and CSS ship inside the package, so
the docs work in an air-gapped network and load no third-party code into the browser."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

# The pages may load only what the service itself serves: the bundled ReDoc, for one, would
# otherwise fetch its logo from cdn.redoc.ly. Inline script/style are the pages' own.
CSP_META = (
    b'<meta http-equiv="Content-Security-Policy" content="default-src \'self\'; '
    b"script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:\">"
)


def install_docs(app: FastAPI, base_url: str) -> None:
    """Add ``{base}/docs``, ``{base}/redoc``, the static assets and the ``/`` redirect."""
    assert app.openapi_url is not None
    static = f"{base_url}/static"
    favicon = f"{static}/swagger-ui/favicon-32x32.png"
    app.mount(static, StaticFiles(directory=STATIC_DIR), name="fastflyer-static")

    # Rendered once: the pages only depend on values fixed at start-up.
    swagger = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{static}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=favicon,
        oauth2_redirect_url=None,
    ).body
    redoc = get_redoc_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{static}/redoc/redoc.standalone.js",
        redoc_favicon_url=favicon,
        with_google_fonts=False,
    ).body

    swagger, redoc = (page.replace(b"<head>", b"<head>\n" + CSP_META, 1)
                      for page in (swagger, redoc))

    async def swagger_ui(request: Request) -> HTMLResponse:
        return HTMLResponse(swagger)

    async def redoc_ui(request: Request) -> HTMLResponse:
        return HTMLResponse(redoc)

    async def to_docs(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{base_url}/docs")

    app.add_route(f"{base_url}/docs", swagger_ui, include_in_schema=False)
    app.add_route(f"{base_url}/redoc", redoc_ui, include_in_schema=False)
    app.add_route("/", to_docs, include_in_schema=False)
