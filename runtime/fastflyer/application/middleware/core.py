"""The per-request work every FastFlyer service does, in one pure ASGI layer: the request id
(:mod:`.request_id`), request metrics (:mod:`.metrics`, when switched on) and the error
shield (:mod:`.error_shield`).

They were three layers; each layer is one more coroutine per request and one more wrapper
call per response message, which together cost as much as the work itself (about 3 µs of a
~50 µs request in ``benchmarks/layers.py``). Here they share one frame and one send wrapper.
"""

from __future__ import annotations

from fastflyer.application.middleware.error_shield import answer_unhandled
from fastflyer.application.middleware.metrics import RequestMetrics
from fastflyer.application.middleware.request_id import HEADER, accepted_request_id, new_request_id
from fastflyer.observability.context import request_id_var
from fastflyer.types import ASGIApp, Message, Receive, Scope, Send


class CoreMiddleware:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics | None = None):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.metrics is not None:
                receive = self.metrics.lifespan(receive)
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        if metrics is not None and metrics.claims(scope):
            await metrics.answer(scope, receive, send)  # not counted, no request id
            return

        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                request_id = accepted_request_id(value)
                break
        if request_id is None:
            request_id = new_request_id()
        request_id_var.set(request_id)  # each request runs in its own task: no reset needed
        id_header = (HEADER, request_id.encode("ascii"))
        # The status sent; uvicorn answers 500 itself if the app returns without answering.
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        start = metrics.begin() if metrics is not None else 0.0
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - the point of the error shield
            await answer_unhandled(exc, scope, receive, send_with_id, started)
        finally:
            if metrics is not None:
                metrics.end(scope, status, start)
