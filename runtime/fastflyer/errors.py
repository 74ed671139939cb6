"""Every error answer is an envelope with a real HTTP status and the request id, and never
carries internals (traceback, file paths, exception text): those go to the log only."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .context import request_id_var

GENERIC_500 = "Internal Server Error"


def envelope(status: int, message: str, data: Any = None,
             headers: dict[str, str] | None = None) -> Response:
    body = {"code": status, "message": message, "data": data, "request_id": request_id_var.get()}
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
