"""Routes of the items app."""

import asyncio

from fastapi import HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastflyer import APIRouter, logger, status
from fastflyer.schemas import BaseResponse, DataResponse, PageInfo
from items.module import (
    SAMPLE_IDS,
    add_item,
    describe_item,
    export_rows,
    get_stored_item,
    list_items,
)

from .schema import ItemIn, ItemListResponse, ItemResponse

router = APIRouter(prefix="/items", tags=["Items"])


@router.get("/demo", response_model=DataResponse, summary="Demo endpoint (the seed's example)")
async def demo(id: int):
    """
    演示接口:信息查询
    ---
    - 附加说明: 这是一个演示接口。
    """
    return {"code": status.HTTP_200_OK, "data": {"itemId": id}}


@router.get("/slow", response_model=DataResponse, summary="Answer after a delay")
async def slow(seconds: float = Query(1.0, ge=0, le=30, description="Delay in seconds.")):
    """A slow request, to watch graceful shutdown finish in-flight work."""
    await asyncio.sleep(seconds)
    return {"code": status.HTTP_200_OK, "data": {"slept": seconds}}


@router.get("/export", response_model=DataResponse, summary="A large list (about 100 KB)")
async def export(count: int = Query(1000, ge=1, le=10000, description="Rows to return.")):
    return {"code": status.HTTP_200_OK, "data": export_rows(count)}


# Routes that use the database are `def`: they run in the worker's bounded thread pool
# (flyer_threads), so a blocking query never stalls the event loop.
@router.get("", response_model=ItemListResponse, summary="List stored items")
def items(
    offset: int = Query(0, ge=0, le=2**31 - 1, description="Index of the first item."),
    limit: int = Query(20, ge=1, le=100, description="Page size."),
):
    rows, total = list_items(offset, limit)
    return {"data": rows, "page_info": PageInfo(total=total, offset=offset, limit=limit)}


@router.post("", response_model=ItemResponse, status_code=201, summary="Store an item")
def create(item: ItemIn):
    stored = add_item(item.model_dump())
    logger.info(f"item {stored['id']} created")
    return {"code": status.HTTP_201_CREATED, "message": "created", "data": stored}


@router.get("/{item_id}", response_model=ItemResponse, summary="Get one item",
            responses={404: {"model": BaseResponse, "description": "No such stored item"}})
async def read(item_id: int = Path(..., ge=1, le=2**31 - 1, description="Item id.")):
    """Ids up to 1,000,000 are sample items computed from the id (no storage touched: the
    benchmark's route); higher ids are the items stored with POST (404 if there is none)."""
    if item_id <= SAMPLE_IDS:
        return {"data": describe_item(item_id)}
    stored = await run_in_threadpool(get_stored_item, item_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "item not found")
    return {"data": stored}
