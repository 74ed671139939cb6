"""Input and output models of the items app."""

from fastflyer.schemas import DataResponse, PageDataResponse
from pydantic import BaseModel, Field


class ItemIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=64, description="Item name.")
    price: float = Field(..., ge=0, description="Unit price.")
    tags: list[str] = Field(default_factory=list, max_length=16, description="Free tags.")


class Item(ItemIn):
    id: int = Field(..., ge=1, description="Item id.")


class ItemResponse(DataResponse[Item]):
    """One item in the FastFlyer envelope."""


class ItemListResponse(PageDataResponse[list[Item]]):
    """A page of items in the FastFlyer envelope."""
