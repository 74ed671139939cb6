"""Accept connections in batches.

uvloop >= 0.19 (libuv >= 1.45) accepts one connection per event-loop iteration. Under load
an iteration takes milliseconds, so a burst of new connections (1000 clients connecting at
once) drains from the listen queue at ~100 per second and the last clients time out. This
acceptor takes the listening socket itself and accepts until the queue is empty (bounded per
wake-up), handing each connection to the loop like ``create_server`` would.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from collections.abc import Callable

from .logs import logger

MAX_ACCEPTS_PER_WAKEUP = 1024


class BatchAcceptor:
    """Quacks like the ``asyncio.Server`` uvicorn keeps in ``Server.servers`` (close,
    wait_closed), so uvicorn's shutdown stops accepting as before."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        ssl: ssl_module.SSLContext | None = None,
    ):
        self.loop = loop
        self.sock = sock
        self.protocol_factory = protocol_factory
        self.ssl = ssl
        self._fd = sock.fileno()
        self._closed = False
        sock.setblocking(False)
        loop.add_reader(self._fd, self._accept)

    def _accept(self) -> None:
        for _ in range(MAX_ACCEPTS_PER_WAKEUP):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # e.g. EMFILE: leave the rest queued, try on the next wake
                logger.warning(f"accept() failed: {exc}")
                return
            conn.setblocking(False)
            self.loop.create_task(self._connect(conn))

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, conn, ssl=self.ssl)
        except OSError:
            conn.close()  # the client went away before the transport was set up

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.loop.remove_reader(self._fd)

    async def wait_closed(self) -> None:
        return None
