"""The panel's live updates: /goldenpath/api/events/stream passes the promotion server's event
stream on as it comes (text/event-stream, nothing buffered), resuming where the browser left
off (`after`, or the Last-Event-ID header EventSource sends when it reconnects)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from _platform import Platform
from tornado.httpclient import HTTPClientError

from goldenpath_jupyter._proxy import UnnamedEvents


async def read_stream(jp_fetch: Any, enough: Callable[[list[dict[str, Any]]], bool],
                      params: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None,
                      once_open: Callable[[], Awaitable[Any]] | None = None,
                      timeout: float = 60) -> tuple[list[dict[str, Any]], list[str]]:
    """The events (and response header lines) read until `enough(events)`; fails when the
    stream ends or `timeout` passes first. `once_open` runs as soon as the stream is open."""
    events: list[dict[str, Any]] = []
    header_lines: list[str] = []
    buffer = b""
    opened = asyncio.Event()
    read_enough = False

    def on_body(chunk: bytes) -> None:
        nonlocal buffer, read_enough
        opened.set()
        buffer += chunk
        *frames, buffer = buffer.split(b"\n\n")
        for frame in frames:
            fields = dict(line.split(": ", 1) for line in frame.decode().splitlines()
                          if not line.startswith(":"))
            if "data" in fields:
                event = json.loads(fields["data"])
                assert fields["id"] == str(event["seq"]) and event["type"]
                assert "event" not in fields  # unnamed: EventSource's onmessage gets them all
                events.append(event)
        if enough(events):
            read_enough = True
            raise OSError("read enough")  # the client hangs up, as a closed panel does

    fetch = asyncio.ensure_future(jp_fetch(
        "goldenpath", "api", "events", "stream", params=params, headers=headers,
        streaming_callback=on_body, header_callback=header_lines.append,
        request_timeout=timeout))
    if once_open is not None:
        await asyncio.wait_for(opened.wait(), timeout)
        await once_open()
    try:
        await fetch
    except (OSError, HTTPClientError):
        if read_enough:
            return events, header_lines
        raise
    raise AssertionError(f"the stream ended before the test read enough: {events}")


async def test_replays_from_after_as_an_event_stream(jp_fetch: Any) -> None:
    events, header_lines = await read_stream(jp_fetch, lambda e: len(e) >= 2,
                                             params={"service": "iris", "after": "0"})
    assert any(h.lower().startswith("content-type: text/event-stream") for h in header_lines)
    assert {e["service"] for e in events} == {"iris"}
    assert events[0]["seq"] < events[1]["seq"]


async def test_resumes_after_the_last_event_id(jp_fetch: Any) -> None:
    first, _ = await read_stream(jp_fetch, lambda e: len(e) >= 2,
                                 params={"service": "iris", "after": "0"})
    resumed, _ = await read_stream(jp_fetch, lambda e: len(e) >= 1, params={"service": "iris"},
                                   headers={"Last-Event-ID": str(first[0]["seq"])})
    assert resumed[0]["seq"] == first[1]["seq"]


async def test_an_event_arrives_while_the_stream_stays_open(jp_fetch: Any,
                                                            platform: Platform) -> None:
    """Opened without a cursor the stream starts from now: an event the server records later
    arrives through the proxy while the response is still open (it is never buffered)."""
    asked: list[dict[str, Any]] = []

    async def ask() -> None:
        asked.append(await asyncio.to_thread(platform.request_promotion, "iris", "dev", "prod",
                                             "bob"))

    def bob_asked(events: list[dict[str, Any]]) -> bool:
        # the event may arrive before the request that caused it has returned: until then
        # its release id is not known here, but its environment and asker are
        return any((not asked or e["release_id"] == asked[0]["release_id"])
                   and e["environment"] == "prod" and "bob" in e["message"] for e in events)

    try:
        events, _ = await read_stream(jp_fetch, bob_asked, params={"service": "iris"},
                                      once_open=ask)
        assert all(e["service"] == "iris" for e in events)
    finally:
        if asked and asked[0]["status"] == "waiting_for_approval":  # ada turns it down
            await jp_fetch("goldenpath", "api", "releases", asked[0]["release_id"], "approvals",
                           method="POST", body=json.dumps({"environment": "prod",
                                                           "decision": "reject"}))


async def test_a_refused_stream_comes_back_as_json(jp_fetch: Any) -> None:
    r = await jp_fetch("goldenpath", "api", "events", "stream", params={"after": "soon"},
                       raise_error=False)
    assert r.code == 400  # the server's own answer, passed on: what was wrong and where
    assert r.headers["Content-Type"].startswith("application/json")
    body = json.loads(r.body)
    assert body["code"] and "after" in json.dumps(body)


async def test_the_stream_requires_jupyter_auth(jp_fetch: Any) -> None:
    r = await jp_fetch("goldenpath", "api", "events", "stream", raise_error=False,
                       headers={"Authorization": "token not-the-jupyter-token"},
                       follow_redirects=False)
    assert r.code in (302, 403), r.code


def test_event_lines_are_dropped_even_across_chunk_boundaries() -> None:
    relay = UnnamedEvents()
    frame = b'id: 7\nevent: rollout_progress\ndata: {"seq": 7}\n\n'
    out = b"".join(relay.feed(frame[i:i + 5]) for i in range(0, len(frame), 5))
    assert out == b'id: 7\ndata: {"seq": 7}\n\n'
    assert relay.feed(b": keep-alive\n\n") == b": keep-alive\n\n"  # comments pass at once
