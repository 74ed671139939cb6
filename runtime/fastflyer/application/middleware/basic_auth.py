"""Optional HTTP Basic auth in front of the app (routes and docs; health checks are
answered before this layer). Credentials are compared in constant time.

Every method needs credentials, OPTIONS included: a CORS preflight never gets here, the CORS
layer outside this one answers it (stack.py)."""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.responses import Response

from fastflyer.application.errors import envelope
from fastflyer.types import ASGIApp, Receive, Scope, Send


class BasicCredentials:
    """The one user and password, checked against a request's ``Authorization`` header."""

    def __init__(self, user: str, password: str, realm: str = "FastFlyer"):
        self.expected = f"{user}:{password}".encode()
        self.challenge = {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'}

    def refusal(self) -> Response:
        return envelope(401, "Authentication required", headers=self.challenge)

    def authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() != b"basic":
                    return False
                try:
                    given = base64.b64decode(token.strip(), validate=True)
                except (binascii.Error, ValueError):
                    return False
                return hmac.compare_digest(given, self.expected)
        return False


class BasicAuthMiddleware:
    def __init__(self, app: ASGIApp, credentials: BasicCredentials):
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.credentials.authorized(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.credentials.refusal()(scope, receive, send)
