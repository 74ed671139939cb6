"""Demo app 1, items: shows a sub-app with a single router file.

FastFlyer mounts the object named ``router`` exported here.
"""

from .router import router

__all__ = ["router"]
