"""Routes for following the platform: the server-sent event stream and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from goldenpath_api import rules
from goldenpath_server._notify import sse_frame
from goldenpath_server._platform import Platform
from goldenpath_server.api._contract import (
    EventStreamResponse,
    PrometheusResponse,
    ServiceFilter,
    content,
    errors,
)
from goldenpath_server.api._deps import PlatformDep, Viewer

router = APIRouter()


@router.get("/api/v1/events/stream", response_class=EventStreamResponse,
            responses={200: content("text/event-stream", "server-sent events: `id` is the "
                                    "event's seq, `event` its type, `data` the Event as JSON"),
                       **errors(400, 401, 403)})
async def stream(request: Request, platform: PlatformDep, _: Viewer,
                 service: ServiceFilter = None,
                 after: Annotated[int | None, Query(ge=0, le=rules.MAX_INT)] = None
                 ) -> StreamingResponse:
    """Every state change as a server-sent event (id = audit sequence; resume with
    Last-Event-ID or ?after=; without either, from now on)."""
    last = request.headers.get("last-event-id", "")
    resumed = int(last) if last.isascii() and last.isdigit() else None
    cursor = after if after is not None else (
        resumed if resumed is not None and resumed <= rules.MAX_INT else None)
    if cursor is None:
        cursor = await run_in_threadpool(platform.oversight.head_seq)

    async def frames(cursor: int) -> AsyncIterator[str]:
        yield ": goldenpath event stream\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            events = await run_in_threadpool(platform.oversight.events_since, cursor, 200, service)
            for event in events:
                cursor = event["seq"]
                yield sse_frame(event)
            if events:
                idle = 0.0
                continue
            idle += await _until_commit(platform, 0.5)
            if idle >= 15:  # keep proxies from closing a quiet stream
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(frames(cursor), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _until_commit(platform: Platform, longest: float) -> float:
    """Sleep until this process commits a write (checked every 20 ms, no database read) or
    `longest` passes (writes of other server processes sharing the database); the time
    slept. A rollout's events reach the SDK's wait in ~20 ms, not up to half a second."""
    seen, slept = platform.store.commits, 0.0
    while slept < longest and platform.store.commits == seen:
        await asyncio.sleep(0.02)
        slept += 0.02
    return slept


@router.get("/metrics", response_class=PrometheusResponse,
            responses={200: content("text/plain", "Prometheus text exposition 0.0.4"),
                       **errors(401, 403)})
def metrics(platform: PlatformDep, _: Viewer) -> Response:
    """Prometheus exposition of the platform's own figures (scrape with a viewer token)."""
    return Response(platform.oversight.metrics(), media_type="text/plain; version=0.0.4")
