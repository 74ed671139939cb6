"""Models of the relationship endpoints."""

from fastflyer.schemas import DataResponse
from pydantic import BaseModel, Field


class FollowIn(BaseModel):
    target_id: int = Field(..., ge=1, le=2**31 - 1, description="The user to follow.")


class FollowersResponse(DataResponse[list[int]]):
    """Ids of a user's followers in the FastFlyer envelope."""
