"""A TCP proxy on a loopback port that can be switched off and on, to take a dependency
(Redis, MariaDB) away from a running server and give it back without touching the real one.

Off means what a crashed or partitioned dependency looks like to a client: the listener is
closed (new connections are refused) and every open connection is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from tests.support import free_port


class ToggleProxy:
    def __init__(self, target_host: str, target_port: int, port: int | None = None):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> ToggleProxy:
        self._thread.start()
        self.on()
        return self

    def __exit__(self, *exc: object) -> None:
        self.off()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def on(self) -> None:
        self._run(self._start())

    def off(self) -> None:
        self._run(self._stop())

    def _run(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # RST, as when the peer's host goes away
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()
