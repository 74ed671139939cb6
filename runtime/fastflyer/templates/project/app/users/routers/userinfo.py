"""User profile routes: list, read and register users."""

from typing import Annotated

from fastapi import HTTPException, Query
from fastflyer import APIRouter, status
from fastflyer.schemas import DataResponse, PageDataResponse

from ..modules import userinfo
from ..schemas.userinfo import User, UserIn

# No prefix here: routers/__init__.py puts every users route under /users.
router = APIRouter(tags=["Users"])


@router.get("", response_model=PageDataResponse[list[User]], summary="List users")
def list_users(
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
):
    users, total = userinfo.list_users(offset, limit)
    page_info = {"total": total, "offset": offset, "limit": limit}
    return {"code": status.HTTP_200_OK, "data": users, "page_info": page_info}


@router.get("/{user_id}", response_model=DataResponse[User], summary="Get a user")
def get_user(user_id: int):
    user = userinfo.get_user(user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"user {user_id} not found")
    return {"code": status.HTTP_200_OK, "data": user}


@router.post(
    "",
    response_model=DataResponse[User],
    status_code=status.HTTP_201_CREATED,
    summary="Register a user",
)
def create_user(body: UserIn):
    user = userinfo.create_user(body)
    return {"code": status.HTTP_201_CREATED, "message": "created", "data": user}
