"""uvicorn internals used by FastFlyer's server (``fastflyer.server``); no other module imports
``uvicorn.protocols`` or ``uvicorn.server``.

Checked against uvicorn 0.30.0 to 0.55.0. ``tests/contract/test_uvicorn.py`` fails, naming
the piece, when a release changes one of them:

- ``HttpToolsProtocol``, subclassed by ``server/protocol.py``: the constructor
  ``(config, server_state, app_state, _loop)``; the overridden ``connection_made``,
  ``connection_lost``, ``data_received``, ``on_headers_complete``, ``on_message_complete``,
  ``on_response_complete``, ``handle_websocket_upgrade``; the attributes ``transport``,
  ``loop``, ``parser`` (``get_method``), ``url``, ``headers`` (lower-case names), ``cycle``
  (``response_complete``), ``pipeline`` (requests queued behind the one in flight, reading
  paused), ``flow`` (``pause_reading``, ``resume_reading``), ``server_state`` and
  ``limit_concurrency`` (set to None: its check is off).
- ``Server.startup(sockets=[])``: set everything up but the listeners (``accept.py`` takes
  those); when the app's lifespan start-up fails it returns or raises ``SystemExit``;
  ``Server.servers``, ``Server.started``, ``Server.lifespan.state``,
  ``Server.server_state``.
- ``Server.on_tick(counter)``: the coroutine uvicorn's main loop awaits every 0.1 s, returning
  True to stop (drain delay, recycling and loop lag hook in there); ``Server.should_exit``.
- ``ServerState.connections`` and ``ServerState.total_requests``.
- ``Config``: the keywords ``server/uvicorn_server.py`` and the process models pass, and
  ``http_protocol_class``, ``backlog``, ``ssl``.
- ``uvicorn.supervisors.ChangeReload(config, target, sockets)`` for reload mode, imported only
  there (it brings in watchfiles).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server, ServerState

CHECKED_VERSIONS = ("0.30.0", "0.55.0")

__all__ = [
    "CHECKED_VERSIONS", "Config", "HttpToolsProtocol", "Server", "ServerState",
    "protocol_factory", "start_without_listeners", "connections", "awaiting_request",
    "total_requests",
    "change_reload",
]


def protocol_factory(server: Server, loop: asyncio.AbstractEventLoop) -> Callable[[], asyncio.Protocol]:
    """What ``loop.create_server`` would be given by ``Server.startup``."""
    config = server.config

    def create_protocol() -> asyncio.Protocol:
        return config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=server.server_state, app_state=server.lifespan.state,
            _loop=loop,
        )

    return create_protocol


async def start_without_listeners(server: Server) -> bool:
    """Run uvicorn's start-up (lifespan, state) without opening listeners; True once started,
    False when the app's start-up failed (uvicorn < 0.31 returns, later ones exit the process:
    FastFlyer retries instead)."""
    try:
        await Server.startup(server, sockets=[])
    except SystemExit:
        return False
    return bool(server.started)


def connections(server: Server) -> set[Any]:
    """The protocols of this server's open connections."""
    return server.server_state.connections


def total_requests(server: Server) -> int:
    """Requests this server has started answering."""
    return server.server_state.total_requests


def awaiting_request(protocol: Any) -> bool:
    """A connection accepted but whose first request head has not been parsed yet."""
    return getattr(protocol, "cycle", False) is None


def change_reload(config: Config, target: Callable[..., None], sockets: list[socket.socket]) -> Any:
    """uvicorn's supervisor that restarts ``target`` when files change (reload mode only)."""
    from uvicorn.supervisors import ChangeReload

    return ChangeReload(config, target=target, sockets=sockets)
