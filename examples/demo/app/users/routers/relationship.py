"""Relationship routes."""

from fastapi import HTTPException, Path
from fastflyer import APIRouter, status
from fastflyer.schemas import BaseResponse

from ..modules.relationship import follow, followers
from ..modules.userinfo import get_user
from ..schemas.relationship import FollowersResponse, FollowIn

router = APIRouter(prefix="/users")

NOT_FOUND = {404: {"model": BaseResponse, "description": "No such user"}}


@router.post("/{user_id}/follow", response_model=BaseResponse, summary="Follow a user",
             responses=NOT_FOUND)
def follow_user(body: FollowIn, user_id: int = Path(..., ge=1, le=2**31 - 1)):
    if get_user(user_id) is None or get_user(body.target_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "user not found")
    follow(user_id, body.target_id)
    return {"message": "followed"}


@router.get("/{user_id}/followers", response_model=FollowersResponse, summary="List followers",
            responses=NOT_FOUND)
def list_followers(user_id: int = Path(..., ge=1, le=2**31 - 1)):
    if get_user(user_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "user not found")
    return {"data": followers(user_id)}
