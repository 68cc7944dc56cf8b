"""Listings over HTTP: cursor pages that return every row once, ETags, 304s, and a cache that
sees every write (this process's and another's), on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

with warnings.catch_warnings():  # starlette asks for `httpx2`; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from goldenpath_server import Platform, create_app
from goldenpath_server._db import DeploymentRow, utcnow
from goldenpath_server.api._listing import ListingCache, decode_cursor, encode_cursor
from tests.server.conftest import make_platform, wait_until

IMAGE = "registry.example/list@sha256:" + "c" * 64
# service -> where it runs: pages of 2 and 3 end between two deployments of one service
FLEET = {"ant": ("dev", "staging"), "bee": ("dev",), "cat": ("dev", "staging", "prod"),
         "dog": ("staging",), "eel": (), "fox": ("dev", "prod"), "gnu": ("dev",)}


def _deploy(platform: Platform, service: str, environments: tuple[str, ...]) -> None:
    release = platform.releases.create_app_release(service, IMAGE, 80, actor="ci", team="zoo")
    for env in environments:
        platform.promotions.promote(release["id"], env, actor="ci")
        wait_until(lambda e=env: platform.rollouts.status(service, e)["status"] == "live")


@pytest.fixture()
def fleet(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Platform]]:
    platform = make_platform(tmp_path, database_url)
    for service, environments in FLEET.items():
        _deploy(platform, service, environments)
    with TestClient(create_app(platform.settings, platform=platform)) as client:
        # the app's start-up re-adopts every live deployment: let it finish writing
        live = 2 * sum(len(envs) for envs in FLEET.values())
        wait_until(lambda: sum(e["type"] == "rollout_succeeded"
                               for e in platform.oversight.events(limit=1000)) == live)
        yield client, platform
    platform.close()


def _walk(client: TestClient, path: str, key: str, **params: Any) -> list[list[Any]]:
    pages, after = [], None
    while len(pages) < 50:  # a cursor that does not advance must fail, not hang
        response = client.get(path, params={**params, **({"after": after} if after else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body[key])
        after = body["next"]
        if after is None:
            return pages
    raise AssertionError(f"the pages never end: {pages[-3:]}")


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_inventory_pages_return_every_deployment_once_in_order(
        fleet: tuple[TestClient, Platform], limit: int) -> None:
    client, platform = fleet
    pages = _walk(client, "/api/v1/inventory", "inventory", limit=limit)
    walked = [(i["environment"], i["service"]) for page in pages for i in page]
    everything = [(env, s) for s, envs in FLEET.items() for env in envs]
    assert walked == sorted(everything)  # each once, ordered by (environment, service)
    assert all(len(page) == limit for page in pages[:-1]) and 0 < len(pages[-1]) <= limit
    assert [i for page in pages for i in page] == platform.oversight.inventory()


def test_inventory_pages_of_one_environment(fleet: tuple[TestClient, Platform]) -> None:
    client, _ = fleet
    pages = _walk(client, "/api/v1/inventory", "inventory", limit=2, environment="dev")
    assert [i["service"] for page in pages for i in page] == ["ant", "bee", "cat", "fox", "gnu"]


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_service_pages_return_every_service_once_with_its_deployments(
        fleet: tuple[TestClient, Platform], limit: int) -> None:
    client, platform = fleet
    pages = _walk(client, "/api/v1/services", "services", limit=limit)
    services = [s for page in pages for s in page]
    assert [s["name"] for s in services] == sorted(FLEET)
    assert {s["name"]: sorted(d["environment"] for d in s["deployments"])
            for s in services} == {s: sorted(envs) for s, envs in FLEET.items()}
    assert services == platform.releases.list_services()


def test_the_default_page_and_the_biggest(fleet: tuple[TestClient, Platform]) -> None:
    client, _ = fleet
    body = client.get("/api/v1/services").json()
    assert len(body["services"]) == len(FLEET) and body["next"] is None
    assert client.get("/api/v1/services", params={"limit": 10**6}).json() == body


def test_a_cursor_from_elsewhere_is_refused_with_a_hint(
        fleet: tuple[TestClient, Platform]) -> None:
    client, _ = fleet
    for path, cursor in (("/api/v1/services", "not-a-cursor"),
                         ("/api/v1/inventory", encode_cursor(("ant",)))):
        response = client.get(path, params={"after": cursor})
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_input" and "next" in response.json()["hint"]


def test_cursors_round_trip() -> None:
    key = ("staging", "svc-ü-1")
    cursor = encode_cursor(key)
    assert cursor is not None and "=" not in cursor
    assert decode_cursor(cursor, 2) == key and decode_cursor(None, 2) is None


@pytest.mark.parametrize("path", ["/api/v1/inventory", "/api/v1/services",
                                  "/api/v1/inventory.csv"])
def test_unchanged_listing_answers_304_until_a_promotion(
        fleet: tuple[TestClient, Platform], path: str) -> None:
    client, platform = fleet
    first = client.get(path)
    etag = first.headers["etag"]
    again = client.get(path)
    assert again.content == first.content and again.headers["etag"] == etag
    unchanged = client.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    _deploy(platform, "hen", ("dev",))  # a new service goes live: new events

    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert b"hen" in changed.content and b"hen" not in first.content


def test_the_cache_sees_another_server_process_write(database_url: str, tmp_path: Path,
                                                     fleet: tuple[TestClient, Platform]) -> None:
    """Two servers on one database: what one writes, the other's cached listing shows."""
    client, platform = fleet
    before = client.get("/api/v1/services").json()
    # its own memory and lock
    other = Platform(platform.settings, targets=platform.environments.targets)
    try:
        other.start()
        _deploy(other, "owl", ("dev",))
    finally:
        other.close()
    after = client.get("/api/v1/services").json()
    assert "owl" not in [s["name"] for s in before["services"]]
    assert "owl" in [s["name"] for s in after["services"]]


def test_a_deployment_update_without_an_event_still_changes_the_listing(
        fleet: tuple[TestClient, Platform]) -> None:
    """The monitor's restart claim bumps updated_at and writes no event."""
    client, platform = fleet
    etag = client.get("/api/v1/services").headers["etag"]
    claimed_at = utcnow() + timedelta(hours=1)
    with platform.store.engine.begin() as db:
        db.execute(update(DeploymentRow).where(DeploymentRow.environment == "prod")
                   .values(updated_at=claimed_at))
    response = client.get("/api/v1/services", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert claimed_at.isoformat()[:19] in response.text


def test_without_a_cache_etags_and_304_still_work(fleet: tuple[TestClient, Platform]) -> None:
    client, _ = fleet
    client.app.state.listing_cache = ListingCache(max_bytes=0)  # type: ignore[attr-defined]
    etag = client.get("/api/v1/inventory").headers["etag"]
    assert client.get("/api/v1/inventory", headers={"If-None-Match": etag}).status_code == 304


def test_the_cache_keeps_within_its_byte_budget() -> None:
    from goldenpath_server.api._listing import Cached

    cache = ListingCache(max_bytes=10)
    for n in range(5):
        cache.put(("k", n), "m1", Cached(b"1234", f'"{n}"', "application/json"))
    assert cache.get(("k", 0), "m1") is None and cache.get(("k", 4), "m1") is not None
    assert cache.get(("k", 4), "m2") is None  # another marker: the platform changed
    assert sum(cache.get(("k", n), "m1") is not None for n in range(5)) == 2
