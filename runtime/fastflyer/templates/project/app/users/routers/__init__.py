"""The users app's routes: one router file per topic, combined here into ``router``.

To add a topic, create ``routers/<topic>.py`` with its own ``router`` and include it
below; the prefix given here applies to all of them (``/users``, ``/users/{id}/...``).
"""

from fastflyer import APIRouter

from . import relationship, userinfo

PREFIX = "/users"

router = APIRouter()
router.include_router(userinfo.router, prefix=PREFIX)
router.include_router(relationship.router, prefix=PREFIX)

__all__ = ["router"]
