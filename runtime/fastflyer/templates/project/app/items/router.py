"""HTTP routes of the items app: {{ project_prefix }}/items (under flyer_base_url).

Handlers stay thin: they check input, call module.py and wrap the result in the
envelope. ``def`` handlers run in the worker's thread pool; use ``async def`` only for
code that awaits (e.g. fastflyer.AsyncClient), never for blocking calls.
"""

from typing import Annotated

from fastapi import HTTPException, Query
from fastflyer import APIRouter, status
from fastflyer.schemas import BaseResponse, DataResponse, PageDataResponse

from . import module
from .schema import Item, ItemIn

router = APIRouter(prefix="/items", tags=["Items"])


@router.get("", response_model=PageDataResponse[list[Item]], summary="List items")
def list_items(
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 10,
):
    """One page of items; ``page_info`` tells the client how many there are in total."""
    items, total = module.list_items(offset, limit)
    page_info = {"total": total, "offset": offset, "limit": limit}
    return {"code": status.HTTP_200_OK, "data": items, "page_info": page_info}


@router.get("/{item_id}", response_model=DataResponse[Item], summary="Get an item")
def get_item(item_id: int):
    """One item by id; an unknown id answers 404 in the same envelope."""
    item = module.get_item(item_id)
    if item is None:
        # FastFlyer answers {"code": 404, "message": ..., "request_id": ...} for this.
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id} not found")
    return {"code": status.HTTP_200_OK, "data": item}


@router.post(
    "",
    response_model=DataResponse[Item],
    status_code=status.HTTP_201_CREATED,
    summary="Create an item",
)
def create_item(body: ItemIn):
    """Store a new item; a body that fails validation answers 422 before this runs."""
    item = module.create_item(body)
    return {"code": status.HTTP_201_CREATED, "message": "created", "data": item}


@router.delete("/{item_id}", response_model=BaseResponse, summary="Delete an item")
def delete_item(item_id: int):
    if not module.delete_item(item_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id} not found")
    return {"code": status.HTTP_200_OK, "message": "deleted"}
