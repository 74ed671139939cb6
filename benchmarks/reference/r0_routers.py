"""R0r: the demo project's own routers on a bare FastAPI app.

The same route table and the same handlers FastFlyer serves from ``examples/demo``, included
the way a FastAPI user would (``include_router`` under ``/flyer``), without any of FastFlyer's
layers. Against R0 (three flat routes) it shows FastAPI's own cost of nested routers and a
larger route table; against FastFlyer it shows exactly what FastFlyer adds.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"
sys.path[:0] = [str(DEMO / "app"), str(DEMO)]

from app.items import router as items_router  # noqa: E402
from app.users import router as users_router  # noqa: E402
from fastapi import FastAPI  # noqa: E402

app = FastAPI()


@app.get("/health_check")
@app.get("/health_check/async")
async def health() -> Any:
    return {"code": 200, "message": "success"}


app.include_router(items_router, prefix="/flyer")
app.include_router(users_router, prefix="/flyer")
