"""Give every request an id: a sane incoming ``X-Request-ID`` is kept, anything else
(missing, too long, odd characters, CRLF) is replaced. The id is echoed in the response,
bound to every log line of the request and forwarded by the SDK's HTTP client."""

from __future__ import annotations

import os
import re

from ..context import request_id_var
from ..types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
VALID_ID = re.compile(rb"[A-Za-z0-9._:=+/@-]{1,128}")


def new_request_id() -> str:
    return os.urandom(16).hex()


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                if VALID_ID.fullmatch(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = new_request_id()
        request_id_var.set(request_id)
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
