"""Sub-app `greetings`: FastFlyer mounts the `router` exported here under flyer_base_url."""

from .router import router

__all__ = ["router"]
