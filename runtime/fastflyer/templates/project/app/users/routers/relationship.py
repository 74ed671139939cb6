"""Follow/follower routes of the users app."""

from fastapi import HTTPException
from fastflyer import APIRouter, status
from fastflyer.schemas import BaseResponse, DataResponse

from ..modules import relationship
from ..schemas.relationship import Relationship

router = APIRouter(tags=["User relationships"])


def _not_found(exc: relationship.UnknownUserError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"user {exc.args[0]} not found")


@router.get(
    "/{user_id}/relationship",
    response_model=DataResponse[Relationship],
    summary="Who a user follows and who follows them",
)
def get_relationship(user_id: int):
    try:
        following, followers = relationship.relationship(user_id)
    except relationship.UnknownUserError as exc:
        raise _not_found(exc) from None
    data = Relationship(user_id=user_id, following=following, followers=followers)
    return {"code": status.HTTP_200_OK, "data": data}


@router.put(
    "/{user_id}/following/{target_id}",
    response_model=BaseResponse,
    summary="Follow a user",
)
def follow(user_id: int, target_id: int):
    try:
        relationship.follow(user_id, target_id)
    except relationship.UnknownUserError as exc:
        raise _not_found(exc) from None
    return {"code": status.HTTP_200_OK, "message": f"{user_id} follows {target_id}"}


@router.delete(
    "/{user_id}/following/{target_id}",
    response_model=BaseResponse,
    summary="Unfollow a user",
)
def unfollow(user_id: int, target_id: int):
    try:
        relationship.unfollow(user_id, target_id)
    except relationship.UnknownUserError as exc:
        raise _not_found(exc) from None
    return {"code": status.HTTP_200_OK, "message": f"{user_id} unfollowed {target_id}"}
