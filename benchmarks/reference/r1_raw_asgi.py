"""R1: the floor - a raw ASGI callable that answers every request with the health body.

No framework at all, so its throughput is what uvicorn itself can do on one core. Run as
``uvicorn benchmarks.reference.r1_raw_asgi:app --loop uvloop --http httptools --no-access-log``.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"code":200,"message":"success"}'
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))],
}
END = {"type": "http.response.body", "body": BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]  # "startup" or "shutdown"
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    await send(START)
    await send(END)
