"""Liveness and readiness answered by the outermost layer with prebuilt responses.

The liveness check is the benchmark path and what orchestrators call every few seconds, so
it skips routing, validation and logging entirely. The same paths are also declared as
FastAPI routes so that they are documented in OpenAPI.
"""

from __future__ import annotations

import orjson

from fastflyer.application.readiness import Readiness
from fastflyer.types import ASGIApp, Receive, Scope, Send

LIVENESS_BODY = orjson.dumps({"code": 200, "message": "success"})
LIVENESS_PATHS = ("/health_check", "/health_check/async")
READINESS_PATH = "/health_check/ready"


def _json_start(status: int, body: bytes) -> dict:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ],
    }


class HealthCheckMiddleware:
    def __init__(self, app: ASGIApp, base_url: str, readiness: Readiness):
        self.app = app
        self.readiness = readiness
        self.liveness_paths = frozenset(
            [*LIVENESS_PATHS, f"{base_url}/health_check"] if base_url != "/" else LIVENESS_PATHS
        )
        self.readiness_paths = frozenset({READINESS_PATH, f"{base_url}{READINESS_PATH}"})
        self._live_start = _json_start(200, LIVENESS_BODY)
        self._live_body = {"type": "http.response.body", "body": LIVENESS_BODY}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path = scope["path"]
            if path in self.liveness_paths:
                await send(self._live_start)
                await send(self._live_body)
                return
            if path in self.readiness_paths:
                await self._ready(send)
                return
        await self.app(scope, receive, send)

    async def _ready(self, send: Send) -> None:
        result = await self.readiness.check()
        status = 200 if result.ready else 503
        body = orjson.dumps({"code": status, "message": result.message})
        await send(_json_start(status, body))
        await send({"type": "http.response.body", "body": body})
