"""Listings (inventory, services): keyset pages behind opaque cursors, and conditional GETs.

A page is `?limit=N&after=CURSOR`; the response names the next page's cursor in `next`
(null on the last page). Serialized responses are cached per (route, parameters), valid while
the platform's change marker stays the same, and carry an ETag (a hash of the bytes): a client
sending it back in If-None-Match gets 304 and no body."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from goldenpath_api.errors import InvalidInput
from goldenpath_server._platform import Platform
from goldenpath_server.api._reads import store_read

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


def page_size(limit: int) -> int:
    """Asking for more than MAX_LIMIT gets MAX_LIMIT: the client follows `next` for more."""
    return max(1, min(limit, MAX_LIMIT))


def encode_cursor(key: tuple[str, ...] | None) -> str | None:
    if key is None:
        return None
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> tuple[str, ...] | None:
    """The sort key a cursor stands for; InvalidInput when it is not one of ours."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        key = None
    if not (isinstance(key, list) and len(key) == size and all(isinstance(k, str) for k in key)):
        raise InvalidInput(f"after={cursor!r} is not a cursor of this listing",
                           "pass the `next` value of the previous page, or leave `after` out "
                           "to start from the first page")
    return tuple(key)


def json_bytes(payload: Any) -> bytes:
    """What JSONResponse would send, without FastAPI's per-value encoding pass."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


@dataclass(frozen=True)
class Cached:
    body: bytes
    etag: str
    media_type: str


class ListingCache:
    """Serialized listings, least recently used first out, within `max_bytes` in all
    (0 turns caching off; ETags and 304s still work). Used from the event loop only."""

    def __init__(self, max_bytes: int = 32 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Any, ...], tuple[str, Cached]] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[Any, ...], marker: str) -> Cached | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] != marker:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: tuple[Any, ...], marker: str, value: Cached) -> None:
        if len(value.body) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1].body)
        self._entries[key] = (marker, value)
        self._bytes += len(value.body)
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= len(dropped.body)


Fetch = Callable[[int, tuple[str, ...] | None], tuple[list[Any], tuple[str, ...] | None]]


async def page(request: Request, platform: Platform, cache: ListingCache, name: str,
               limit: int, after: str | None, key_size: int, fetch: Fetch,
               *scope: str | None) -> Response:
    """`{name: [items], "next": cursor}`: the page `fetch(size, after_key)` returns, for
    the caller's `limit` and `after` cursor (its sort key has `key_size` parts), cached per
    `scope` (the listing's filters)."""
    size, position = page_size(limit), decode_cursor(after, key_size)

    def build() -> bytes:
        items, next_key = fetch(size, position)
        return json_bytes({name: items, "next": encode_cursor(next_key)})

    return await conditional(request, platform, cache, (name, *scope, size, position), build)


async def conditional(request: Request, platform: Platform, cache: ListingCache,
                      key: tuple[Any, ...], build: Callable[[], bytes],
                      media_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> Response:
    """The listing `build` makes, from the cache while nothing changed, or 304 when the
    client's If-None-Match names it. Building (the heavy part) runs in the thread pool."""
    marker = await store_read(platform.oversight.change_marker)
    cached = cache.get(key, marker)
    if cached is None:
        body = await run_in_threadpool(build)
        cached = Cached(body, f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"',
                        media_type)
        cache.put(key, marker, cached)
    sent = {**(headers or {}), "ETag": cached.etag, "Cache-Control": "private, no-cache"}
    if _matches(request.headers.get("if-none-match", ""), cached.etag):
        return Response(status_code=304, headers=sent)
    return Response(cached.body, media_type=cached.media_type, headers=sent)


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison against a list of entity tags (or `*`)."""
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags
