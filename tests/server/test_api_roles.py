"""Every route of the HTTP API, called by every kind of caller: the role x endpoint matrix.

The route list comes from the application itself, so a new route without an entry here
fails this test until someone decides who may call it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette asks for `httpx2`; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from goldenpath_server import Platform, create_app
from goldenpath_server._access import Principal
from tests.server.conftest import GOVERNED_CONFIG, make_platform, wait_until

ADMIN_TOKEN = "bootstrap-admin-token"
IMAGE = "registry.example/matrix@sha256:" + "d" * 64
# Callers from least to most powerful for team "shop"; each route names the least one
# allowed, so every caller before it must be refused (401 without a token, 403 with one).
LADDER = ("anonymous", "outsider", "viewer", "submitter", "approver", "team_admin", "admin")
ROLES = {"outsider": ("other", "viewer"), "viewer": ("shop", "viewer"),
         "submitter": ("shop", "submitter"), "approver": ("shop", "approver"),
         "team_admin": ("shop", "admin")}
ENV = {"environment": "dev"}
MATRIX: dict[tuple[str, str], tuple[str, Any]] = {
    ("GET", "/healthz"): ("anonymous", None),
    ("GET", "/api/v1/bundles/{digest}"): ("anonymous", None),  # the digest is the capability
    ("GET", "/api/v1/me"): ("outsider", None),
    ("GET", "/api/v1/services"): ("outsider", None),
    ("GET", "/api/v1/services/{name}"): ("outsider", None),
    ("GET", "/api/v1/releases/{release_id}"): ("outsider", None),
    ("GET", "/api/v1/services/{name}/environments/{environment}"): ("outsider", None),
    ("GET", "/api/v1/services/{name}/environments/{environment}/logs"): ("outsider", None),
    ("GET", "/api/v1/events"): ("outsider", None),
    ("GET", "/api/v1/environments"): ("outsider", None),
    ("GET", "/api/v1/promotions"): ("outsider", None),
    ("GET", "/api/v1/promotions/{promotion_id}"): ("outsider", None),
    ("GET", "/api/v1/releases/{release_id}/policies"): ("outsider", None),
    ("GET", "/api/v1/releases/{release_id}/evidence"): ("outsider", None),
    ("GET", "/api/v1/inventory"): ("outsider", None),
    ("GET", "/api/v1/inventory.csv"): ("outsider", None),
    ("GET", "/api/v1/audit/verify"): ("outsider", None),
    ("GET", "/api/v1/events/stream"): ("outsider", None),
    ("GET", "/metrics"): ("outsider", None),
    ("GET", "/api/v1/figures"): ("outsider", None),
    ("GET", "/api/v1/services/{name}/environments/{environment}/drift"): ("outsider", None),
    ("GET", "/api/v1/services/{name}/environments/{environment}/drift/report"): ("outsider",
                                                                                None),
    ("POST", "/api/v1/services/{name}/releases"): ("submitter", b"not a bundle"),
    ("POST", "/api/v1/services/{name}/app-releases"): ("submitter", {"image": IMAGE}),
    ("POST", "/api/v1/releases/{release_id}/promotions"): ("submitter", ENV),
    ("POST", "/api/v1/releases/{release_id}/deployments"): ("submitter", ENV),
    ("POST", "/api/v1/releases/{release_id}/evidence"): ("submitter", {"review": "x"}),
    ("POST", "/api/v1/services/{name}/environments/{environment}/rollback"): ("submitter",
                                                                             None),
    ("GET", "/api/v1/services/{name}/environments/{environment}/rollouts"): ("outsider", None),
    ("GET", "/api/v1/services/{name}/environments/{environment}/rollout"): ("outsider", None),
    # the roles that roll back there may pause, resume, promote or abort a progression
    ("POST", "/api/v1/services/{name}/environments/{environment}/rollout/{action}"): (
        "submitter", {"comment": "matrix"}),
    ("POST", "/api/v1/services/{name}/environments/{environment}/outcomes"): (
        "submitter", {"outcomes": [{"request_id": "r1", "value": 1}]}),
    ("PUT", "/api/v1/services/{name}/team"): ("admin", {"team": "shop"}),
    ("DELETE", "/api/v1/services/{name}/environments/{environment}"): ("submitter", None),
    ("POST", "/api/v1/releases/{release_id}/approvals"): ("approver",
                                                          {"environment": "prod"}),
    ("GET", "/api/v1/users"): ("admin", None),
    ("PUT", "/api/v1/users/{user}/roles"): ("admin", {"team": "shop", "role": "viewer"}),
    ("DELETE", "/api/v1/users/{user}/roles/{team}"): ("admin", None),
    ("POST", "/api/v1/users/{user}/tokens"): ("admin", {"name": "ci"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): ("admin", None),
}


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Platform, dict[str, str]]]:
    config = tmp_path / "goldenpath.yaml"
    config.write_text(GOVERNED_CONFIG)
    platform = make_platform(tmp_path, config=config, token=ADMIN_TOKEN)
    tokens = {"admin": ADMIN_TOKEN}
    for caller, (team, role) in ROLES.items():
        platform.accounts.grant(caller, team, role, actor="setup")
        tokens[caller] = platform.accounts.create_token(caller, actor="setup")["token"]
    with TestClient(create_app(platform.settings, platform=platform)) as client:
        yield client, platform, tokens


def _fresh_state(platform: Platform, n: int) -> dict[str, str]:
    """A service of team shop, two releases live one after the other in dev, the second
    waiting for approval in prod (submitted by alice, who is not in the matrix)."""
    alice = Principal("alice", {"shop": "submitter"})
    name = f"matrix-{n}"
    releases = []
    for _ in range(2):
        release = platform.releases.create_app_release(name, IMAGE, 80, actor=alice, team="shop",
                                              resources={"cpu": 1, "memory_gb": 1})
        platform.promotions.attach_evidence(release["id"], {"test_report": "r", "review": "r"},
                                 actor=alice)
        platform.promotions.promote(release["id"], "dev", actor=alice)
        wait_until(lambda r=release: platform.rollouts.status(name, "dev")["release_id"] == r["id"]
                   and platform.rollouts.status(name, "dev")["status"] == "live")
        releases.append(release)
    waiting = platform.promotions.promote(releases[1]["id"], "prod", actor=alice)
    platform.accounts.grant(f"zed-{n}", "shop", "viewer", actor="setup")
    token = platform.accounts.create_token(f"zed-{n}", actor="setup")
    return {"name": name, "environment": "dev", "release_id": releases[1]["id"],
            "digest": releases[0]["digest"], "promotion_id": waiting["id"],
            "user": f"zed-{n}", "team": "shop", "token_id": token["id"], "action": "pause"}


def test_the_matrix_covers_every_route(api: tuple[TestClient, Platform, dict[str, str]]
                                       ) -> None:
    client, _, _ = api
    routes = {(method.upper(), path) for path, item in client.app.openapi()["paths"].items()
              for method in item}
    assert routes == set(MATRIX)


def test_every_route_refuses_every_caller_below_its_role(
        api: tuple[TestClient, Platform, dict[str, str]]) -> None:
    client, platform, tokens = api
    refused: list[str] = []
    for n, ((method, template), (least, body)) in enumerate(sorted(MATRIX.items())):
        path = template.format(**_fresh_state(platform, n))
        for caller in LADDER:
            headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller in tokens else {}
            kwargs: dict[str, Any] = ({"content": body} if isinstance(body, bytes)
                                      else {"json": body} if body is not None else {})
            with client.stream(method, path, headers=headers, **kwargs) as response:
                status = response.status_code  # streamed: the event stream never ends
            allowed = LADDER.index(caller) >= LADDER.index(least)
            expected = "allowed" if allowed else 401 if caller == "anonymous" else 403
            got = "allowed" if status not in (401, 403) else status
            if got != expected:
                refused.append(f"{method} {template} as {caller}: {status}, "
                               f"expected {expected}")
    assert not refused, "\n".join(refused)


def test_mutations_with_a_token_are_audited(
        api: tuple[TestClient, Platform, dict[str, str]]) -> None:
    client, platform, tokens = api
    state = _fresh_state(platform, 99)
    response = client.post(f"/api/v1/releases/{state['release_id']}/evidence",
                           json={"review": "https://review/1"},
                           headers={"Authorization": f"Bearer {tokens['submitter']}"})
    assert response.status_code == 200
    used = [e for e in platform.oversight.events(limit=1000) if e["type"] == "token_used"]
    assert used[-1]["actor"] == "submitter"
    assert used[-1]["data"]["action"].endswith(f"/releases/{state['release_id']}/evidence")


def test_tokens_are_stored_hashed_and_can_be_revoked(
        api: tuple[TestClient, Platform, dict[str, str]]) -> None:
    client, platform, tokens = api
    with platform.store.engine.connect() as connection:
        dump = "\n".join(str(row) for row in connection.exec_driver_sql(
            "SELECT * FROM api_tokens"))
    assert tokens["viewer"] not in dump
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert me.json()["roles"] == {"shop": "viewer"}
    client.delete(f"/api/v1/tokens/{me.json()['token_id']}",
                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    again = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert again.status_code == 401 and again.json()["code"] == "unauthenticated"
    assert "goldenpath tokens create" in again.json()["hint"]


def test_without_an_admin_token_the_local_user_is_admin(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    with TestClient(create_app(platform.settings, platform=platform)) as client:
        me = client.get("/api/v1/me").json()
        assert me == {"user": "local-user", "roles": {"*": "admin"}, "token_id": None,
                      "token_kind": None, "delegated_by": None}
        assert client.post("/api/v1/services/solo/app-releases",
                           json={"image": IMAGE}).status_code == 201
