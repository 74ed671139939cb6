"""Request metrics and the ``/metrics`` endpoint, applied by the core layer just inside the
health checks (which are therefore never counted).

Requests are labelled by the route template they matched (``/flyer/items/{item_id}``), never
the raw path, and by status class, so ids in URLs cannot blow up the number of series; a
request no route matched counts as ``<unmatched>``. The scrape itself is not counted.

Writing to the shared files is the costly part, so answered requests are tallied in memory
and written at most ``FLUSH_INTERVAL`` after they were answered (a batch per interval under
load). A scrape writes its own worker's tally and waits longer than that interval before
reading, so its totals include every request answered, by any worker, before it began. The
in-progress gauge is published once a second (a gauge is a sample).
"""

from __future__ import annotations

import asyncio
import time

import anyio.to_thread

from fastflyer.application.errors import envelope
from fastflyer.application.middleware.basic_auth import BasicCredentials
from fastflyer.observability.metrics import STATUS_CLASSES, UNMATCHED_ROUTE, RequestTally, get_metrics
from fastflyer.observability.route_template import route_template
from fastflyer.types import Message, Receive, Scope, Send

# Anything else (h11 accepts any token as a method) is counted as "other".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
                           "CONNECT"})
PUBLISH_INTERVAL = 1.0  # seconds between updates of the in-progress gauge
FLUSH_INTERVAL = 0.05  # seconds an answered request may wait before it is written


class RequestMetrics:
    """This worker's request counts: tallied by :class:`~fastflyer.middleware.core.CoreMiddleware`
    around every request, written to the shared files in batches, and served at ``path`` — on
    the main port (behind ``guard`` when Basic auth is on), or only on its own ``port``."""

    def __init__(self, path: str = "/metrics", port: int | None = None,
                 guard: BasicCredentials | None = None):
        self.path = path
        self.port = port
        self.guard = guard
        self.metrics = get_metrics()
        self.in_progress = 0
        self.published: int | None = None
        self.publisher: asyncio.TimerHandle | None = None
        self.pending: dict[tuple[str, str, str], RequestTally] = {}
        self.flush_scheduled = False

    def lifespan(self, receive: Receive) -> Receive:
        """A (new) event loop starts: publish from it, and flush when it shuts down."""
        if self.publisher is not None:
            self.publisher.cancel()
        self._publish()
        return self._flushing_on_shutdown(receive)

    def is_scrape(self, scope: Scope) -> bool:
        return scope["path"] == self.path and scope["method"] in ("GET", "HEAD")

    def claims(self, scope: Scope) -> bool:
        """This request is the metrics endpoint's: a scrape on the main port, or anything that
        reached the metrics port."""
        if self.port is None:
            return self.is_scrape(scope)
        server = scope.get("server")
        return server is not None and server[1] == self.port

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.is_scrape(scope):  # the metrics port serves nothing else
            await envelope(404, "Not Found")(scope, receive, send)
        elif self.guard is not None and not self.guard.authorized(scope):
            await self.guard.refusal()(scope, receive, send)
        else:
            await self.expose(scope, send)

    def begin(self) -> float:
        """A request starts; returns its start time for :meth:`end`."""
        if self.publisher is None:
            self._publish()
        self.in_progress += 1
        return time.perf_counter()

    def end(self, scope: Scope, status: int, start: float) -> None:
        """A request was answered with ``status`` (500 when the app sent nothing: uvicorn then
        answers 500 itself)."""
        self.in_progress -= 1
        method = scope["method"]
        key = (method if method in KNOWN_METHODS else "other",
               route_template(scope) or UNMATCHED_ROUTE,
               STATUS_CLASSES.get(status // 100, "other"))
        tally = self.pending.get(key)
        if tally is None:
            tally = self.pending[key] = RequestTally()
        tally.add(time.perf_counter() - start)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self._flush)

    def _flushing_on_shutdown(self, receive: Receive) -> Receive:
        async def receive_lifespan() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self._flush()  # a graceful exit writes the last requests' counts
            return message

        return receive_lifespan

    def _flush(self) -> None:
        batch, self.pending = self.pending, {}
        self.flush_scheduled = False
        self.metrics.write_requests(batch)

    def _publish(self) -> None:
        """Write the in-progress count when it changed; runs on this worker's event loop."""
        if self.in_progress != self.published:
            self.metrics.http_in_progress.set(self.in_progress)
            self.published = self.in_progress
        self.publisher = asyncio.get_running_loop().call_later(PUBLISH_INTERVAL, self._publish)

    async def expose(self, scope: Scope, send: Send) -> None:
        """Answer a scrape with every worker's totals."""
        accept = ""
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value.decode("latin-1")
                break
        self._flush()  # this worker's own latest requests
        # Every other worker writes what it answered within FLUSH_INTERVAL: wait that long, so
        # the totals include every request answered before this scrape began.
        await asyncio.sleep(FLUSH_INTERVAL * 1.5)
        # Reading every worker's files is blocking I/O: keep it off the event loop.
        body, content_type = await anyio.to_thread.run_sync(self.metrics.render, accept)
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        })
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})
