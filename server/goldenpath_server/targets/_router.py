"""Per-request HTTP routing between two releases of a deployment on loopback, for progressive
delivery: canary (a share of requests answered by the candidate) and shadow (the candidate
gets copies; its answers are only measured and compared with the stable's).

Unlike the TCP relay (_forwarder.py) this must see each request, so it speaks HTTP/1.1.
Every key is served by one asyncio event loop on one daemon thread, with Protocols and
callbacks (no streams, no task per request: their futures and coroutine steps cost more
than the parse). Framing is by hand: one compiled regex finds the few headers that matter
and the header block is passed on as it came unless a hop-by-hop header must go.
httptools is not among the product's dependencies, and it would call back into Python
once per header (docs/benchmarks.md, "Progressive delivery router", has the measurements).
What is measured of each answer lives in _router_metrics.py.
Bodies are buffered whole: a copy needs the request, a comparison both answers, and model
requests and answers are small.

Measurements are written on the loop's thread only; window() swaps the window there and
summarizes the old one in the caller's thread, so no request takes a lock.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from goldenpath_server.targets._router_metrics import SKIP, Window, predictions_of

__all__ = ["Router", "Split"]

_T = TypeVar("_T")
_MAX_HEAD = 64 * 1024
_MAX_COPIES = 64  # background copies in flight per key; more are dropped, never queued
_COPY_TIMEOUT_S = 30.0  # a hung backend must not hold a copy's slot forever
_REMEMBERED = 100_000  # answers kept by request id, for outcomes sent later (ground truth)
_MAX_IDLE = 128  # pooled idle connections per backend
_HEALTH = frozenset({b"/healthz", b"/readyz", b"/metrics"})
_FIELDS = re.compile(rb"\r\n(content-length|transfer-encoding|connection|keep-alive|"
                     rb"proxy-connection|te|trailer|upgrade|expect|host|x-request-id)"
                     rb"[ \t]*:([^\r\n]*)", re.IGNORECASE)
_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
                  b"transfer-encoding", b"upgrade", b"expect"})
_HOP_ANSWER = _HOP | {b"x-request-id"}  # the answer carries the router's id
_VARIANT = (b"X-Goldenpath-Variant: stable", b"X-Goldenpath-Variant: candidate")
_NAMES = ("stable", "candidate")
_UUID4 = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
_UUID_KEEP = ((1 << 128) - 1) ^ (0xF000 << 64) ^ (0xC000 << 48)


@dataclass(frozen=True)
class Split:
    """How one deployment's requests are shared between its stable and candidate releases."""

    weight: float = 0.0  # share of requests answered by the candidate, drawn per request
    mirror: bool = False  # shadow: copy every stable-answered request to the candidate
    compare: bool = True  # copy every candidate-answered request to the stable and compare


class _BadMessage(Exception):
    """The peer sent bytes this router cannot frame as HTTP/1.1."""


class _Message:
    """One request or answer: first line, the headers that matter, the block passed on, body."""

    __slots__ = ("first", "fields", "rest", "body", "length", "chunked", "until_eof", "close",
                 "status", "parts", "expect")

    def __init__(self, first: bytes, fields: dict[bytes, bytes], rest: bytes) -> None:
        self.first, self.fields, self.rest, self.body = first, fields, rest, b""
        self.length, self.status = -1, 0
        self.parts: list[bytes] = []
        self.chunked = self.until_eof = self.close = False
        self.expect = fields.get(b"expect", b"").lower() == b"100-continue"


def _parse_head(head: bytes, answer: bool, head_only: bool) -> _Message:
    eol = head.find(b"\r\n")
    block = head[eol:] if eol >= 0 else b""
    fields = {k.lower(): v.strip() for k, v in _FIELDS.findall(block)}
    strip = _HOP_ANSWER if answer else _HOP
    if not strip.isdisjoint(fields):  # rare: rebuild the block without them
        block = b"".join(b"\r\n" + line for line in block.split(b"\r\n")[1:]
                         if line.partition(b":")[0].strip().lower() not in strip)
    m = _Message(head[:eol] if eol >= 0 else head, fields, block)
    parts = m.first.split(b" ", 2)
    version = parts[0] if answer else parts[-1]
    if len(parts) < (2 if answer else 3) or not version.startswith(b"HTTP/1."):
        raise _BadMessage(f"not an HTTP/1.x {'status' if answer else 'request'} line: "
                          f"{m.first[:60]!r}")
    connection = fields.get(b"connection", b"").lower()
    m.close = b"close" in connection or (version == b"HTTP/1.0" and b"keep-alive" not in connection)
    if answer:
        if not parts[1].isdigit():
            raise _BadMessage(f"bad status line: {m.first[:60]!r}")
        m.status = int(parts[1])
        if head_only or m.status < 200 or m.status in (204, 304):
            return m  # no body, whatever the headers say
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        m.chunked = True
    elif b"content-length" in fields:
        if not fields[b"content-length"].isdigit():
            raise _BadMessage(f"bad Content-Length: {fields[b'content-length'][:20]!r}")
        m.length = int(fields[b"content-length"])
    elif answer:
        m.until_eof = True
    return m


