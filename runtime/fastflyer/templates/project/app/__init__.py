"""The apps directory: every package in here is one sub-app that FastFlyer mounts.

FastFlyer imports each package (``app.items``, ``app.users``, ...) and mounts the
object named ``router`` it exposes under ``flyer_base_url``. Adding this directory to
``sys.path`` also lets any module write short imports such as
``from items.module import get_item``. Pick one spelling per module: ``items.module``
and ``app.items.module`` are two separate module objects, so module-level state
(caches, stores) would exist twice.
"""

import sys
from pathlib import Path

_APPS_DIR = str(Path(__file__).resolve().parent)
if _APPS_DIR not in sys.path:
    sys.path.insert(0, _APPS_DIR)
