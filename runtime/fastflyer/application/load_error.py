"""Development: what is served while the project fails to load (reload mode only).

Instead of a process that exits and leaves requests hanging on the bound socket, the reloading
server serves this app: every request gets 503 with the load error (sub-app, file:line,
message), as the JSON envelope or, for a browser (``Accept: text/html``), as a plain page.
The error is logged once, when the load fails; the next save of a project file makes the
reloader start a fresh process that loads the fixed project. Production never serves this:
there a load error stops start-up (exit 1).
"""

from __future__ import annotations

import html
from pathlib import Path

import orjson

from fastflyer.application.discovery import SubAppError, error_location
from fastflyer.application.middleware.request_id import accepted_request_id, new_request_id
from fastflyer.types import Receive, Scope, Send

STATUS = 503


def describe(exc: BaseException, root: Path | None = None) -> dict:
    """The load error as data: message, sub-app (when one failed), file, line, error."""
    cause = exc.__cause__
    if isinstance(cause, SubAppError):
        sub_app, file, line, error = cause.name, cause.file, cause.line, cause.reason
    elif cause is not None:
        sub_app, (file, line) = None, error_location(cause, root)
        error = f"{type(cause).__name__}: {cause}"
    else:  # refused by FastFlyer itself (e.g. a setting main.py's app conflicts with)
        sub_app, file, line, error = None, None, None, str(exc)
    return {"message": str(exc), "sub_app": sub_app, "file": file, "line": line, "error": error}


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>503 - the project failed to load</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}
pre{{background:#f4f4f4;padding:1em;white-space:pre-wrap}}</style></head>
<body><h1>503: the project failed to load</h1>
<pre>{message}</pre>
<table>{rows}</table>
<p>Fix the file and save it: the development server reloads and serves again.
This page is shown only in reload mode (<code>fastflyer dev</code>, <code>flyer_reload=1</code>).</p>
</body></html>
"""


class LoadErrorApp:
    """An ASGI app answering every HTTP request with 503 and the load error."""

    def __init__(self, error: dict):
        self.error = error
        rows = "".join(
            f"<tr><th align=left>{key}</th><td><code>{html.escape(str(error[key]))}</code></td></tr>"
            for key in ("sub_app", "file", "line", "error") if error.get(key) is not None)
        self.page = PAGE.format(message=html.escape(error["message"]), rows=rows).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011})
            return
        if scope["type"] != "http":
            return
        request_id = None
        accept = b""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                request_id = accepted_request_id(value)
            elif name == b"accept":
                accept = value
        request_id = request_id or new_request_id()
        if b"text/html" in accept:
            body, media = self.page, b"text/html; charset=utf-8"
        else:
            body = orjson.dumps({"code": STATUS, "message": self.error["message"],
                                 "data": {k: self.error[k] for k in ("sub_app", "file", "line",
                                                                       "error")},
                                 "request_id": request_id})
            media = b"application/json"
        await send({"type": "http.response.start", "status": STATUS, "headers": [
            (b"content-type", media), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()), (b"retry-after", b"1"),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def load_error_app(exc: BaseException, root: Path | None = None) -> LoadErrorApp:
    """The app served in reload mode after ``exc`` (an ``AppLoadError``) stopped the load."""
    return LoadErrorApp(describe(exc, root))
