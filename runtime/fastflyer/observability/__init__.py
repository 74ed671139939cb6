"""Logs (loguru, request and trace ids on every line), Prometheus metrics across workers, and
optional OpenTelemetry tracing. Imported by every other layer; imports none of them."""
