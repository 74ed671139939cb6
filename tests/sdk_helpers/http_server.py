"""A real HTTP server on a free loopback port, run in a thread, for the HTTP client tests.

Paths: ``/status/<code>``; ``/flaky/<key>/<n>/<code>`` answers ``code`` to the first ``n``
arrivals for ``key``, then 200; ``/slow/<seconds>``; ``/drop`` closes the connection without
an answer; ``/echo`` answers the request as JSON. Every arrival is recorded.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Arrival:
    method: str
    path: str
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class Recorder:
    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def for_path(self, prefix: str) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if a.path.startswith(prefix)]


class Handler(BaseHTTPRequestHandler):
    server: TestServer

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _answer(self, code: int, body: dict | None = None, headers: dict | None = None) -> None:
        payload = json.dumps(body or {"code": code}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _handle(self) -> None:
        recorder = self.server.recorder
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        with recorder.lock:
            recorder.arrivals.append(Arrival(self.command, self.path, dict(self.headers)))
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[0] == "status":
            self._answer(int(parts[1]))
        elif parts[0] == "flaky":
            key, failures, code = parts[1], int(parts[2]), int(parts[3])
            with recorder.lock:
                recorder.counts[key] += 1
                seen = recorder.counts[key]
            self._answer(code if seen <= failures else 200, {"arrival": seen})
        elif parts[0] == "slow":
            time.sleep(float(parts[1]))
            self._answer(200)
        elif parts[0] == "drop":
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
        else:
            self._answer(200, {"method": self.command, "path": self.path,
                               "headers": dict(self.headers), "body": body})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class TestServer(ThreadingHTTPServer):
    __test__ = False  # not a pytest test class
    daemon_threads = True

    def __init__(self, certfile: str | None = None, keyfile: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile, keyfile)
            self.socket = context.wrap_socket(self.socket, server_side=True)
            self.scheme = "https"
        self.recorder = Recorder()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> TestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
