"""Models of the user profile routes."""

from pydantic import BaseModel, Field


class UserIn(BaseModel):
    """What a client sends to register a user."""

    name: str = Field(min_length=1, max_length=64, examples=["alice"])
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", examples=["alice@example.com"])


class User(UserIn):
    """A user as stored and returned."""

    id: int = Field(examples=[1])
