"""Routes of the greetings sub-app."""

from datetime import timedelta

import humanize
from fastapi import Query
from fastflyer import APIRouter
from fastflyer.schemas import DataResponse
from pydantic import BaseModel

router = APIRouter(prefix="/hello", tags=["Greetings"])


class Greeting(BaseModel):
    text: str
    uptime: str


@router.get("", response_model=DataResponse[Greeting], summary="Greet someone")
async def hello(
    name: str = Query("world", min_length=1, max_length=50, description="Who to greet."),
    seconds: int = Query(90, ge=0, description="An uptime to show in words."),
):
    uptime = humanize.naturaldelta(timedelta(seconds=seconds))
    return DataResponse(data=Greeting(text=f"Hello, {name}!", uptime=uptime))
