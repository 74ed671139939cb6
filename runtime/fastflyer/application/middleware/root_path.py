"""A project's own app served under ``flyer_base_url``: requests under the prefix reach it with
the prefix as ASGI ``root_path`` (the path stays whole, as the ASGI spec and Starlette expect),
so its routes, docs and OpenAPI ``servers`` all carry the prefix; anything else is a 404."""

from __future__ import annotations

from fastflyer.application.errors import envelope
from fastflyer.types import ASGIApp, Receive, Scope, Send


class RootPathMiddleware:
    def __init__(self, app: ASGIApp, prefix: str):
        self.app = app
        self.prefix = prefix
        self.under = prefix + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        # The path as the app's routing sees it (a server with its own --root-path included).
        path = scope["path"][len(root_path):] if scope["path"].startswith(root_path) else scope["path"]
        if path == self.prefix or path.startswith(self.under):
            await self.app({**scope, "root_path": root_path + self.prefix}, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
        else:
            await envelope(404, "Not Found")(scope, receive, send)  # carries the request id
