"""Every error answer is an envelope with a real HTTP status and the request id, and never
carries internals (traceback, file paths, exception text): those go to the log only."""

from __future__ import annotations

import sys
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from fastflyer.observability.context import request_id_var
from fastflyer.observability.escape import escape_control
from fastflyer.observability.logs import logger

GENERIC_500 = "Internal Server Error"


def envelope(status: int, message: str, data: Any = None,
             headers: dict[str, str] | None = None, code: int | None = None) -> Response:
    """The error answer; ``code`` differs from the HTTP status for the seed's 60x codes."""
    body = {"code": code or status, "message": message, "data": data,
            "request_id": request_id_var.get()}
    return Response(
        orjson.dumps(body, default=str),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def http_exception_handler(request: Request, exc: StarletteHTTPException) -> Response:
    detail = exc.detail
    if isinstance(detail, str):
        message, data = detail, None
    else:
        message, data = _phrase(exc.status_code), detail
    if exc.status_code in (204, 304):  # no body allowed
        return Response(status_code=exc.status_code, headers=exc.headers)
    return envelope(exc.status_code, message, data, headers=exc.headers)


async def validation_exception_handler(request: Request, exc: RequestValidationError) -> Response:
    # Keep where and why; drop the echoed input and ctx (may hold secrets or objects).
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return envelope(422, "Request validation failed", errors)


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    # Logged once, with traceback, by ErrorShieldMiddleware (Starlette re-raises after this).
    return envelope(500, GENERIC_500)


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_exception_handler)
    app.add_exception_handler(Exception, unhandled_exception_handler)


async def third_party_error_handler(request: Request, exc: Any) -> Response:
    """A ``Client``/``AsyncClient`` call that failed: the seed's 60x code, 504 for a timeout,
    502 otherwise. The client already logged the call (method, redacted URL, attempts)."""
    timeout = sys.modules["fastflyer.httpclient"].ThirdPartyTimeoutError
    return envelope(504 if isinstance(exc, timeout) else 502,
                    _THIRD_PARTY_MESSAGES.get(exc.code, "Third-party service error"), code=exc.code)


_THIRD_PARTY_MESSAGES = {
    601: "Third-party service answered with an error status",
    604: "Third-party service timed out",
    605: "Third-party service unreachable",
    606: "Third-party service still failing after retries",
}


def _unavailable(what: str) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        logger.warning(f"{request.method} {escape_control(request.url.path)}: {what} unavailable "
                       f"({type(exc).__name__})")
        return envelope(503, f"{what} unavailable")

    return handler


# (module, exception class names, handler factory): only for modules already imported when
# the app is built, so that a service without Redis or a database never imports their clients.
DEPENDENCY_ERRORS = (
    ("redis.exceptions", ("ConnectionError", "TimeoutError"), lambda: _unavailable("Redis")),
    ("sqlalchemy.exc", ("OperationalError", "InterfaceError", "TimeoutError"),
     lambda: _unavailable("Database")),
)


def install_dependency_error_handlers(app: FastAPI) -> None:
    """Errors of the SDK's clients that escape a route become enveloped 502/503/504 answers
    with one log line instead of a 500 and a traceback. Called once the project is imported."""
    client = sys.modules.get("fastflyer.httpclient")
    if client is not None:
        app.add_exception_handler(client.ThirdPartyError, third_party_error_handler)
    for module_name, names, make_handler in DEPENDENCY_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None:
            handler = make_handler()
            for name in names:
                app.add_exception_handler(getattr(module, name), handler)
