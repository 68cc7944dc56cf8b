"""The one-client tail: what made every BentoML worker stall for 100-250 ms every few seconds.

BentoML's request timeout (`traffic.timeout`, 60 s by default) arms a timer per request with
`loop.call_later` and never cancels it. Each timer keeps its request alive (the ASGI scope,
closures, futures, contexts) for the full 60 s after the answer was sent: at a few hundred
requests a second that is 100k+ objects, and every full garbage collection walks all of them
while a request waits (measured with gc.callbacks: gen-2 pauses of 75-180 ms and growing; see
docs/benchmarks.md). The same timeout, with its timer cancelled once the request is done,
keeps nothing alive after the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any


def cancel_request_timers() -> bool:
    """Make BentoML's TimeoutMiddleware cancel its timer when a request ends (same timeout,
    same 504). False (nothing changed) on a BentoML without that middleware."""
    try:
        from bentoml._internal.server.http import traffic
    except ImportError:
        return False
    middleware = getattr(traffic, "TimeoutMiddleware", None)
    if middleware is None:
        return False
    if getattr(middleware, "_goldenpath_cancels_timers", False):
        return True
    middleware.__call__ = _call_with_timeout
    middleware._goldenpath_cancels_timers = True
    return True


async def _call_with_timeout(self: Any, scope: Any, receive: Any, send: Any) -> None:
    """Run the app; answer 504 if it has not started its response within `self.timeout`."""
    if scope["type"] not in ("http", "websocket"):
        await self.app(scope, receive, send)
        return
    from starlette.responses import JSONResponse

    loop = asyncio.get_running_loop()
    started: asyncio.Future[None] = loop.create_future()

    def expire() -> None:
        if not started.done():
            started.set_exception(TimeoutError())

    async def send_and_mark(message: Any) -> None:
        if not started.done():
            started.set_result(None)
        await send(message)

    timer = loop.call_later(self.timeout, expire)
    task = asyncio.ensure_future(self.app(scope, receive, send_and_mark))
    task.add_done_callback(lambda _: None if started.done() else started.set_result(None))
    try:
        await started
    except TimeoutError:
        if task.cancel():
            await JSONResponse({"error": f"Not able to process the request in {self.timeout} "
                                         "seconds"}, status_code=504)(scope, receive, send)
        return
    finally:
        timer.cancel()  # the point: nothing of this request outlives it
    await task
