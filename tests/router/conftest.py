"""Fixtures of the router tests: backends started per test, a router closed after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from goldenpath_router import Router
from tests.router._backends import Backend, Predict, labels


@pytest.fixture()
def backends() -> Iterator[Callable[..., Backend]]:
    started: list[Backend] = []

    def start(predict: Predict = labels, **kw: Any) -> Backend:
        started.append(Backend(predict, **kw))
        return started[-1]

    yield start
    for b in started:
        b.stop()


@pytest.fixture()
def router() -> Iterator[Router]:
    r = Router()
    yield r
    r.close_all()
