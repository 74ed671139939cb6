"""Models of the follow/follower routes."""

from pydantic import BaseModel, Field


class Relationship(BaseModel):
    """Who a user follows and who follows them, as lists of user ids."""

    user_id: int = Field(examples=[1])
    following: list[int] = Field(default_factory=list, examples=[[2]])
    followers: list[int] = Field(default_factory=list, examples=[[]])
