"""Demo app 2, users: shows several router files aggregated into one ``router``.

FastFlyer mounts the object named ``router`` exported here.
"""

from .routers import router

__all__ = ["router"]