def _dechunk(buf: bytearray, m: _Message) -> bool:
    """Move complete chunks from buf into m.parts; True once the last chunk is in."""
    while (eol := buf.find(b"\r\n")) >= 0:
        try:
            size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
        except ValueError:
            raise _BadMessage(f"bad chunk size line: {bytes(buf[:eol])[:40]!r}") from None
        if size == 0:  # trailers (ignored) end with an empty line
            if (end := buf.find(b"\r\n\r\n", eol)) < 0:
                return False
            del buf[: end + 4]
            m.body = b"".join(m.parts)
            return True
        if len(buf) < eol + size + 4:
            return False
        m.parts.append(bytes(buf[eol + 2 : eol + 2 + size]))
        del buf[: eol + size + 4]
    return False


class _Reader:
    """Frames HTTP/1.1 messages out of one connection's bytes as they arrive."""

    def __init__(self, answers: bool) -> None:
        self.buf, self.answers = bytearray(), answers
        self.head_only = False  # the answer to a HEAD request has no body
        self.pending: _Message | None = None  # head read, body not complete

    def next(self) -> _Message | None:
        buf, m = self.buf, self.pending
        if m is None:
            if (end := buf.find(b"\r\n\r\n")) < 0:
                if len(buf) > _MAX_HEAD:
                    raise _BadMessage("header block over 64 KiB")
                return None
            m = self.pending = _parse_head(bytes(buf[:end]), self.answers, self.head_only)
            del buf[: end + 4]
        if m.chunked:
            if not _dechunk(buf, m):
                return None
        elif m.until_eof or len(buf) < m.length:
            return None
        elif m.length > 0:
            m.body = bytes(buf[: m.length])
            del buf[: m.length]
        self.pending = None
        return m

    def eof(self) -> _Message | None:
        """At the peer's close: the close-delimited answer, now complete."""
        m, self.pending = self.pending, None
        if m is None or not m.until_eof:
            return None
        m.body = bytes(self.buf)
        return m


_Done = Callable[["_Message | None", "Exception | None"], None]


class _Upstream(asyncio.Protocol):
    """One keep-alive connection to a serving process, carrying one exchange at a time."""

    def __init__(self, pool: _Pool) -> None:
        self.pool, self.reader = pool, _Reader(answers=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at once
        self.done: _Done | None = None
        self.request, self.timeout = b"", 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.used = self.received = self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # TCP: a Transport

    def exchange(self, request: bytes, head_only: bool, done: _Done, timeout: float) -> None:
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
        except _BadMessage as exc:
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

    def _finish(self, m: _Message | None, exc: Exception | None) -> None:
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


class _Pool:
    """Idle keep-alive connections to one backend port, reused last-in first-out."""

    def __init__(self, port: int) -> None:
        self.port, self.idle, self.closed = port, list[_Upstream](), False
        self.connecting: set[asyncio.Task[None]] = set()  # asyncio keeps weak references

    def send(self, request: bytes, head_only: bool, done: _Done, timeout: float = 0.0) -> None:
        while self.idle:
            if not (conn := self.idle.pop()).closed:
                conn.exchange(request, head_only, done, timeout)
                return
        task = asyncio.get_running_loop().create_task(self._connect(request, head_only, done,
                                                                    timeout))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self, request: bytes, head_only: bool, done: _Done, timeout: float) -> None:
        try:
            _, conn = await asyncio.get_running_loop().create_connection(
                lambda: _Upstream(self), "127.0.0.1", self.port)
        except OSError as exc:
            done(None, exc)
            return
        conn.exchange(request, head_only, done, timeout)

    def release(self, conn: _Upstream) -> None:
        if self.closed or len(self.idle) >= _MAX_IDLE:
            conn.transport.close()
        else:
            self.idle.append(conn)

    def close(self) -> None:
        self.closed = True
        for conn in self.idle:
            conn.transport.close()
        self.idle.clear()


