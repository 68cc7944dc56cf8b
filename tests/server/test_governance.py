"""Promotion through policies and approvals, on SQLite and PostgreSQL (fake target)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from goldenpath import errors
from goldenpath_server import Platform
from goldenpath_server._access import Principal
from tests.server.conftest import make_platform, wait_until

IMAGE = "registry.example/shop@sha256:" + "b" * 64
ALICE = Principal("alice", {"shop": "submitter"})
BOB = Principal("bob", {"shop": "approver"})
CAROL = Principal("carol", {"shop": "viewer"})
MALLORY = Principal("mallory", {"other-team": "admin"})


def _live(platform: Platform, service: str, env: str) -> dict[str, Any]:
    wait_until(lambda: platform.rollouts.status(service, env)["status"] == "live")
    return platform.rollouts.status(service, env)


def _app(platform: Platform, **resources: float) -> dict[str, Any]:
    return platform.releases.create_app_release("shop", IMAGE, 8080, actor=ALICE, team="shop",
                                       resources=resources or {"cpu": 0.5, "memory_gb": 1})


def test_dev_warns_staging_enforces_with_each_failure_and_its_fix(governed: Platform) -> None:
    release = _app(governed)
    dev = governed.promotions.promote(release["id"], "dev", actor=ALICE)
    assert dev["status"] == "rolling_out"
    _live(governed, "shop", "dev")
    with pytest.raises(errors.PolicyDenied) as denied:
        governed.promotions.promote(release["id"], "staging", actor=ALICE)
    failed = {r["name"]: r for r in denied.value.details["results"] if not r["passed"]}
    assert set(failed) == {"test-report", "review"}
    assert "test report" in failed["test-report"]["message"]
    assert "goldenpath evidence" in failed["test-report"]["hint"]
    assert "test-report" in denied.value.message and denied.value.hint
    promotions = {p["environment"]: p for p in governed.promotions.find(service="shop")}
    assert promotions["dev"]["status"] == "deployed"
    promotion = promotions["staging"]
    assert promotion["status"] == "denied" and promotion["policy_outcome"] == "fail"
    stored = governed.releases.get_release(release["id"])
    assert {r["name"] for r in stored["policy_results"] if not r["passed"]} >= set(failed)

    governed.promotions.attach_evidence(release["id"], {"test_report": "https://ci/run/1",
                                             "review": "https://git/pr/7"}, actor=ALICE)
    assert governed.promotions.check_policies(release["id"], "staging")["outcome"] == "pass"
    governed.promotions.promote(release["id"], "staging", actor=ALICE)
    assert _live(governed, "shop", "staging")["digest"] == release["digest"]


def test_the_path_can_be_enforced(tmp_path: Path) -> None:
    config = tmp_path / "path.yaml"
    config.write_text("environments:\n  dev: {}\n  staging: {}\n  prod:\n"
                      "    policies: {actions: {promotion-path: enforce}}\n")
    platform = make_platform(tmp_path, config=config)
    try:
        release = _app(platform)
        with pytest.raises(errors.PolicyDenied, match="promotion-path"):
            platform.promotions.promote(release["id"], "prod", actor=ALICE)
        for env in ("dev", "staging"):
            platform.promotions.promote(release["id"], env, actor=ALICE)
            _live(platform, "shop", env)
        checked = platform.promotions.check_policies(release["id"], "prod")
        assert checked["outcome"] == "warn"  # passes
    finally:
        platform.close()


def test_budget_is_a_common_policy(governed: Platform) -> None:
    release = _app(governed, cpu=8, memory_gb=64, replicas=3)  # far above staging's $100
    governed.promotions.attach_evidence(release["id"], {"test_report": "r", "review": "r"},
                                        actor=ALICE)
    result = governed.promotions.check_policies(release["id"], "staging")
    failed = {r["name"]: r["action"] for r in result["results"] if not r["passed"]}
    assert failed == {"within-budget": "enforce", "promotion-path": "warn"}


def test_prod_waits_for_an_approver_who_is_not_the_submitter(governed: Platform) -> None:
    release = _app(governed)
    governed.promotions.attach_evidence(release["id"], {"test_report": "r", "review": "r"},
                                        actor=ALICE)
    waiting = governed.promotions.promote(release["id"], "prod", actor=ALICE)
    assert waiting["status"] == "waiting_for_approval" and waiting["required_approvals"] == 1
    with pytest.raises(errors.NotFound):
        governed.rollouts.status("shop", "prod")  # nothing rolled out yet
    assert governed.promotions.promote(release["id"], "prod", actor=ALICE)["id"] == waiting["id"]

    with pytest.raises(errors.PermissionDenied, match="four eyes"):
        governed.promotions.decide(release["id"], "prod", "approve", actor=Principal(
            "alice", {"shop": "approver"}))  # even with approver rights on her own release
    with pytest.raises(errors.PermissionDenied, match="approver role"):
        governed.promotions.decide(release["id"], "prod", "approve", actor=CAROL)
    with pytest.raises(errors.PermissionDenied):
        governed.promotions.decide(release["id"], "prod", "approve", actor=MALLORY)  # other team
    deployment = governed.promotions.decide(release["id"], "prod", "approve", actor=BOB,
                                 comment="test report and review checked")
    assert deployment["status"] == "rolling_out"
    assert _live(governed, "shop", "prod")["promotion_id"] == waiting["id"]
    [row] = governed.oversight.inventory("prod")
    assert row["approved_by"] == ["bob"] and row["requested_by"] == "alice"
    assert row["version"] == release["version"] and row["digest"] == release["digest"]
    assert row["evidence"]["evidence"] == f"/api/v1/releases/{release['id']}/evidence"
    assert "bob" in governed.oversight.inventory_csv("prod")
    types = [e["type"] for e in governed.oversight.events("shop")]
    assert "promotion_waiting_for_approval" in types and "approval_granted" in types
    assert governed.oversight.verify_audit()["ok"]


def test_a_rejection_stops_the_promotion(governed: Platform) -> None:
    release = _app(governed)
    governed.promotions.attach_evidence(release["id"], {"test_report": "r", "review": "r"},
                                        actor=ALICE)
    governed.promotions.promote(release["id"], "prod", actor=ALICE)
    rejected = governed.promotions.decide(release["id"], "prod", "reject", actor=BOB, comment="no")
    assert rejected["status"] == "rejected"
    assert rejected["approvals"][0]["comment"] == "no"
    with pytest.raises(errors.NotFound, match="not waiting"):
        governed.promotions.decide(release["id"], "prod", "approve", actor=BOB)


def test_submitters_need_a_role_in_the_services_team(governed: Platform) -> None:
    with pytest.raises(errors.PermissionDenied, match="submitter role in team 'shop'"):
        governed.releases.create_app_release("shop", IMAGE, 80, actor=CAROL, team="shop")
    _app(governed)
    with pytest.raises(errors.PermissionDenied):  # the service's team decides, not the body
        governed.releases.create_app_release("shop", IMAGE, 80, actor=Principal(
            "eve", {"eve-team": "admin"}), team="eve-team")


def test_rollback_is_recorded_and_keeps_the_approval(governed: Platform) -> None:
    first, second = _app(governed), _app(governed)
    for release in (first, second):
        governed.promotions.attach_evidence(release["id"], {"test_report": "r", "review": "r"},
                                            actor=ALICE)
        governed.promotions.promote(release["id"], "prod", actor=ALICE)
        governed.promotions.decide(release["id"], "prod", "approve", actor=BOB)
        wait_until(lambda r=release: governed.rollouts.status("shop", "prod")["release_id"]
                   == r["id"]
                   and governed.rollouts.status("shop", "prod")["status"] == "live")
    with pytest.raises(errors.PermissionDenied):  # prod needs approver rights to restore
        governed.rollouts.rollback("shop", "prod", actor=ALICE)
    governed.rollouts.rollback("shop", "prod", actor=BOB)
    wait_until(lambda: governed.rollouts.status("shop", "prod")["release_id"] == first["id"]
               and governed.rollouts.status("shop", "prod")["status"] == "live")
    [row] = governed.oversight.inventory("prod")
    assert row["version"] == first["version"] and row["approved_by"] == ["bob"]
    assert any(e["type"] == "rollback_started" and e["actor"] == "bob"
               for e in governed.oversight.events("shop"))
    assert governed.oversight.verify_audit()["ok"]
