"""Per-request HTTP routing between two releases of a deployment, for progressive delivery:
canary (a share of requests answered by the candidate) and shadow (the candidate gets
copies; its answers are only measured and compared with the stable's).

Unlike a TCP relay this must see each request, so it speaks HTTP/1.1 (_framing.py). Every
key is served by one asyncio event loop on one daemon thread, with Protocols and callbacks
(no streams, no task per request: their futures and coroutine steps cost more than the
parse). What is measured of each answer lives in _metrics.py. Bodies are buffered whole: a
copy needs the request, a comparison both answers, and model requests and answers are small.
Each release may be several addresses (its pods, in a cluster): requests take them in turn,
and one that refuses the connection passes the request to the next.

Measurements are written on the loop's thread only; window() swaps the window there and
summarizes the old one in the caller's thread, so no request takes a lock.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from goldenpath_router._framing import (
    BadMessage,
    Message,
    Reader,
    client_answer,
    error_answer,
    upstream_request,
)
from goldenpath_router._metrics import SKIP, Window, predictions_of
from goldenpath_router._upstream import Address, Backend, Pool, addresses_of

__all__ = ["Address", "Admin", "Router", "Split"]

_T = TypeVar("_T")
_MAX_COPIES = 64  # background copies in flight per key; more are dropped, never queued
_COPY_TIMEOUT_S = 30.0  # a hung backend must not hold a copy's slot forever
_REMEMBERED = 100_000  # answers kept by request id, for outcomes sent later (ground truth)
_HEALTH = frozenset({b"/healthz", b"/readyz", b"/metrics"})
ADMIN_PREFIX = b"/-/router/"  # the in-cluster router's own endpoints (_pod.py), never passed on
NAMES = ("stable", "candidate")
_UUID4 = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
_UUID_KEEP = ((1 << 128) - 1) ^ (0xF000 << 64) ^ (0xC000 << 48)


@dataclass(frozen=True)
class Split:
    """How one deployment's requests are shared between its stable and candidate releases."""

    weight: float = 0.0  # share of requests answered by the candidate, drawn per request
    mirror: bool = False  # shadow: copy every stable-answered request to the candidate
    compare: bool = True  # copy every candidate-answered request to the stable and compare


# answers a request to ADMIN_PREFIX on the loop's thread (None: not an admin router)
Admin = Callable[["Route", bytes, bytes, Message], Message]


