"""Last line of defence: an exception that escapes the app is logged once, with its
traceback and request id, and the client gets a generic enveloped 500 (if nothing was sent
yet) instead of a dropped connection or the server's plain-text error. Applied by
:mod:`fastflyer.middleware.core`."""

from __future__ import annotations

from fastflyer.application.errors import GENERIC_500, envelope
from fastflyer.observability.escape import escape_control
from fastflyer.observability.logs import logger
from fastflyer.types import Receive, Scope, Send


async def answer_unhandled(exc: Exception, scope: Scope, receive: Receive, send: Send,
                           response_started: bool) -> None:
    logger.opt(exception=exc).error(
        f"Unhandled error in {scope['method']} {escape_control(scope['path'])}: {type(exc).__name__}"
    )
    if not response_started:
        response = envelope(500, GENERIC_500)
        await response(scope, receive, send)
