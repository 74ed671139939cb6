"""Last line of defence: an exception that escapes the app is logged once, with its
traceback and request id, and the client gets a generic enveloped 500 (if nothing was sent
yet) instead of a dropped connection or the server's plain-text error."""

from __future__ import annotations

from ..errors import GENERIC_500, envelope
from ..logs import logger
from ..types import ASGIApp, Message, Receive, Scope, Send


class ErrorShieldMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the point of this layer
            logger.opt(exception=exc).error(
                f"Unhandled error in {scope['method']} {scope['path']}: {type(exc).__name__}"
            )
            if not started:
                response = envelope(500, GENERIC_500)
                await response(scope, receive, send)
