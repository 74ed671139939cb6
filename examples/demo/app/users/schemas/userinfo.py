"""Models of the user-info endpoints."""

from fastflyer.schemas import DataResponse, PageDataResponse
from pydantic import BaseModel, Field


class UserIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=64, description="Display name.")
    email: str = Field(..., pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)


class User(UserIn):
    id: int = Field(..., ge=1)


class UserResponse(DataResponse[User]):
    """One user in the FastFlyer envelope."""


class UserListResponse(PageDataResponse[list[User]]):
    """A page of users in the FastFlyer envelope."""
