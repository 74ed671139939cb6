"""Small projects in the seed's layout, written into a temp dir by the tests that need them."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_project(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content).lstrip())
    return root


# A project written "by someone else" in the seed's style, exercising the public API.
SEED_STYLE = {
    "app/__init__.py": """
        import os
        import sys
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    """,
    "app/shop/__init__.py": "from .router import router\n",
    "app/shop/module.py": """
        def lookup(item_id):
            return {"itemId": item_id}
    """,
    "app/shop/router.py": """
        from fastapi import HTTPException

        from fastflyer import APIRouter, logger, status
        from fastflyer.schemas import DataResponse
        from shop.module import lookup

        router = APIRouter(tags=["Demo示例"])


        @router.get("/demo", response_model=DataResponse, summary="Demo接口")
        async def demo(id: int):
            logger.info(f"demo called with {id}")
            logger.warn("a warning through logger.warn")
            return {"code": status.HTTP_200_OK, "data": lookup(id)}


        @router.get("/boom")
        async def boom():
            raise RuntimeError("secret-internal-detail /srv/private/path.py")


        @router.get("/boom-sync")
        def boom_sync():
            raise KeyError("another-internal-detail")


        @router.get("/teapot")
        async def teapot():
            raise HTTPException(418, "short and stout", headers={"X-Pot": "tea"})


        @router.get("/thread")
        def thread_name():
            import threading
            return {"code": 200, "data": threading.current_thread().name}
    """,
    "app/jobs/__init__.py": """
        # No router: imported only for its side effects.
        import os
        os.environ["SHOP_JOBS_IMPORTED"] = "1"
    """,
    "app/legacy/__init__.py": """
        from fastflyer import APIRouter
        __ENABLED__ = False
        router = APIRouter()

        @router.get("/legacy")
        async def legacy():
            return {}
    """,
    "app/_private/__init__.py": "raise RuntimeError('must never be imported')\n",
    "settings.py": """
        class CustomConfig:
            TITLE = "Shop Service"
            DESCRIPTION = "Written by someone else."
            VERSION = "3.2.1"
    """,
}

BROKEN_SUBAPP = {
    "app/good/__init__.py": """
        from fastflyer import APIRouter
        router = APIRouter()
    """,
    "app/broken/__init__.py": "import this_module_does_not_exist\n",
}
