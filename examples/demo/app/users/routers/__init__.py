"""Aggregate this app's router files into the single ``router`` FastFlyer mounts."""

from fastflyer import APIRouter

from .relationship import router as relationship_router
from .userinfo import router as userinfo_router

router = APIRouter(tags=["Users"])
router.include_router(userinfo_router)
router.include_router(relationship_router)
