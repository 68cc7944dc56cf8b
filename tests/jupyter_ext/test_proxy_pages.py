"""The panel reads every service in one answer: the proxy follows the server's pages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from goldenpath_jupyter._proxy import Answer, PromotionServer

SERVICES = [{"name": f"svc-{n}", "deployments": []} for n in range(5)]


class PagedServer(PromotionServer):
    """Answers GET services two at a time, as the promotion server pages them."""

    def __init__(self) -> None:
        self.asked: list[dict[str, str]] = []

    async def api(self, method: str, path: str, query: dict[str, str] | None = None,
                  body: bytes | None = None, user: str = "") -> Answer:
        query = dict(query or {})
        self.asked.append(query)
        start = int(query.get("after", "0"))
        end = start + 2
        page = {"services": SERVICES[start:end],
                "next": str(end) if end < len(SERVICES) else None}
        return Answer(200, json.dumps(page).encode())


def test_whole_follows_every_page_into_one_answer() -> None:
    server = PagedServer()
    answer = asyncio.run(server.whole("services", "services", {}))
    body: Any = answer.json()
    assert answer.status == 200 and body == {"services": SERVICES, "next": None}
    assert [q.get("after") for q in server.asked] == [None, "2", "4"]


def test_whole_passes_an_error_on() -> None:
    class Failing(PagedServer):
        async def api(self, *args: Any, **kwargs: Any) -> Answer:
            return Answer(403, b'{"code": "forbidden"}')

    answer = asyncio.run(Failing().whole("services", "services"))
    assert answer.status == 403
