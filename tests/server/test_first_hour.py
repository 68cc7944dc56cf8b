"""The lifecycle edges a newcomer meets in the first hour (SQLite and PostgreSQL)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from goldenpath import errors
from goldenpath_server import Platform, create_app
from goldenpath_server._access import Principal
from tests.server.conftest import wait_until

IMAGE = "registry.example/edges@sha256:" + "a" * 64
ALICE = Principal("alice", {"shop": "submitter"})
BOB = Principal("bob", {"shop": "approver"})


def _live_versions(platform: Platform, service: str, n: int, env: str = "dev") -> list[dict]:
    releases = []
    for _ in range(n):
        release = platform.releases.create_app_release(service, IMAGE, 80, actor=ALICE, team="shop")
        platform.promotions.promote(release["id"], env, actor=ALICE)
        wait_until(lambda r=release: platform.rollouts.status(service, env)["release_id"] == r["id"]
                   and platform.rollouts.status(service, env)["status"] == "live")
        releases.append(release)
    return releases


def _rollback(platform: Platform, service: str, **kwargs: Any) -> int:
    started = platform.rollouts.rollback(service, "dev", actor=ALICE, **kwargs)
    wait_until(lambda: platform.rollouts.status(service, "dev")["status"] == "live"
               and platform.rollouts.status(service, "dev")["release_id"] == started["release_id"])
    return int(platform.rollouts.status(service, "dev")["release_version"])


def test_each_rollback_goes_one_further_back(governed: Platform) -> None:
    _live_versions(governed, "walk", 3)
    assert [_rollback(governed, "walk"), _rollback(governed, "walk")] == [2, 1]
    with pytest.raises(errors.Conflict, match="no earlier release") as err:
        governed.rollouts.rollback("walk", "dev", actor=ALICE)
    assert "--to VERSION" in err.value.hint
    messages = [e["message"] for e in governed.oversight.events("walk")
                if e["type"] == "rollback_started"]
    assert messages == ["alice started rollback of walk in dev from v3 to v2",
                        "alice started rollback of walk in dev from v2 to v1"]


def test_rollback_to_a_chosen_version_that_ran_there(governed: Platform) -> None:
    _live_versions(governed, "chosen", 3)
    assert _rollback(governed, "chosen", to=1) == 1
    assert _rollback(governed, "chosen", to=3) == 3
    with pytest.raises(errors.NotFound, match="no v9"):
        governed.rollouts.rollback("chosen", "dev", actor=ALICE, to=9)
    extra = governed.releases.create_app_release("chosen", IMAGE, 80, actor=ALICE, team="shop")
    with pytest.raises(errors.Conflict, match="never went live in dev"):
        governed.rollouts.rollback("chosen", "dev", actor=ALICE, to=extra["version"])
    history = governed.rollouts.history("chosen", "dev")
    assert [(r["release_version"], r["reason"]) for r in history[:2]] == [(3, "rollback"),
                                                                          (1, "rollback")]


def test_promoting_what_is_live_is_a_no_op_that_says_so(governed: Platform) -> None:
    [release] = _live_versions(governed, "same", 1)
    before = len(governed.promotions.find(service="same"))
    again = governed.promotions.promote(release["id"], "dev", actor=ALICE)
    assert again["noop"] and "already live in dev" in again["message"]
    assert len(governed.promotions.find(service="same")) == before  # nothing asked, nothing waits


def test_a_service_team_is_changed_by_an_admin_and_a_release_is_told_how(
        governed: Platform) -> None:
    governed.releases.create_app_release("teamless", IMAGE, 80, actor="admin")
    with pytest.raises(errors.Conflict, match="belongs to team \\(none\\), not shop") as err:
        governed.releases.create_app_release("teamless", IMAGE, 80, actor="admin", team="shop")
    assert "goldenpath team teamless --set shop" in err.value.hint
    with pytest.raises(errors.PermissionDenied):
        governed.releases.set_team("teamless", "shop", actor=BOB)
    assert governed.releases.set_team("teamless", "shop", actor="admin")["team"] == "shop"
    # alice's now
    governed.releases.create_app_release("teamless", IMAGE, 80, actor=ALICE, team="shop")
    [event] = [e for e in governed.oversight.events("teamless") if e["type"] == "team_changed"]
    assert {k: event["data"][k] for k in ("from", "to")} == {"from": "", "to": "shop"}
    assert governed.oversight.verify_audit()["ok"]


def test_unknown_environments_are_reported_as_such(governed: Platform) -> None:
    _live_versions(governed, "envs", 1)
    for call in (lambda: governed.rollouts.status("envs", "prd"),
                 lambda: governed.promotions.find(environment="prd"),
                 lambda: governed.rollouts.history("envs", "prd")):
        with pytest.raises(errors.NotFound, match="unknown environment 'prd'") as err:
            call()
        assert "dev, staging, prod" in err.value.hint


def test_the_submitter_hears_four_eyes_not_a_role_to_grant(governed: Platform) -> None:
    release = governed.releases.create_app_release("eyes", IMAGE, 80, actor=ALICE, team="shop",
                                          resources={"cpu": 0.5, "memory_gb": 1})
    governed.promotions.attach_evidence(release["id"], {"test_report": "r", "review": "r"},
                                        actor=ALICE)
    governed.promotions.promote(release["id"], "prod", actor=ALICE)
    with pytest.raises(errors.PermissionDenied, match="four eyes") as err:
        governed.promotions.decide(release["id"], "prod", "approve", actor=ALICE)
    assert "users grant" not in err.value.hint and "goldenpath approve eyes" in err.value.hint
    governed.promotions.decide(release["id"], "prod", "reject", actor=BOB)
    [event] = [e for e in governed.oversight.events("eyes") if e["type"] == "approval_rejected"]
    assert event["message"].startswith("bob rejected eyes v1 for prod")


def test_a_metric_refusal_names_the_value_and_the_threshold(governed: Platform) -> None:
    release = governed.releases.create_app_release("metric", IMAGE, 80, actor=ALICE, team="shop")
    from goldenpath_server._db import ReleaseRow

    with governed.store.sessions.begin() as db:  # a model release that reported its accuracy
        row = db.get(ReleaseRow, release["id"])
        row.kind, row.evidence = "model", {"metrics": {"accuracy": 0.87}}
    results = governed.promotions.check_policies(release["id"], "prod")["results"]
    [metric] = [r for r in results if r["name"] == "evaluation-metric"]
    assert "accuracy is 0.87; prod needs at least 0.9" in metric["message"]
    assert "--metric NAME=VALUE" in metric["hint"]


def test_validation_errors_are_readable(governed: Platform) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(create_app(governed.settings, platform=governed)) as client:
        body = client.put("/api/v1/users/ada/roles", json={"team": "shop", "role": "owner"}
                          ).json()
    assert body["code"] == "invalid_input"
    assert body["message"].startswith("role: Input should be 'viewer'")
    assert "[{" not in body["message"] and "'type'" not in body["message"]