class _Route:
    """One deployment key: its listener, backends, split, window and client connections."""

    def __init__(self, stable_port: int, candidate_port: int, split: Split) -> None:
        self.pools = (_Pool(stable_port), _Pool(candidate_port))
        self.split, self.window = split, Window()
        self.server: asyncio.AbstractServer | None = None
        self.port = self.copies = 0
        self.clients: set[asyncio.BaseTransport] = set()
        # request id -> [the stable's answer, the candidate's], for outcomes sent later;
        # dicts keep insertion order, so the oldest answers are dropped first
        self.answers: dict[bytes, list[Any]] = {}

    def remember(self, request_id: bytes, variant: int, value: Any) -> None:
        if (both := self.answers.get(request_id)) is None:
            if len(self.answers) >= _REMEMBERED:
                del self.answers[next(iter(self.answers))]
            both = self.answers[request_id] = [SKIP, SKIP]
        both[variant] = value

    def point(self, stable_port: int, candidate_port: int) -> None:
        old = self.pools
        self.pools = (old[0] if old[0].port == stable_port else _Pool(stable_port),
                      old[1] if old[1].port == candidate_port else _Pool(candidate_port))
        for pool in set(old) - set(self.pools):
            pool.close()  # exchanges in flight finish; then their connections close

    def copy(self, to: int, request: bytes, answered: Any, request_id: bytes) -> None:
        """Send a request to the other release in the background and compare the answers."""
        if self.copies >= _MAX_COPIES:
            self.window.dropped += 1
            return
        self.copies += 1
        t0 = time.perf_counter()

        def done(a: _Message | None, exc: Exception | None) -> None:
            self.copies -= 1
            variant = self.window.variants[to]
            if a is None:
                variant.failed()
                return
            value = variant.answered(a.status, time.perf_counter() - t0, a.body)
            if value is not SKIP:
                self.remember(request_id, to, value)
                if answered is not SKIP:
                    self.window.compare(answered, value)

        self.pools[to].send(request, False, done, _COPY_TIMEOUT_S)


def _upstream_request(m: _Message, method: bytes, target: bytes, made_id: bytes) -> bytes:
    extra = b"" if b"host" in m.fields else b"\r\nHost: 127.0.0.1"
    if made_id:
        extra += b"\r\nX-Request-Id: " + made_id
    if m.chunked:  # passed on de-chunked
        extra += b"\r\nContent-Length: %d" % len(m.body)
    return b"%s %s HTTP/1.1%s%s\r\n\r\n%s" % (method, target, m.rest, extra, m.body)


def _client_answer(a: _Message, variant: int, request_id: bytes, connection: bytes) -> bytes:
    first = a.first if a.first.startswith(b"HTTP/1.1 ") else b"HTTP/1.1 " + a.first[9:]
    length = b"\r\nContent-Length: %d" % len(a.body) if a.chunked or a.until_eof else b""
    return b"%s%s\r\n%s\r\nX-Request-Id: %s%s%s\r\n\r\n%s" % (
        first, a.rest, _VARIANT[variant], request_id, length, connection, a.body)


def _error_answer(status: bytes, code: str, message: str, hint: str) -> _Message:
    body = json.dumps({"code": code, "message": message, "hint": hint}).encode()
    a = _Message(b"HTTP/1.1 " + status, {}, b"\r\nContent-Type: application/json"
                 b"\r\nContent-Length: %d" % len(body))
    a.body, a.status = body, int(status[:3])
    return a