class Route:
    """One deployment key: its listener, backends, split, window and client connections."""

    def __init__(self, stable: list[Address], candidate: list[Address], split: Split,
                 admin: Admin | None) -> None:
        self.backends = (Backend([Pool(a) for a in stable]),
                         Backend([Pool(a) for a in candidate]))
        self.split, self.window, self.admin = split, Window(), admin
        self.server: asyncio.AbstractServer | None = None
        self.port = self.copies = 0
        self.version = 0  # of the split and addresses, as the in-cluster router was told
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

    def point(self, stable: list[Address], candidate: list[Address]) -> None:
        """New addresses; pools to addresses kept stay (their idle connections with them)."""
        old = self.backends
        known = {p.address: p for backend in old for p in backend.pools if not p.closed}
        self.backends = (Backend([known.get(a) or Pool(a) for a in stable]),
                         Backend([known.get(a) or Pool(a) for a in candidate]))
        kept = {id(p) for backend in self.backends for p in backend.pools}
        for pool in known.values():
            if id(pool) not in kept:
                pool.close()  # exchanges in flight finish; then their connections close

    def swap(self) -> Window:
        old, self.window = self.window, Window()
        return old

    def answered(self, request_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for request_id in request_ids:
            if (both := self.answers.get(request_id.encode())) is None:
                continue
            found[request_id] = {name: predictions_of(value)
                                 for name, value in zip(NAMES, both, strict=True)
                                 if value is not SKIP}
        return found

    def copy(self, to: int, request: bytes, answered: Any, request_id: bytes) -> None:
        """Send a request to the other release in the background and compare the answers."""
        if self.copies >= _MAX_COPIES:
            self.window.dropped += 1
            return
        self.copies += 1
        t0 = time.perf_counter()

        def done(a: Message | None, exc: Exception | None) -> None:
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

        self.backends[to].send(request, False, done, _COPY_TIMEOUT_S)


class _Client(asyncio.Protocol):
    """One client connection: each request on it is routed on its own, answered in order."""

    def __init__(self, route: Route, key: str) -> None:
        self.route, self.key, self.reader = route, key, Reader(answers=False)
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
        except BadMessage as exc:
            bad = error_answer(b"400 Bad Request", "bad_request", str(exc),
                                "send HTTP/1.1 requests to this endpoint")
            self.transport.write(client_answer(bad, 0, b"-", b"\r\nConnection: close"))
            self.transport.close()
            return
        if m is None:
            if (pending := self.reader.pending) is not None and pending.expect:
                pending.expect = False
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        self.busy = True
        self._route(m)

    def _route(self, m: Message) -> None:
        route, split = self.route, self.route.split
        method, target, _ = m.first.split(b" ", 2)
        if route.admin is not None and target.startswith(ADMIN_PREFIX):
            self._answer(route.admin(route, method, target, m), 0, b"-", m)
            return
        counted = target.split(b"?", 1)[0] not in _HEALTH  # probes: stable only, not counted
        variant = int(counted and split.weight > 0.0 and random.random() < split.weight)
        copy = counted and method == b"POST" and (split.compare if variant else split.mirror)
        given = m.fields.get(b"x-request-id", b"")
        request_id = given or b"%032x" % (random.getrandbits(128) & _UUID_KEEP | _UUID4)
        request = upstream_request(m, method, target, b"" if given else request_id)
        t0 = time.perf_counter()

        def done(a: Message | None, exc: Exception | None) -> None:
            if a is None:
                self._answer(error_answer(
                    b"502 Bad Gateway", "bad_gateway", f"the {NAMES[variant]} release of "
                    f"{self.key} did not answer: {exc}", "check that its serving process runs "
                    "(the deployment's logs)"), variant,
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

        route.backends[variant].send(request, method == b"HEAD", done)

    def _answer(self, a: Message, variant: int, request_id: bytes, m: Message) -> None:
        if self.transport.is_closing():
            return
        connection = (b"\r\nConnection: close" if m.close else b"\r\nConnection: keep-alive"
                      if m.first.endswith(b"HTTP/1.0") else b"")
        self.transport.write(client_answer(a, variant, request_id, connection))
        if m.close:
            self.transport.close()
        else:
            self.busy = False
            self._next()  # a pipelined request may be buffered already


class Router:
    """HTTP routers, one per deployment key, all on one event-loop thread."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def open(self, key: str, stable: int | Sequence[Address], candidate: int | Sequence[Address],
             split: Split, *, host: str = "127.0.0.1", port: int = 0,
             admin: Admin | None = None) -> int:
        """Listen for `key` (by default on a free 127.0.0.1 port) and return the port; each
        release is a loopback port or a list of (host, port). A second open re-points the
        backends and split and returns the same port; the window goes on."""
        return self._call(self._open(key, addresses_of(stable), addresses_of(candidate), split,
                                     (host, port), admin))

    def update(self, key: str, split: Split) -> None:
        self._route(key).split = split  # read once per request on the loop's thread

    def window(self, key: str) -> dict[str, Any]:
        """Measurements since the previous window() (or open), then reset."""
        return self.apply(key, Route.swap).summary()

    def answers(self, key: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The predictions each variant answered to these requests (by X-Request-Id), for
        those still remembered: {request id: {"stable": [...], "candidate": [...]}}."""
        return self.apply(key, lambda route: route.answered(request_ids))

    def apply(self, key: str, do: Callable[[Route], _T]) -> _T:
        """do(the route of `key`) on the loop's thread, where its state may be changed."""
        return self._call(self._on_loop(key, do))

    def close(self, key: str) -> None:
        self._call(self._close(key))

    def close_all(self) -> None:
        for key in list(self._routes):
            self.close(key)

    def _route(self, key: str) -> Route:
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

    async def _open(self, key: str, stable: list[Address], candidate: list[Address],
                    split: Split, bind: Address, admin: Admin | None) -> int:
        if (route := self._routes.get(key)) is not None:
            route.point(stable, candidate)
            route.split = split
            return route.port
        route = Route(stable, candidate, split, admin)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(bind)
        route.port = int(sock.getsockname()[1])
        route.server = await asyncio.get_running_loop().create_server(
            lambda: _Client(route, key), sock=sock, backlog=512)
        self._routes[key] = route
        return route.port

    async def _on_loop(self, key: str, do: Callable[[Route], _T]) -> _T:
        return do(self._route(key))

    async def _close(self, key: str) -> None:
        if (route := self._routes.pop(key, None)) is None:
            return
        assert route.server is not None
        route.server.close()  # the listening socket closes now: the port is free
        for transport in list(route.clients):
            transport.close()
        for backend in route.backends:
            backend.close()
