"""Example app 1, items: the whole app in one router file.

FastFlyer mounts the object named ``router`` found here, so the package must export it;
``__ENABLED__ = False`` in this file would switch the app off without deleting it.
"""

from .router import router

__all__ = ["router"]
