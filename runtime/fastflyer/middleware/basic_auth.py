"""Optional HTTP Basic auth in front of the app (routes and docs; health checks are
answered before this layer). Credentials are compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from ..errors import envelope
from ..types import ASGIApp, Receive, Scope, Send


class BasicAuthMiddleware:
    def __init__(self, app: ASGIApp, user: str, password: str, realm: str = "FastFlyer"):
        self.app = app
        self.expected = f"{user}:{password}".encode()
        self.challenge = {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)  # CORS preflights carry no credentials
            return
        if self._authorized(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = envelope(401, "Authentication required", headers=self.challenge)
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
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
