"""Optional entry point: when this file defines ``app``, FastFlyer serves it.

FastFlyer builds exactly this app by itself when main.py is absent, so you may delete
the file. Keeping it lets ``uvicorn main:app`` or a debugger start the service directly,
and gives you one place for app-wide additions (extra middleware, startup hooks...).
Settings still come from the flyer_* environment variables and settings.py.
"""

from fastflyer import create_app

app = create_app()
