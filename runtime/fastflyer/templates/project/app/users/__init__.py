"""Example app 2, users: several router files aggregated into the one ``router``.

Unlike items, the routes live in a ``routers/`` package whose ``__init__.py`` combines
them; this file only re-exports the result, because FastFlyer mounts the name
``router``.
"""

from .routers import router

__all__ = ["router"]
