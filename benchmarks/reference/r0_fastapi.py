"""R0: a bare FastAPI app serving the demo's benchmark routes with the same semantics.

Same paths, the same ``Path(ge=1)`` validation, the same envelope built through pydantic
response models, the same bodies byte for byte; none of FastFlyer's layers (no request id,
no error shield, no prebuilt health response). Run by the harness as
``uvicorn benchmarks.reference.r0_fastapi:app --loop uvloop --http httptools --no-access-log``.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi import FastAPI, Path, Query
from pydantic import BaseModel, Field

T = TypeVar("T")


class BaseResponse(BaseModel):
    code: int = 200
    message: str = "success"


class DataResponse(BaseResponse, Generic[T]):
    data: T | None = None


class ItemIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=64)
    price: float = Field(..., ge=0)
    tags: list[str] = Field(default_factory=list, max_length=16)


class Item(ItemIn):
    id: int = Field(..., ge=1)


class ItemResponse(DataResponse[Item]):
    pass


app = FastAPI()


@app.get("/health_check", response_model=BaseResponse)
@app.get("/health_check/async", response_model=BaseResponse)
async def health() -> Any:
    return {"code": 200, "message": "success"}


@app.get("/flyer/items/export", response_model=DataResponse)
async def export(count: int = Query(1000, ge=1, le=10000)) -> Any:
    rows = [
        {"id": i, "name": f"item-{i:06d}", "price": i * 0.25, "tags": ["demo", "bulk"]}
        for i in range(count)
    ]
    return {"code": 200, "data": rows}


@app.get("/flyer/items/{item_id}", response_model=ItemResponse)
async def read(item_id: int = Path(..., ge=1, le=2**31 - 1)) -> Any:
    item = {"id": item_id, "name": f"item-{item_id}", "price": round(item_id * 0.5, 2), "tags": []}
    return {"data": item}
