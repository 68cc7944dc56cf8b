"""Promotions: where a release is let into an environment, or not.

A Promotion asks for a release to enter an environment. The environment's policies are
evaluated first (an enforced failure denies it), then it waits for the approvals the
environment needs (never from the release's submitter: four eyes), then it rolls out.
Evidence is what policies weigh: what the server verified itself, and what callers declared.
Every step is an audit event.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from goldenpath_api.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PolicyDenied
from goldenpath_api.rules import APPROVED, DENIED, LIVE, REJECTED, WAITING
from goldenpath_server import _audit
from goldenpath_server._access import Actor, as_principal
from goldenpath_server._db import (
    ApprovalRow,
    DeploymentRow,
    PromotionRow,
    ReleaseRow,
    RolloutRow,
    ServiceRow,
    utcnow,
)
from goldenpath_server._delivery_evidence import rollout_context
from goldenpath_server._environments import Environments, Pricing
from goldenpath_server._evidence import ATTACHABLE, VERIFIED, declare, policy_context
from goldenpath_server._history import live_environments
from goldenpath_server._policies import PolicySet
from goldenpath_server._registration import Registration
from goldenpath_server._rollouts import Rollouts
from goldenpath_server._store import Store
from goldenpath_server._strategies import choose, plan
from goldenpath_server._views import approvals_by_promotion, promotion_view

_PAST = {"approve": APPROVED, "reject": REJECTED}


class Promotions:
    def __init__(self, store: Store, environments: Environments, policies: PolicySet,
                 pricing: Pricing, rollouts: Rollouts, registration: Registration) -> None:
        self.store = store
        self.environments = environments
        self.policies = policies
        self.pricing = pricing
        self.rollouts = rollouts
        self.registration = registration

    def promote(self, release_id: str, environment: str, *, actor: Actor,
                strategy: str | None = None, steps: list[int] | None = None
                ) -> dict[str, Any]:
        """Ask for `release_id` in `environment`: policies, then approvals, then rollout,
        by `strategy` (default: the environment's) and, for a canary, its `steps`.

        Returns the deployment (status rolling_out) or the promotion waiting for approval
        (status waiting_for_approval); raises PolicyDenied when an enforced policy fails."""
        who = as_principal(actor)
        env = self.environments.get(environment)
        delivery = self._delivery(environment, strategy, steps)
        store = self.store
        with store.read() as db:
            release, service = store.release(db, release_id)
            team = store.team_of(db, release)
            who.require("submitter", team, f"promote {service} to {environment}")
            cannot = self.environments.cannot_run(environment).get(release.kind)
            if cannot:
                raise Conflict(f"{environment} cannot run {service} v{release.version} (an "
                               f"{release.kind}): {cannot}",
                               "promote it to an environment that runs "
                               f"{release.kind}s, or have the platform team set {environment} "
                               "up for them")
            live = db.scalar(select(DeploymentRow).where(
                DeploymentRow.service_id == release.service_id,
                DeploymentRow.environment == environment,
                DeploymentRow.release_id == release_id, DeploymentRow.status == LIVE))
            if live is not None:  # nothing to do, and nothing to approve
                return {**self.rollouts.status(service, environment), "noop": True,
                        "message": f"{service} v{release.version} is already live in "
                                   f"{environment}: nothing to do"}
            existing = db.scalar(select(PromotionRow).where(
                PromotionRow.release_id == release_id, PromotionRow.environment == environment,
                PromotionRow.status.in_((WAITING, APPROVED))))
            champion = db.scalar(select(DeploymentRow.id).where(
                DeploymentRow.service_id == release.service_id,
                DeploymentRow.environment == environment, DeploymentRow.status == LIVE))
            # the switch rules compare with a champion: a first release has none to shadow
            at = ("promote",) if champion is None or delivery["steps"] else None
            evaluation = self._evaluate(db, release, service, team, environment, delivery,
                                        at=at)
        if existing is not None and existing.status == WAITING:
            return {**self._view(existing.id), "status": WAITING}
        if existing is not None:  # approved earlier, its rollout never started
            return self.rollouts.start(release_id, environment, actor=who.name,
                                       reason="promotion", promotion_id=existing.id,
                                       **(existing.delivery or delivery))
        status = (DENIED if evaluation["outcome"] == "fail"
                  else WAITING if env.approvals > 0 else APPROVED)
        with store.tx() as db:
            promotion = PromotionRow(
                id=uuid.uuid4().hex[:16], release_id=release_id, environment=environment,
                status=status, requested_by=who.name, required_approvals=env.approvals,
                policy_outcome=evaluation["outcome"], policy_results=evaluation,
                delivery=delivery)
            db.add(promotion)
            failed = [r["name"] for r in evaluation["results"] if not r["passed"]]
            store.event(db, service, environment, release_id, "policy_evaluated",
                        f"policies for {service} v{release.version} in {environment}: "
                        f"{evaluation['outcome']}" + (f" ({', '.join(failed)})" if failed
                                                      else ""),
                        {"outcome": evaluation["outcome"], "failed": failed,
                         "track": release.kind, "promotion_id": promotion.id}, actor=who.name)
            store.event(db, service, environment, release_id, f"promotion_{status}",
                        _message(service, release.version, environment, status, who.name,
                                 env.approvals),
                        {"promotion_id": promotion.id}, actor=who.name)
            _audit.cover(db, promotion)
            view = promotion_view(promotion, service, release.version, [])
        if status == DENIED:
            blocking = [r for r in evaluation["results"]
                        if not r["passed"] and r["action"] == "enforce"]
            raise PolicyDenied(
                f"{len(blocking)} polic{'y' if len(blocking) == 1 else 'ies'} "
                f"block{'s' if len(blocking) == 1 else ''} {service} v{release.version} "
                f"in {environment}: " + "; ".join(f"{r['name']}: {r['message']}"
                                                   for r in blocking),
                " · ".join(r["hint"] for r in blocking if r.get("hint")),
                details=evaluation)
        if status == WAITING:
            return view
        return self.rollouts.start(release_id, environment, actor=who.name,
                                   reason="promotion", promotion_id=promotion.id, **delivery)

    def _delivery(self, environment: str, strategy: str | None, steps: list[int] | None
                  ) -> dict[str, Any]:
        """The strategy a promotion to `environment` rolls out by, and its plan: refused
        before anything is recorded when the environment does not allow it."""
        config = self.environments.get(environment).delivery
        supported = tuple(getattr(self.environments.target(environment), "strategies",
                                  ("rolling",)))
        if steps is not None and strategy is None and config.default not in ("canary",
                                                                             "shadow"):
            strategy = "canary"  # traffic steps are a canary's: asking for them asks for one
        chosen = choose(config, environment, strategy, supported)
        try:
            return {"strategy": chosen, "steps": plan(config, chosen, steps)}
        except ValueError as exc:
            raise InvalidInput(str(exc), "e.g. --steps 10,50,100") from None

    deploy = promote  # the walking skeleton's name for the same governed call

    def decide(self, release_id: str, environment: str, decision: str, *,
               actor: Actor, comment: str = "") -> dict[str, Any]:
        """Approve or reject the promotion of `release_id` waiting in `environment`."""
        if decision not in _PAST:
            raise InvalidInput(f"unknown decision {decision!r}", "use approve or reject")
        who = as_principal(actor)
        self.environments.check(environment)
        store = self.store
        with store.tx() as db:
            release, service = store.release(db, release_id)
            team = store.team_of(db, release)
            promotion = db.scalar(select(PromotionRow).where(
                PromotionRow.release_id == release_id, PromotionRow.environment == environment,
                PromotionRow.status == WAITING))
            if promotion is None:
                raise NotFound(f"{service} v{release.version} is not waiting for approval in "
                               f"{environment}", "promote it first: goldenpath promote "
                               f"{service} --to {environment}")
            # four eyes before roles: no role would let the submitter decide anyway
            if who.name in (release.created_by, promotion.requested_by):
                raise PermissionDenied(
                    f"{who.name} submitted {service} v{release.version} and cannot "
                    f"{decision} it (four eyes)", "another approver of team "
                    f"{team or '(none)'} decides: they run goldenpath approvals, then "
                    f"goldenpath approve {service} --env {environment}")
            who.require("approver", team, f"{decision} {service} for {environment}")
            if db.scalar(select(ApprovalRow).where(ApprovalRow.promotion_id == promotion.id,
                                                   ApprovalRow.user == who.name)):
                raise Conflict(f"{who.name} already decided on this promotion",
                               "another approver has to add theirs")
            approval = ApprovalRow(promotion_id=promotion.id, user=who.name, decision=decision,
                                   comment=comment)
            db.add(approval)
            db.flush()
            approvals = db.scalar(select(func.count()).where(
                ApprovalRow.promotion_id == promotion.id, ApprovalRow.decision == "approve"))
            store.event(db, service, environment, release_id,
                        "approval_granted" if decision == "approve" else "approval_rejected",
                        f"{who.name} {_PAST[decision]} {service} v{release.version} for "
                        f"{environment}" + (f": {comment}" if comment else ""),
                        {"promotion_id": promotion.id, "comment": comment}, actor=who.name)
            if decision == "reject":
                promotion.status, promotion.decided_at = REJECTED, utcnow()
            elif (approvals or 0) >= promotion.required_approvals:
                promotion.status = APPROVED
            _audit.cover(db, approval, promotion)
            promotion_id, status = promotion.id, promotion.status
            delivery = dict(promotion.delivery or {})
        if status == APPROVED:
            return self.rollouts.start(release_id, environment, actor=who.name,
                                       reason="promotion", promotion_id=promotion_id,
                                       **delivery)
        return self._view(promotion_id)

    def find(self, status: str | None = None, service: str | None = None,
             limit: int = 200, environment: str | None = None) -> list[dict[str, Any]]:
        """Promotions, newest first (e.g. status=waiting_for_approval for an approver)."""
        if environment:
            self.environments.check(environment)
        with self.store.read() as db:
            query = (select(PromotionRow, ReleaseRow.version, ServiceRow.name)
                     .join(ReleaseRow, ReleaseRow.id == PromotionRow.release_id)
                     .join(ServiceRow, ServiceRow.id == ReleaseRow.service_id))
            if status:
                query = query.where(PromotionRow.status == status)
            if service:
                query = query.where(ServiceRow.name == service)
            if environment:
                query = query.where(PromotionRow.environment == environment)
            rows = db.execute(query.order_by(PromotionRow.created_at.desc()).limit(limit)).all()
            approvals = approvals_by_promotion(db, [p.id for p, _, _ in rows])
            return [promotion_view(p, name, version, approvals.get(p.id, []))
                    for p, version, name in rows]

    def get(self, promotion_id: str) -> dict[str, Any]:
        with self.store.read() as db:
            if db.get(PromotionRow, promotion_id) is None:
                raise NotFound(f"no promotion {promotion_id!r}",
                               "list them with `goldenpath approvals`")
        return self._view(promotion_id)

    def check_policies(self, release_id: str, environment: str) -> dict[str, Any]:
        """Evaluate `environment`'s policies for a release without promoting it."""
        self.environments.check(environment)
        with self.store.read() as db:
            release, service = self.store.release(db, release_id)
            return self._evaluate(db, release, service, self.store.team_of(db, release),
                                  environment, self._delivery(environment, None, None))

    def gate_switch(self, rollout_id: str) -> dict[str, Any]:
        """The `at: switch` policies, before a progressive rollout's candidate takes all
        traffic, over what the rollout measured; the evaluation is an audit event."""
        with self.store.tx() as db:
            row = db.get(RolloutRow, rollout_id)
            if row is None:
                raise NotFound(f"rollout {rollout_id} does not exist", "see goldenpath status")
            release, service = self.store.release(db, row.release_id)
            progress = row.progress or {}
            evaluation = self._evaluate(
                db, release, service, self.store.team_of(db, release), row.environment,
                {"strategy": row.strategy, "steps": progress.get("steps") or []},
                progress=progress, at=("switch",))
            failed = [r["name"] for r in evaluation["results"] if not r["passed"]]
            self.store.event(db, service, row.environment, release.id, "policy_evaluated",
                             f"switch policies for {service} v{release.version} in "
                             f"{row.environment}: {evaluation['outcome']}"
                             + (f" ({', '.join(failed)})" if failed else ""),
                             {"outcome": evaluation["outcome"], "failed": failed,
                              "at": "switch", "rollout_id": rollout_id,
                              "results": evaluation["results"]})
            _audit.cover(db, row)
        return evaluation

    def _evaluate(self, db: Session, release: ReleaseRow, service: str, team: str,
                  environment: str, delivery: dict[str, Any],
                  progress: dict[str, Any] | None = None,
                  at: tuple[str, ...] | None = None) -> dict[str, Any]:
        """`environment`'s policies for `release` rolled out by `delivery` (strategy,
        steps): at the promotion, the switch rules too when it switches at once."""
        env = self.environments.get(environment)
        if at is None:
            at = ("promote", "switch") if not delivery["steps"] else ("promote",)
        # where it ran = where a rollout of it succeeded, not merely started
        view = {"service": service, "kind": release.kind, "team": team,
                "version": release.version, "digest": release.digest, "image": release.image,
                "spec": release.spec, "deployed_in": live_environments(db, release.id)}
        context = policy_context(view, release.evidence or {}, environment, env,
                                 self.pricing, self.environments.previous(environment),
                                 release.evidence_sources or {},
                                 rollout_context(delivery["strategy"], delivery["steps"],
                                                 progress))
        return self.policies.evaluate(context, release.kind, environment,
                                      dict(env.policies.actions), env.policies.default_action,
                                      at)

    # -- evidence ----------------------------------------------------------------------
    def attach_evidence(self, release_id: str, evidence: dict[str, Any], *,
                        actor: Actor) -> dict[str, Any]:
        """Add lineage, a model card, metrics, data, a test report or a review to a release,
        each recorded as declared by the caller. What the server verifies itself (scan,
        pins, parity) cannot be attached."""
        who = as_principal(actor)
        claimed = sorted(set(evidence) & set(VERIFIED))
        if claimed:
            raise PermissionDenied(
                f"{', '.join(claimed)} {'is' if len(claimed) == 1 else 'are'} verified by the "
                "server itself and cannot be attached",
                "the server scans the bundle and checks its pins when it receives it, and "
                "replays the notebook's sample where the release runs: nothing to send")
        unknown = sorted(set(evidence) - set(ATTACHABLE))
        if unknown:
            raise InvalidInput(f"unknown evidence {', '.join(unknown)}",
                               f"attach any of: {', '.join(ATTACHABLE)}")
        store = self.store
        with store.tx() as db:
            release, service = store.release(db, release_id)
            who.require("submitter", store.team_of(db, release),
                        f"attach evidence to {service}")
            release.evidence, release.evidence_sources = declare(
                release.evidence or {}, release.evidence_sources or {}, evidence, who.name)
            store.event(db, service, "", release_id, "evidence_attached",
                        f"{who.name} attached {', '.join(sorted(evidence))} to {service} "
                        f"v{release.version}", {"keys": sorted(evidence),
                                                "card_sha256": _sha(evidence.get("card"))},
                        actor=who.name)
            _audit.cover(db, release)
            attached = {**release.evidence, "sources": dict(release.evidence_sources)}
        if "lineage" in evidence:
            self.registration.register(release_id)
        return attached

    def evidence(self, release_id: str) -> dict[str, Any]:
        """The release's evidence, with `sources`: per item, verified by the server or
        declared by whom."""
        with self.store.read() as db:
            release, _ = self.store.release(db, release_id)
            return {**(release.evidence or {}), "sources": dict(release.evidence_sources or {})}

    def _view(self, promotion_id: str) -> dict[str, Any]:
        with self.store.read() as db:
            promotion = db.get(PromotionRow, promotion_id)
            assert promotion is not None
            release, service = self.store.release(db, promotion.release_id)
            approvals = approvals_by_promotion(db, [promotion_id]).get(promotion_id, [])
            return promotion_view(promotion, service, release.version, approvals)


def _message(service: str, version: int, environment: str, status: str, who: str,
             approvals: int) -> str:
    if status == WAITING:
        return (f"{who} asked to promote {service} v{version} to {environment}: waiting for "
                f"{approvals} approval{'s' if approvals != 1 else ''}")
    if status == DENIED:
        return f"policies denied {service} v{version} in {environment}"
    return f"{who} promoted {service} v{version} to {environment}"


def _sha(text: Any) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if isinstance(text, str) else None
