"""One access-log line per request, written off the event loop.

The middleware only measures and formats; a background thread does the blocking write, so a
slow terminal or disk never stalls request handling. Health checks are answered before this
layer and never logged; more paths can be excluded. Secrets never reach the line: headers
are not logged and token-like query parameters are redacted. Control characters a client put
in the path are escaped.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import queue
import re
import sys
import threading
import time
from typing import IO
from urllib.parse import parse_qsl, urlencode

import orjson

from fastflyer.observability.context import request_id_var, trace_id_var
from fastflyer.observability.escape import escape_control
from fastflyer.observability.route_template import route_template
from fastflyer.types import ASGIApp, Message, Receive, Scope, Send

SENSITIVE_PARAM = re.compile(
    r"(pass|pwd|secret|token|auth|key|sign|session|cookie|credential|code)", re.IGNORECASE
)
REDACTED = "***"
FLUSH_INTERVAL = 0.05  # seconds a line may wait before the writer thread gets it


def redact_query(query: bytes) -> str:
    """The query string with values of token-like parameters replaced by ``***``."""
    if not query:
        return ""
    text = query.decode("latin-1")
    if not SENSITIVE_PARAM.search(text):
        return text
    pairs = parse_qsl(text, keep_blank_values=True)
    return urlencode(
        [(k, REDACTED if SENSITIVE_PARAM.search(k) else v) for k, v in pairs], safe="*/:"
    )


class AccessLogWriter:
    """Lines are batched on the event loop and handed to a daemon thread every
    ``FLUSH_INTERVAL`` seconds, which does the blocking write: one cross-thread hand-off per
    batch instead of per request. The thread is started lazily so that it lives in the
    worker process (threads do not survive gunicorn's fork)."""

    def __init__(self, destination: str = "-"):
        self.destination = destination
        self.pid: int | None = None
        self._queue: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._pending: list[str] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._thread: threading.Thread | None = None
        self._stream: IO[str] | None = None

    def _open(self) -> IO[str]:
        if self.destination in ("-", "stdout"):
            return sys.stdout
        if self.destination == "stderr":
            return sys.stderr
        return open(self.destination, "a", buffering=1 << 16, encoding="utf-8")  # noqa: SIM115

    def _start(self) -> None:
        self.pid = os.getpid()
        self._queue = queue.SimpleQueue()
        self._pending = []
        self._flush_handle = None
        self._stream = self._open()
        self._thread = threading.Thread(target=self._run, name="fastflyer-access-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def write(self, line: str) -> None:
        if self.pid != os.getpid():
            self._start()
        self._pending.append(line)
        if self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on an event loop: hand over at once
                self.flush()
                return
            self._flush_handle = loop.call_later(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        """Hand the pending lines to the writer thread."""
        self._flush_handle = None
        if self._pending:
            batch, self._pending = self._pending, []
            self._queue.put(batch)

    def _run(self) -> None:
        stream, q = self._stream, self._queue
        assert stream is not None
        while (batch := q.get()) is not None:
            try:
                stream.write("".join(batch))
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed/full destination must not kill the worker
        with contextlib.suppress(OSError, ValueError):
            stream.flush()

    def close(self, timeout: float = 2.0) -> None:
        if self._thread is None or self.pid != os.getpid():
            return
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, writer: AccessLogWriter, exclude: frozenset[str] = frozenset(),
                 json_format: bool = False):
        self.app = app
        self.writer = writer
        self.exclude = exclude
        self.json_format = json_format
        self._stamp_second = -1
        self._stamp_prefix = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exclude:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app raises before answering, the shield sends a 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.writer.write(self._line(scope, status, time.perf_counter() - start))

    def _stamp(self, now: float) -> str:
        """``2026-11-28 09:00:00.123``; the seconds part is formatted once per second."""
        second = int(now)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp_prefix}.{int((now - second) * 1000):03d}"

    def _line(self, scope: Scope, status: int, elapsed: float) -> str:
        client = scope.get("client")
        client_addr = f"{client[0]}:{client[1]}" if client else "-"
        query = redact_query(scope.get("query_string", b""))
        path = scope["path"] + (f"?{query}" if query else "")
        latency_ms = round(elapsed * 1000, 3)
        request_id = request_id_var.get() or "-"
        pid = self.writer.pid or os.getpid()
        if self.json_format:
            now = time.time()
            record = {
                "time": self._stamp(now).replace(" ", "T") + time.strftime("%z"),
                "level": "INFO",
                "message": f"{scope['method']} {path} {status}",
                "logger": "fastflyer.access",
                "request_id": request_id,
                "pid": pid,
                "method": scope["method"],
                "path": path,
                "route": route_template(scope) or scope["path"],
                "status": status,
                "latency_ms": latency_ms,
                "client": client_addr,
            }
            trace_id = trace_id_var.get()
            if trace_id is not None:
                record["trace_id"] = trace_id
            return orjson.dumps(record).decode() + "\n"
        return (  # JSON lines are escaped by the encoder; a text line by hand
            f"{self._stamp(time.time())} | ACCESS   | {pid} | {request_id} | {client_addr} - "
            f'"{scope["method"]} {escape_control(path)} HTTP/{scope.get("http_version", "1.1")}" '
            f"{status} {latency_ms}ms\n"
        )
