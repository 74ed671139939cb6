"""Per-request context shared by the middleware, the logger and the HTTP client."""

from __future__ import annotations

from contextvars import ContextVar

# Set by the request-id middleware for the life of each request (each request runs in its
# own task, so no reset is needed); read by log records and forwarded by Client/AsyncClient.
request_id_var: ContextVar[str | None] = ContextVar("fastflyer_request_id", default=None)
# Set by the tracing layer when OpenTelemetry is on (fastflyer.telemetry); read by log records.
trace_id_var: ContextVar[str | None] = ContextVar("fastflyer_trace_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"


def current_request_id() -> str | None:
    """The id of the request being served, or None outside a request."""
    return request_id_var.get()
