"""The platform's figures: folded incrementally from the audit trail, exported on /metrics
and GET /api/v1/figures."""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from goldenpath_api.figures import PlatformFigures
from goldenpath_server import Platform
from goldenpath_server._access import Principal
from goldenpath_server._figures import figures_for
from goldenpath_server.api._deps import get_platform, get_viewer
from goldenpath_server.api._figures_routes import router
from goldenpath_server.targets import TargetError
from tests.server.conftest import GOVERNED_CONFIG, FakeTarget, make_platform, wait_until

with warnings.catch_warnings():  # starlette asks for `httpx2`; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

IMAGE = "registry.example/figures@sha256:" + "f" * 64
ALICE = Principal("alice", {"shop": "submitter"})
BOB = Principal("bob", {"shop": "approver"})
PATH = ("dev", "staging", "prod")


class FlakyTarget(FakeTarget):
    """Live at once, except for the releases in `failing`."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    def deploy(self, rollout: Any, state: dict[str, Any], progress: Any) -> dict[str, Any]:
        if rollout.release_id in self.failing:
            raise TargetError("the fake target refused it")
        return super().deploy(rollout, state, progress)


def _platform(tmp_path: Path) -> tuple[Platform, FlakyTarget]:
    config = tmp_path / "goldenpath.yaml"
    config.write_text(GOVERNED_CONFIG)
    platform = make_platform(tmp_path, config=config)
    flaky = FlakyTarget()
    for name in PATH:
        platform.environments.targets[name] = flaky  # type: ignore[index]
    return platform, flaky


def _settled(platform: Platform, environment: str, release_id: str) -> bool:
    status = platform.rollouts.status("figures", environment)
    return status["release_id"] == release_id and status["status"] in ("live", "failed")


def _walk(platform: Platform, to: tuple[str, ...] = PATH) -> dict[str, Any]:
    release = platform.releases.create_app_release("figures", IMAGE, 80, actor=ALICE,
                                                   team="shop", resources={"cpu": 1,
                                                                           "memory_gb": 1})
    platform.promotions.attach_evidence(release["id"], {"test_report": "r", "review": "r"},
                                        actor=ALICE)
    for environment in to:
        platform.promotions.promote(release["id"], environment, actor=ALICE)
        if environment == "prod":
            platform.promotions.decide(release["id"], "prod", "approve", actor=BOB)
        wait_until(lambda env=environment: _settled(platform, env, release["id"]))
    return release


def test_figures_of_releases_through_the_path(tmp_path: Path) -> None:
    platform, flaky = _platform(tmp_path)
    try:
        _walk(platform)
        _walk(platform)
        platform.rollouts.rollback("figures", "prod", actor=BOB)
        wait_until(lambda: platform.rollouts.status("figures", "prod")["status"] == "live"
                   and platform.oversight.events("figures")[-1]["type"] == "rollout_succeeded")
        release = platform.releases.create_app_release("figures", IMAGE, 80, actor=ALICE,
                                                       team="shop",
                                                       resources={"cpu": 1, "memory_gb": 1})
        flaky.failing.add(release["id"])
        platform.promotions.promote(release["id"], "dev", actor=ALICE)
        wait_until(lambda: _settled(platform, "dev", release["id"]))
        text = platform.oversight.metrics().decode()
        for line in (
                'goldenpath_deployments_total{environment="prod",track="app"} 3.0',
                'goldenpath_deployments_total{environment="dev",track="app"} 3.0',
                'goldenpath_rollbacks_total{environment="prod",track="app"} 1.0',
                'goldenpath_rollout_failures_total{environment="dev",kind="failed",'
                'track="app"} 1.0',
                'goldenpath_change_failure_rate{environment="prod",track="app"} 0.333',
                'goldenpath_change_failure_rate{environment="dev",track="app"} 0.333',
                'goldenpath_change_failure_rate{environment="staging",track="app"} 0.0',
                'goldenpath_validation_to_production_seconds_count{track="app"} 2.0',
                'goldenpath_lead_time_seconds_count{track="app"} 2.0',
                'goldenpath_time_to_restore_seconds_count{track="app"} 1.0',
                'goldenpath_production_releases_total{service="figures",track="app"} 2.0',
                'goldenpath_governance_compliance_ratio{track="app"} 1.0'):
            assert line in text, line
        figures = _api(platform)
        assert figures["production"] == "prod"
        assert [(c["environment"], c["rollouts_started"], c["rollbacks"], c["failed_rollouts"],
                 c["aborted_rollouts"]) for c in figures["change_failure"]] == [
            ("dev", 3, 0, 1, 0), ("prod", 3, 1, 0, 0), ("staging", 2, 0, 0, 0)]
        assert figures["production_releases"] == [
            {"track": "app", "service": "figures", "releases": 2}]
        assert figures["governance_compliance"] == [
            {"track": "app", "production_rollouts": 2, "compliant": 2, "ratio": 1.0}]
        assert figures["model_autonomy"] == {"releases": 0, "autonomous": 0, "ratio": None}
        expected = _validation_seconds(platform.oversight.events("figures", limit=1000))
        (validation,) = figures["validation_to_production"]
        assert validation["count"] == 2
        assert abs(validation["sum_seconds"] - expected) < 1e-6
    finally:
        platform.close()


def _api(platform: Platform) -> dict[str, Any]:
    """GET /api/v1/figures on an app of the figures router alone (a viewer calling)."""
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_platform] = lambda: platform
    app.dependency_overrides[get_viewer] = lambda: ALICE
    with TestClient(app) as client:
        response = client.get("/api/v1/figures")
    assert response.status_code == 200, response.text
    return PlatformFigures.model_validate(response.json()).model_dump()


def _validation_seconds(events: list[dict[str, Any]]) -> float:
    """The definition, recomputed from the events: first passing policy evaluation to the
    first rollout_succeeded in prod, per release that reached it."""
    passed: dict[str, datetime] = {}
    total = 0.0
    live: set[str] = set()
    for e in events:
        at = datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
        if e["type"] == "policy_evaluated" and e["data"]["outcome"] != "fail":
            passed.setdefault(e["release_id"], at)
        if (e["type"] == "rollout_succeeded" and e["environment"] == "prod"
                and e["release_id"] not in live):
            live.add(e["release_id"])
            total += (at - passed[e["release_id"]]).total_seconds()
    return total


def _event(platform: Platform, type_: str, release_id: str, actor: str,
           environment: str = "", **data: Any) -> None:
    """An event as the platform writes it, straight into the trail."""
    with platform.store.tx() as db:
        platform.store.event(db, "model-svc", environment, release_id, type_, type_, data,
                             actor=actor)


def test_model_autonomy_counts_only_the_team_and_approvers(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)  # dev, staging, prod
    try:
        for rid, promoter in (("r1", "alice"), ("r2", "carol"), ("r3", "dana")):
            _event(platform, "release_created", rid, "alice" if rid != "r3" else "dana",
                   kind="model", team="ml")
            _event(platform, "policy_evaluated", rid, promoter, "prod", outcome="pass")
            _event(platform, "approval_granted", rid, "bob", "prod")
            _event(platform, "promotion_started", rid, promoter, "prod")
            _event(platform, "rollout_succeeded", rid, "system", "prod")
        # carol (outside team ml) promoted r2; dana created r3: a submitter of the team
        _event(platform, "rollback_started", "r1", "root", "prod")  # after production
        figures = _api(platform)["model_autonomy"]
        assert figures == {"releases": 3, "autonomous": 2, "ratio": 2 / 3}
        assert "goldenpath_model_autonomy_ratio 0.666" in platform.oversight.metrics().decode()
    finally:
        platform.close()


def test_a_scrape_folds_only_new_events(tmp_path: Path) -> None:
    platform, _ = _platform(tmp_path)
    try:
        _walk(platform, ("dev",))
        platform.oversight.metrics()
        with platform.store.read() as db:
            figures = figures_for(db)
        first = figures.last_id
        assert first == platform.oversight.events(limit=1)[-1]["id"]
        assert figures.folded == first
        platform.oversight.metrics()
        assert (figures.last_id, figures.folded) == (first, 0)
        _walk(platform, ("dev",))
        text = platform.oversight.metrics().decode()
        newest = platform.oversight.events(limit=1)[-1]["id"]
        assert (figures.last_id, figures.folded) == (newest, newest - first)
        assert 'goldenpath_deployments_total{environment="dev",track="app"} 2.0' in text
    finally:
        platform.close()
