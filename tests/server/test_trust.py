"""Evidence the gate rests on is verified by the server or marked as declared by whom;
"ran in" means went live; identity is a token, not a header (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from goldenpath import errors
from goldenpath_server import Platform
from goldenpath_server._access import Principal
from tests.server.conftest import FakeTarget, make_platform, wait_until

IMAGE = "registry.example/trust@sha256:" + "e" * 64
ALICE = Principal("alice", {"shop": "submitter"})
MODEL_RULES = """
environments:
  dev: {}
  staging: {}
  prod: {policies: {default_action: warn, actions: {parity-passed: enforce,
                                                    bundle-scanned: enforce,
                                                    dependencies-pinned: enforce}}}
"""


@pytest.mark.parametrize("claim", [{"parity": {"passed": True, "rows": 10000}},
                                   {"scan": {"clean": True}}, {"pinned": True}])
def test_a_callers_claim_of_a_check_is_refused(governed: Platform, claim: dict) -> None:
    release = governed.releases.create_app_release("claims", IMAGE, 80, actor=ALICE, team="shop")
    with pytest.raises(errors.PermissionDenied, match="verified by the server itself"):
        governed.promotions.attach_evidence(release["id"], claim, actor=ALICE)
    assert set(claim).isdisjoint(governed.promotions.evidence(release["id"]))


def test_declared_evidence_says_who_declared_it(governed: Platform) -> None:
    release = governed.releases.create_app_release("declared", IMAGE, 80, actor=ALICE, team="shop")
    governed.promotions.attach_evidence(release["id"], {"review": "https://git/pr/2"}, actor=ALICE)
    sources = governed.promotions.evidence(release["id"])["sources"]
    assert sources["review"]["source"] == "declared" and sources["review"]["by"] == "alice"


def test_checks_count_only_when_the_server_made_them(tmp_path: Path) -> None:
    """A release whose evidence says parity passed (as older SDKs declared it, or as
    someone wrote into the database) still fails the verified-parity policy in prod."""
    from goldenpath_server._db import ReleaseRow

    config = tmp_path / "rules.yaml"
    config.write_text(MODEL_RULES)
    platform = make_platform(tmp_path, config=config)
    try:
        release = platform.releases.create_app_release("forged", IMAGE, 80, actor=ALICE,
                                                       team="shop")
        with platform.store.sessions.begin() as db:
            row = db.get(ReleaseRow, release["id"])
            row.kind = "model"
            row.evidence = {"parity": {"passed": True, "rows": 10000},
                            "scan": {"clean": True}, "pinned": True}
            row.evidence_sources = {"parity": {"source": "declared", "by": "alice"}}
        results = {r["name"]: r for r in platform.promotions.check_policies(release["id"], "prod")[
            "results"]}
        assert not results["parity-passed"]["passed"]  # declared, not verified
        assert not results["bundle-scanned"]["passed"]  # no source at all: not the server's
        assert not results["dependencies-pinned"]["passed"]
    finally:
        platform.close()


class FailsIn(FakeTarget):
    """Live at once, except in one environment, where every rollout fails."""

    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    def deploy(self, rollout: Any, state: dict[str, Any], progress: Any) -> dict[str, Any]:
        from goldenpath_server.targets import TargetError

        if rollout.environment == self.failing:
            raise TargetError("pods never became ready")
        return super().deploy(rollout, state, progress)


def test_a_release_whose_staging_rollout_failed_cannot_go_to_prod(tmp_path: Path,
                                                                  database_url: str) -> None:
    from goldenpath_server import Settings

    config = tmp_path / "path.yaml"
    config.write_text("environments:\n  dev: {}\n  staging: {}\n  prod:\n"
                      "    policies: {actions: {promotion-path: enforce}}\n")
    target = FailsIn("staging")
    platform = Platform(Settings(home=tmp_path / "home", database_url=database_url,
                                 config=config),
                        targets={"dev": target, "staging": target, "prod": target})
    platform.start()
    try:
        release = platform.releases.create_app_release("path", IMAGE, 80, actor=ALICE, team="shop")
        for env in ("dev", "staging"):
            platform.promotions.promote(release["id"], env, actor=ALICE)
        wait_until(lambda: platform.rollouts.status("path", "staging")["status"] == "failed")
        with pytest.raises(errors.PolicyDenied, match="promotion-path: the release has not "
                                                      "gone live in the environment before"):
            platform.promotions.promote(release["id"], "prod", actor=ALICE)
    finally:
        platform.close()


ADMIN = "trust-admin-token"


@pytest.fixture()
def with_users(tmp_path: Path) -> Any:
    platform = make_platform(tmp_path, token=ADMIN)
    for user, role in (("ada", "admin"), ("bob", "approver")):
        platform.accounts.grant(user, "shop", role, actor="setup")
    tokens = {u: platform.accounts.create_token(u, actor="setup")["token"] for u in ("ada", "bob")}
    tokens["jupyter"] = platform.accounts.create_token("jupyter", actor="setup",
                                              kind="delegation")["token"]
    yield platform, tokens
    platform.close()


def test_a_header_names_no_one_without_a_delegation_token(with_users: Any) -> None:
    platform, tokens = with_users
    with pytest.raises(errors.PermissionDenied, match="not honoured with the bootstrap"):
        platform.access.authenticate(ADMIN, "bob")
    with pytest.raises(errors.PermissionDenied, match="not honoured with ada's token"):
        platform.access.authenticate(tokens["ada"], "bob")
    assert platform.access.authenticate(ADMIN).name == "admin"  # acts as itself


def test_a_delegation_token_acts_for_its_user_never_above_approver(with_users: Any) -> None:
    platform, tokens = with_users
    bob = platform.access.authenticate(tokens["jupyter"], "bob")
    assert bob.name == "bob" and bob.delegated_by == "jupyter" and bob.can("approver", "shop")
    ada = platform.access.authenticate(tokens["jupyter"], "ada")
    assert ada.role_in("shop") == "approver"  # an admin, but not through a delegation
    with pytest.raises(errors.PermissionDenied):
        platform.accounts.users(actor=ada)
    alone = platform.access.authenticate(tokens["jupyter"])
    assert not alone.can("submitter", "shop") and alone.can("viewer", "shop")
    with pytest.raises(errors.PermissionDenied, match="not a goldenpath user"):
        platform.access.authenticate(tokens["jupyter"], "nobody")


def test_tokens_and_roles_are_validated(with_users: Any) -> None:
    platform, _ = with_users
    with pytest.raises(errors.NotFound, match="no user 'nobody'"):
        platform.accounts.create_token("nobody", actor="setup")
    with pytest.raises(errors.InvalidInput, match="unknown role"):
        platform.accounts.grant("ada", "shop", "owner", actor="setup")
    with pytest.raises(errors.InvalidInput, match="invalid team name"):
        platform.accounts.grant("ada", "Shop Team!", "viewer", actor="setup")
