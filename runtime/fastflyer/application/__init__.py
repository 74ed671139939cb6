"""The application layer: what a request meets once the server has parsed it.

``factory`` builds the FastAPI app from the project (``discovery``, ``routing``, ``docs``,
``errors``, ``openapi``); ``stack`` decides the pure-ASGI middleware around it
(``middleware/``); ``loader`` picks what is served (the factory's app or the project's own
``main.py:app``); ``readiness`` and ``probes`` answer the readiness check. This layer may import
the SDK, observability and settings, never the server.
"""
