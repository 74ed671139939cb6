"""Refuse request bodies larger than ``flyer_max_body_size`` with 413, before the app reads
them into memory: by ``Content-Length`` up front, or by counting a chunked body as it streams."""

from __future__ import annotations

from fastapi import HTTPException

from fastflyer.application.errors import envelope
from fastflyer.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing re-raises it (as a 413) instead of
    turning it into "400 There was an error parsing the body"."""

    def __init__(self, message: str):
        super().__init__(413, message, headers={"Connection": "close"})


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.message = f"Request body larger than {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False  # the server rejects a malformed length itself
                if too_large:
                    await self._refuse(scope, receive, send)
                    return
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            # No body, or a declared length within the limit (the server never delivers more
            # than Content-Length): nothing to count, so no per-request wrapping.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.message)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = envelope(413, self.message, headers={"Connection": "close"})
        await response(scope, receive, send)
