"""User-info routes. ``def`` endpoints run in the worker's bounded thread pool
(``flyer_threads``), which suits blocking database calls."""

from fastapi import HTTPException, Path, Query
from fastflyer import APIRouter, status
from fastflyer.schemas import BaseResponse, PageInfo

from ..modules.userinfo import create_user, delete_user, get_user, list_users
from ..schemas.userinfo import UserIn, UserListResponse, UserResponse

router = APIRouter(prefix="/users")


@router.get("", response_model=UserListResponse, summary="List users")
def users(
    offset: int = Query(0, ge=0, le=2**31 - 1, description="Index of the first user."),
    limit: int = Query(20, ge=1, le=100, description="Page size."),
):
    rows, total = list_users(offset, limit)
    return {"data": rows, "page_info": PageInfo(total=total, offset=offset, limit=limit)}


@router.post("", response_model=UserResponse, status_code=201, summary="Create a user")
def create(user: UserIn):
    return {"code": status.HTTP_201_CREATED, "message": "created", "data": create_user(user.model_dump())}


@router.get("/{user_id}", response_model=UserResponse, summary="Get a user",
            responses={404: {"model": BaseResponse, "description": "No such user"}})
def read(user_id: int = Path(..., ge=1, le=2**31 - 1)):
    user = get_user(user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "user not found")
    return {"data": user}


@router.delete("/{user_id}", response_model=BaseResponse, summary="Delete a user",
               responses={404: {"model": BaseResponse, "description": "No such user"}})
def delete(user_id: int = Path(..., ge=1, le=2**31 - 1)):
    if not delete_user(user_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "user not found")
    return {"message": "deleted"}
