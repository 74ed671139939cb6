"""OpenTelemetry against a real OTLP/HTTP receiver started by the test: spans from every
worker, one trace across the inbound request, its SQL and its outbound Client call, and the
trace id in the log lines."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.projects import write_project
from tests.support import child_pids, free_port, need_redis, run_server

TRACED_PROJECT = {
    "app/tracing/__init__.py": "from .router import router\n",
    "app/tracing/router.py": """
        import os

        import redis
        import sqlalchemy

        from fastflyer import APIRouter, Client, logger

        router = APIRouter(prefix="/trace")
        # Made at import time, i.e. in the gunicorn master before the fork: still traced.
        ENGINE = sqlalchemy.create_engine("sqlite://")


        @router.get("/work/{job_id}")
        def work(job_id: int, target: str):
            logger.info(f"working on {job_id}")
            with ENGINE.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT 1"))
            with Client() as client:
                seen = client.get(target).json()
            return {"code": 200, "message": "ok",
                    "data": {"pid": os.getpid(), "traceparent": seen["traceparent"]}}


        @router.get("/redis")
        async def ping_redis(host: str, port: int):
            client = redis.asyncio.Redis(host=host, port=port)
            try:
                await client.ping()
            finally:
                await client.aclose()
            return {"code": 200, "message": "ok", "data": {"pid": os.getpid()}}
    """,
}


@dataclass
class Span:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    pid: int
    attributes: dict = field(default_factory=dict)


class Receiver:
    """A small OTLP/HTTP collector (POST /v1/traces) that also answers GET /echo with the
    ``traceparent`` header it was sent, standing in for a downstream service."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.record(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                body = json.dumps({"traceparent": self.headers.get("traceparent")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def record(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value for a in resource_spans.resource.attributes}
            pid = resource["process.pid"].int_value
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: a.value for a in span.attributes}
                    with self.lock:
                        self.spans.append(Span(
                            span.name, span.kind, span.trace_id.hex(), span.span_id.hex(),
                            span.parent_span_id.hex(), pid, attributes))

    def wait_for(self, predicate, timeout: float = 20.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                spans = list(self.spans)
            if predicate(spans):
                return spans
            assert time.monotonic() < deadline, f"spans not received in time: {spans}"
            time.sleep(0.2)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _traced_env(receiver: Receiver, **extra: str) -> dict[str, str]:
    return {
        "flyer_otel_enable": "1",
        "flyer_workers": "2",
        "flyer_log_format": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_SERVICE_NAME": "traced-test",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        **extra,
    }


SERVER, CLIENT = 2, 3  # Span.SpanKind values in the OTLP protobuf


def test_spans_from_both_workers_share_one_trace_with_the_outbound_call(tmp_path, receiver):
    write_project(tmp_path, TRACED_PROJECT)
    target = f"http://127.0.0.1:{receiver.port}/echo"
    with run_server(cwd=tmp_path, env=_traced_env(receiver)) as srv:
        # The server answers once its first worker is up; both must be there to serve.
        deadline = time.monotonic() + 20
        while len(child_pids(srv.proc.pid)) < 2:
            assert time.monotonic() < deadline, "the second worker never started"
            time.sleep(0.05)

        def call(n: int) -> dict:
            with httpx.Client(timeout=10) as client:  # a fresh connection per request
                response = client.get(srv.url(f"/flyer/trace/work/{n}"), params={"target": target},
                                      headers={"X-Request-ID": f"traced-{n}"})
            assert response.status_code == 200, response.text
            return response.json()["data"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(call, range(40)))
        worker_pids = {a["pid"] for a in answers}
        assert len(worker_pids) == 2

        # An incoming traceparent is continued, not replaced.
        parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        own = httpx.get(srv.url("/flyer/trace/work/99"), params={"target": target},
                        headers={"traceparent": f"00-{parent_trace}-00f067aa0ba902b7-01"})
        assert own.json()["data"]["traceparent"].split("-")[1] == parent_trace

        spans = receiver.wait_for(lambda s: {x.pid for x in s if x.kind == SERVER} >= worker_pids
                                  and len([x for x in s if x.kind == SERVER]) >= 41)
        log = srv.log()
    assert {s.pid for s in spans} == worker_pids  # each worker exports its own spans
    servers = [s for s in spans if s.kind == SERVER]
    assert {s.name for s in servers} == {"GET /flyer/trace/work/{job_id}"}  # template, not raw path
    assert parent_trace in {s.trace_id for s in servers}

    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    for n, answer in enumerate(answers):
        trace_id = answer["traceparent"].split("-")[1]  # what the downstream service saw
        in_trace = [s for s in spans if s.trace_id == trace_id]
        server = next(s for s in in_trace if s.kind == SERVER)
        client = next(s for s in in_trace if s.kind == CLIENT)
        assert server.pid == client.pid == answer["pid"]
        assert client.parent_id  # the outbound span sits inside the inbound request's trace
        assert any(s.attributes.get("db.system") or "SELECT" in s.name for s in in_trace)
        # Every log line of the request, access line included, carries its trace id.
        mine = [r for r in records if r.get("request_id") == f"traced-{n}"]
        assert {r["logger"] for r in mine} >= {"fastflyer.access"}
        assert any(r["message"] == f"working on {n}" for r in mine)
        assert {r.get("trace_id") for r in mine} == {trace_id}


def test_redis_calls_are_traced(tmp_path, receiver):
    host, port = need_redis()
    write_project(tmp_path, TRACED_PROJECT)
    with run_server(cwd=tmp_path, env=_traced_env(receiver, flyer_workers="1")) as srv:
        response = httpx.get(srv.url("/flyer/trace/redis"), params={"host": host, "port": port})
        assert response.status_code == 200
        spans = receiver.wait_for(lambda s: any(x.kind == SERVER for x in s))
    server = next(s for s in spans if s.kind == SERVER)
    assert server.name == "GET /flyer/trace/redis"
    redis_spans = [s for s in spans if s.trace_id == server.trace_id and s.name.startswith("PING")]
    assert redis_spans, [s.name for s in spans]


def test_tracing_is_off_by_default(tmp_path, receiver):
    write_project(tmp_path, TRACED_PROJECT)
    env = _traced_env(receiver, flyer_workers="1")
    del env["flyer_otel_enable"]
    with run_server(cwd=tmp_path, env=env) as srv:
        answer = httpx.get(srv.url("/flyer/trace/work/1"),
                           params={"target": f"http://127.0.0.1:{receiver.port}/echo"})
        time.sleep(1)
    assert answer.json()["data"]["traceparent"] is None  # nothing injected
    assert receiver.spans == []


def test_fastapis_own_per_request_telemetry_probe_is_off_unless_tracing_is_on(tmp_path):
    """FastAPI >= 0.160 looks up the global OpenTelemetry providers on every request;
    FastFlyer's tracing switch decides instead."""
    import inspect

    from fastapi import FastAPI
    from fastflyer.observability import telemetry
    from fastflyer.settings import load_settings

    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        pytest.skip("this FastAPI has no built-in telemetry")
    off = telemetry.fastapi_options(load_settings(app_root=tmp_path, otel_enable=False))
    assert off == {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    assert telemetry.fastapi_options(load_settings(app_root=tmp_path, otel_enable=True)) == {}
