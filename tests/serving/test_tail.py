"""The request timeout keeps nothing of a request alive after its answer (the one-client tail),
and still answers 504 when the model is too slow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bentoml._internal.server.http.traffic import TimeoutMiddleware

from goldenpath_serving._tail import cancel_request_timers


def _app(delay: float = 0.0, fail: bool = False) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(delay)
        if fail:
            raise RuntimeError("the model raised")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
    return app


async def _call(middleware: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware({"type": "http", "path": "/predict", "method": "POST", "headers": []},
                     receive, send)
    return sent


def test_no_timer_outlives_its_request() -> None:
    assert cancel_request_timers()
    middleware = TimeoutMiddleware(_app(), timeout=60)

    async def many() -> int:
        for _ in range(200):
            assert (await _call(middleware))[0]["status"] == 200
        loop: Any = asyncio.get_running_loop()
        return sum(1 for handle in loop._scheduled if not handle.cancelled())

    assert asyncio.run(many()) == 0  # BentoML's own kept 200 requests alive for 60 s


def test_a_slow_model_still_gets_a_504() -> None:
    assert cancel_request_timers()
    sent = asyncio.run(_call(TimeoutMiddleware(_app(delay=5), timeout=0.05)))
    assert sent[0]["status"] == 504


def test_an_app_that_raises_before_answering_does_not_wait_for_the_timeout() -> None:
    assert cancel_request_timers()

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(RuntimeError, match="the model raised"):
            await _call(TimeoutMiddleware(_app(fail=True), timeout=30))
        return loop.time() - start

    assert asyncio.run(timed()) < 5