class _Client(asyncio.Protocol):
    """One client connection: each request on it is routed on its own, answered in order."""

    def __init__(self, route: _Route, key: str) -> None:
        self.route, self.key, self.reader = route, key, _Reader(answers=False)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at once
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # TCP: a Transport
        self.route.clients.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.route.clients.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.reader.buf += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        try:
            m = self.reader.next()
        except _BadMessage as exc:
            bad = _error_answer(b"400 Bad Request", "bad_request", str(exc),
                                "send HTTP/1.1 requests to this endpoint")
            self.transport.write(_client_answer(bad, 0, b"-", b"\r\nConnection: close"))
            self.transport.close()
            return
        if m is None:
            if (pending := self.reader.pending) is not None and pending.expect:
                pending.expect = False
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        self.busy = True
        self._route(m)

    def _route(self, m: _Message) -> None:
        route, split = self.route, self.route.split
        method, target, _ = m.first.split(b" ", 2)
        counted = target.split(b"?", 1)[0] not in _HEALTH  # probes: stable only, not counted
        variant = int(counted and split.weight > 0.0 and random.random() < split.weight)
        copy = counted and method == b"POST" and (split.compare if variant else split.mirror)
        given = m.fields.get(b"x-request-id", b"")
        request_id = given or b"%032x" % (random.getrandbits(128) & _UUID_KEEP | _UUID4)
        request = _upstream_request(m, method, target, b"" if given else request_id)
        t0 = time.perf_counter()

        def done(a: _Message | None, exc: Exception | None) -> None:
            if a is None:
                self._answer(_error_answer(
                    b"502 Bad Gateway", "bad_gateway", f"the {_NAMES[variant]} release of "
                    f"{self.key} did not answer: {exc}", "check that its serving process runs "
                    "(the deployment's logs); the router does not fail over"), variant,
                    request_id, m)
                if counted:
                    route.window.variants[variant].failed()
                return
            seconds = time.perf_counter() - t0
            self._answer(a, variant, request_id, m)
            if counted:  # measured once the answer is on its way
                value = route.window.variants[variant].answered(a.status, seconds, a.body)
                if value is not SKIP:
                    route.remember(request_id, variant, value)
                if copy:
                    route.copy(1 - variant, request, value, request_id)

        route.pools[variant].send(request, method == b"HEAD", done)

    def _answer(self, a: _Message, variant: int, request_id: bytes, m: _Message) -> None:
        if self.transport.is_closing():
            return
        connection = (b"\r\nConnection: close" if m.close else b"\r\nConnection: keep-alive"
                      if m.first.endswith(b"HTTP/1.0") else b"")
        self.transport.write(_client_answer(a, variant, request_id, connection))
        if m.close:
            self.transport.close()
        else:
            self.busy = False
            self._next()  # a pipelined request may be buffered already


class Router:
    """HTTP routers on loopback, one per deployment key, all on one event-loop thread."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def open(self, key: str, stable_port: int, candidate_port: int, split: Split) -> int:
        """Listen on a free 127.0.0.1 port for `key` and return it (a second open re-points
        the backends and split and returns the same port; the window goes on)."""
        return self._call(self._open(key, stable_port, candidate_port, split))

    def update(self, key: str, split: Split) -> None:
        self._route(key).split = split  # read once per request on the loop's thread

    def window(self, key: str) -> dict[str, Any]:
        """Measurements since the previous window() (or open), then reset."""
        return self._call(self._swap(key)).summary()

    def answers(self, key: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The predictions each variant answered to these requests (by X-Request-Id), for
        those still remembered: {request id: {"stable": [...], "candidate": [...]}}."""
        return self._call(self._answers(key, request_ids))

    def close(self, key: str) -> None:
        self._call(self._close(key))

    def close_all(self) -> None:
        for key in list(self._routes):
            self.close(key)

    def _route(self, key: str) -> _Route:
        if (route := self._routes.get(key)) is None:
            raise KeyError(f"no router is open for {key!r}: call open() first")
        return route

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever,
                                                name="gp-router", daemon=True)
                self._thread.start()
            loop = self._loop
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("Router methods wait on its event loop: call them from another "
                               "thread")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    async def _open(self, key: str, stable_port: int, candidate_port: int, split: Split) -> int:
        if (route := self._routes.get(key)) is not None:
            route.point(stable_port, candidate_port)
            route.split = split
            return route.port
        route = _Route(stable_port, candidate_port, split)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        route.port = int(sock.getsockname()[1])
        route.server = await asyncio.get_running_loop().create_server(
            lambda: _Client(route, key), sock=sock, backlog=512)
        self._routes[key] = route
        return route.port

    async def _swap(self, key: str) -> Window:
        route = self._route(key)
        old, route.window = route.window, Window()
        return old

    async def _answers(self, key: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        remembered = self._route(key).answers
        for request_id in request_ids:
            if (both := remembered.get(request_id.encode())) is None:
                continue
            found[request_id] = {name: predictions_of(value)
                                 for name, value in zip(_NAMES, both, strict=True)
                                 if value is not SKIP}
        return found

    async def _close(self, key: str) -> None:
        if (route := self._routes.pop(key, None)) is None:
            return
        assert route.server is not None
        route.server.close()  # the listening socket closes now: the port is free
        for transport in list(route.clients):
            transport.close()
        for pool in route.pools:
            pool.close()
