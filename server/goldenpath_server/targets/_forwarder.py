"""Stable endpoints for the local target: one loopback port per deployment that forwards
TCP connections to whichever `bentoml serve` process currently backs it.

A redeploy starts the new process on its own port, waits until it is ready, then points
the stable port at it; connections already open finish on the old process. The endpoint
URL never changes and never stops accepting connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any


class Forwarders:
    """A background event loop holding one listening socket per deployment key."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._backends: dict[str, int] = {}
        self._servers: dict[str, asyncio.base_events.Server] = {}
        self._thread = threading.Thread(target=self._loop.run_forever, name="gp-forwarders",
                                        daemon=True)
        self._thread.start()

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def ensure(self, key: str, preferred_port: int | None) -> int:
        """Listen for `key` (on preferred_port if free, else any free port); return the port."""
        if key in self._servers:
            return int(self._servers[key].sockets[0].getsockname()[1])
        return int(self._call(self._listen(key, preferred_port or 0)))

    def point(self, key: str, backend_port: int) -> None:
        self._backends[key] = backend_port

    def remove(self, key: str) -> None:
        self._backends.pop(key, None)
        server = self._servers.pop(key, None)
        if server is not None:
            self._loop.call_soon_threadsafe(server.close)

    def close(self) -> None:
        for key in list(self._servers):
            self.remove(key)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _listen(self, key: str, port: int) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.bind(("127.0.0.1", 0))  # the old port is taken: a new URL beats no URL
        sock.listen(512)
        sock.setblocking(False)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._forward(key, reader, writer)

        self._servers[key] = await asyncio.start_server(handle, sock=sock)
        return int(sock.getsockname()[1])

    async def _forward(self, key: str, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        backend = self._backends.get(key)
        if backend is None:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend)
        except OSError:
            writer.close()
            return
        for w in (writer, up_writer):
            with contextlib.suppress(OSError):
                w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
