"""Apps directory: FastFlyer imports every package here as ``app.<name>`` and mounts its
``router``. This directory is also put on ``sys.path`` so that apps can import their own
modules by short name, e.g. ``from items.module import get_item``."""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)
