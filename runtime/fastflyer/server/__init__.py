"""Serving: the settings model in, a running HTTP server out.

``common`` holds what every process model shares. The default engine (``flyer_server=gunicorn``)
runs ``gunicorn`` (master) + ``worker`` for several workers, ``single`` for one worker without a
master, ``reload`` for one hot-reloading process; each of those processes serves with
``uvicorn_server`` (uvicorn configured from the settings), ``protocol`` (HTTP guards) and
``accept`` (batch acceptor). ``granian`` is the other engine: granian's main process and workers,
reloading in dev mode too. ``heap`` keeps memory in check; ``cpu`` sizes the worker count.
The server imports the application layer (``fastflyer.application``), never the reverse.
"""

from __future__ import annotations

import os

from fastflyer.settings import FlyerSettings


def unsupported(settings: FlyerSettings) -> list[str]:
    """One line per setting the chosen engine cannot honour (the CLI exits 2 on any)."""
    if settings.server == "granian":
        from fastflyer.server.granian import refusals

        return refusals(settings)
    return []


def serve(settings: FlyerSettings) -> None:
    from fastflyer.server.common import announce, resolve_workers

    if settings.server == "granian":
        from fastflyer.server.granian import serve_granian

        if settings.reload:
            announce(settings, 1, "reload mode", "granian's reloader + one worker")
            serve_granian(settings, 1)
            return
        workers, reason = resolve_workers(settings)
        announce(settings, workers, reason, "granian main process + workers")
        serve_granian(settings, workers)
        return
    if settings.reload:
        from fastflyer.server.reload import serve_reload

        announce(settings, 1, "reload mode", "one reloading process")
        serve_reload(settings)
        return
    workers, reason = resolve_workers(settings)
    if workers == 1:
        from fastflyer.server.single import LISTEN_FD_ENV, serve_single

        if LISTEN_FD_ENV not in os.environ:  # not when it re-executes itself (recycle, retry)
            announce(settings, 1, reason, "one process, no master")
        serve_single(settings)
        return
    from fastflyer.server.gunicorn import serve_gunicorn

    announce(settings, workers, reason, "gunicorn master + workers")
    serve_gunicorn(settings, workers)
