"""When the promotion server is down, every answer says which URL and how to fix it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _platform import free_port
from traitlets.config import Config

URL = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def jp_server_config() -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"goldenpath_jupyter": True}},
        "GoldenpathJupyter": {"server": URL, "timeout": 5.0},
    })


async def test_config_says_unreachable_with_the_fix(jp_fetch: Any) -> None:
    body = json.loads((await jp_fetch("goldenpath", "config")).body)
    assert body["reachable"] is False
    assert body["server"] == URL
    assert URL in body["message"]
    assert "GOLDENPATH_SERVER" in body["hint"]


@pytest.mark.parametrize(("method", "parts", "body"), [
    ("GET", ["api", "services"], None),
    ("POST", ["predict", "iris", "dev"], '{"inputs": [[1, 2]]}'),
])
async def test_proxy_answers_502_with_a_hint(jp_fetch: Any, method: str, parts: list[str],
                                             body: str | None) -> None:
    r = await jp_fetch("goldenpath", *parts, method=method, body=body, raise_error=False)
    assert r.code == 502
    answer = json.loads(r.body)
    assert answer["code"] == "server_unreachable"
    assert URL in answer["message"]
    assert "goldenpath server" in answer["hint"]
