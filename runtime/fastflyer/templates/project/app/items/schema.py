"""Input and output models of the items app.

FastAPI validates requests against these models and documents them in /docs; answers
use FastFlyer's envelope ``{"code", "message", "data"}``, the payload type in brackets:
``DataResponse[Item]``.
"""

from pydantic import BaseModel, Field


class ItemIn(BaseModel):
    """What a client sends to create an item."""

    name: str = Field(min_length=1, max_length=64, examples=["keyboard"])
    price: float = Field(ge=0, examples=[49.9])
    description: str = Field("", max_length=500, examples=["mechanical, 87 keys"])


class Item(ItemIn):
    """An item as stored and returned."""

    id: int = Field(examples=[1])
