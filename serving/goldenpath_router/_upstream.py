"""The router's side of its connections to the releases it routes to (_proxy.py): keep-alive
connections to each address of a release, reused last-in first-out, and the addresses of one
release taken in turn (a refused connection passes the request to the next)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from goldenpath_router._framing import BadMessage, Message, Reader

_MAX_IDLE = 128  # pooled idle connections per backend address
Address = tuple[str, int]
Done = Callable[["Message | None", "Exception | None"], None]


class ConnectFailed(OSError):
    """No connection to a backend address: the request never left, so another may take it."""


class Upstream(asyncio.Protocol):
    """One keep-alive connection to a serving process, carrying one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool, self.reader = pool, Reader(answers=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at once
        self.done: Done | None = None
        self.request, self.timeout = b"", 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.used = self.received = self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # TCP: a Transport

    def exchange(self, request: bytes, head_only: bool, done: Done, timeout: float) -> None:
        self.done, self.request, self.timeout, self.received = done, request, timeout, False
        self.reader.head_only = head_only
        if timeout:
            self.timer = asyncio.get_running_loop().call_later(timeout, self._expire)
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.reader.buf += data
        try:
            while (m := self.reader.next()) is not None:
                if m.status >= 200:  # 1xx interim answers are dropped
                    self._finish(m, None)
        except BadMessage as exc:
            self._finish(None, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        m = self.reader.eof()
        if m is None and self.done is not None and self.used and not self.received:
            done, self.done = self.done, None  # reused as the backend closed it: send again
            if self.timer:
                self.timer.cancel()
            self.pool.send(self.request, self.reader.head_only, done, self.timeout)
            return
        self._finish(m, ConnectionResetError(f"the backend closed the connection ({exc})"))

    def _expire(self) -> None:
        self.timer = None
        self._finish(None, TimeoutError(f"no answer within {self.timeout:g} s"))
        self.transport.abort()  # a hung backend may not read what is still buffered

    def _finish(self, m: Message | None, exc: Exception | None) -> None:
        done, self.done = self.done, None
        if self.timer:
            self.timer.cancel()
            self.timer = None
        if done is not None and m is not None and not (m.close or m.until_eof or self.closed):
            self.used = True
            self.pool.release(self)
        else:  # broken, closing, or an answer nobody asked for
            self.transport.close()
        if done is not None:
            try:
                done(m, exc)
            except Exception as error:  # a measuring bug must not take the connection down
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "gp-router: measuring an answer failed", "exception": error})


class Pool:
    """Idle keep-alive connections to one backend address, reused last-in first-out."""

    def __init__(self, address: Address) -> None:
        self.address, self.idle, self.closed = address, list[Upstream](), False
        self.connecting: set[asyncio.Task[None]] = set()  # asyncio keeps weak references

    def send(self, request: bytes, head_only: bool, done: Done, timeout: float = 0.0) -> None:
        while self.idle:
            if not (conn := self.idle.pop()).closed:
                conn.exchange(request, head_only, done, timeout)
                return
        task = asyncio.get_running_loop().create_task(self._connect(request, head_only, done,
                                                                    timeout))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self, request: bytes, head_only: bool, done: Done, timeout: float) -> None:
        try:
            _, conn = await asyncio.get_running_loop().create_connection(
                lambda: Upstream(self), *self.address)
        except OSError as exc:
            done(None, ConnectFailed(f"{self.address[0]}:{self.address[1]}: {exc}"))
            return
        conn.exchange(request, head_only, done, timeout)

    def release(self, conn: Upstream) -> None:
        if self.closed or len(self.idle) >= _MAX_IDLE:
            conn.transport.close()
        else:
            self.idle.append(conn)

    def close(self) -> None:
        self.closed = True
        for conn in self.idle:
            conn.transport.close()
        self.idle.clear()


class Backend:
    """One release: its addresses, taken in turn; a refused connection tries the next."""

    def __init__(self, pools: list[Pool]) -> None:
        self.pools, self.turn = pools, 0

    @property
    def addresses(self) -> list[Address]:
        return [p.address for p in self.pools]

    def send(self, request: bytes, head_only: bool, done: Done, timeout: float = 0.0) -> None:
        pools = self.pools
        if len(pools) == 1:  # the local target's case: no turn to keep
            pools[0].send(request, head_only, done, timeout)
        elif not pools:
            done(None, ConnectFailed("no address: none of its pods is ready"))
        else:
            self.turn = (self.turn + 1) % len(pools)
            self._send(self.turn, len(pools), request, head_only, done, timeout)

    def _send(self, i: int, left: int, request: bytes, head_only: bool, done: Done,
              timeout: float) -> None:
        def tried(m: Message | None, exc: Exception | None) -> None:
            if m is None and isinstance(exc, ConnectFailed) and left > 1 and self.pools:
                self._send(i + 1, left - 1, request, head_only, done, timeout)
            else:
                done(m, exc)

        self.pools[i % len(self.pools)].send(request, head_only, tried, timeout)

    def close(self) -> None:
        for pool in self.pools:
            pool.close()


def addresses_of(where: int | Sequence[Address]) -> list[Address]:
    return [("127.0.0.1", where)] if isinstance(where, int) else \
        [(str(host), int(port)) for host, port in where]
