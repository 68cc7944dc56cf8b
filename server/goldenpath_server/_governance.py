"""Governance: promotions through policies and approvals, and the evidence they weigh.

A Promotion asks for a release to enter an environment. The environment's policies are
evaluated first (an enforced failure denies it), then it waits for the approvals the
environment needs (never from the release's submitter: four eyes), then it rolls out.
Every step is an audit event. Platform inherits this class; it supplies the rollout and the
database helpers named in PlatformParts.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from goldenpath_api.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PolicyDenied
from goldenpath_server import _audit
from goldenpath_server._access import Access, Principal, as_principal
from goldenpath_server._db import (
    ApprovalRow,
    DeploymentRow,
    EventRow,
    PromotionRow,
    ReleaseRow,
    ServiceRow,
    utcnow,
)
from goldenpath_server._environments import EnvironmentConfig, PlatformConfig
from goldenpath_server._evidence import ATTACHABLE, VERIFIED, declare, policy_context
from goldenpath_server._history import live_environments
from goldenpath_server._policies import PolicySet
from goldenpath_server._registry import ModelRegistry
from goldenpath_server._settings import Settings

WAITING = "waiting_for_approval"
_PAST = {"approve": "approved", "reject": "rejected"}


class PlatformParts:
    """What the Platform supplies to the parts defined in other modules."""

    settings: Settings
    sessions: sessionmaker[Session]
    targets: dict[str, Any]
    config: PlatformConfig
    policies: PolicySet
    access: Access
    registry: ModelRegistry | None

    if TYPE_CHECKING:
        def _tx(self) -> AbstractContextManager[Session]: ...
        def _event(self, db: Session, service: str, environment: str, release_id: str,
                   kind: str, message: str, data: dict[str, Any] | None = None,
                   actor: str = "system") -> EventRow: ...
        def _release(self, db: Session, release_id: str) -> tuple[ReleaseRow, str]: ...
        def _service(self, db: Session, name: str) -> ServiceRow: ...
        def _environment(self, environment: str) -> EnvironmentConfig: ...
        def _start_rollout(self, release_id: str, environment: str, *, actor: str,
                           reason: str = "deploy", promotion_id: str | None = None
                           ) -> dict[str, Any]: ...
        def _register_model(self, release_id: str) -> dict[str, Any] | None: ...
        def status(self, service: str, environment: str) -> dict[str, Any]: ...


class Governance(PlatformParts):
    """Promotions, approvals, policies and evidence."""


    # -- promotion ---------------------------------------------------------------------
    def promote(self, release_id: str, environment: str, *, actor: Principal | str
                ) -> dict[str, Any]:
        """Ask for `release_id` in `environment`: policies, then approvals, then rollout.

        Returns the deployment (status rolling_out) or the promotion waiting for approval
        (status waiting_for_approval); raises PolicyDenied when an enforced policy fails."""
        who = as_principal(actor)
        env = self._environment(environment)
        with self.sessions() as db:
            release, service = self._release(db, release_id)
            team = self._team(db, release)
            who.require("submitter", team, f"promote {service} to {environment}")
            target = self.targets.get(environment)
            cannot = getattr(target, "cannot_run", {}).get(release.kind)
            if cannot:
                raise Conflict(f"{environment} cannot run {service} v{release.version} (an "
                               f"{release.kind}): {cannot}",
                               "promote it to an environment that runs "
                               f"{release.kind}s, or have the platform team set {environment} "
                               "up for them")
            live = db.scalar(select(DeploymentRow).where(
                DeploymentRow.service_id == release.service_id,
                DeploymentRow.environment == environment,
                DeploymentRow.release_id == release_id, DeploymentRow.status == "live"))
            if live is not None:  # nothing to do, and nothing to approve
                return {**self.status(service, environment), "noop": True,
                        "message": f"{service} v{release.version} is already live in "
                                   f"{environment}: nothing to do"}
            existing = db.scalar(select(PromotionRow).where(
                PromotionRow.release_id == release_id, PromotionRow.environment == environment,
                PromotionRow.status.in_((WAITING, "approved"))))
            evaluation = self._evaluate(db, release, service, team, environment, env)
        if existing is not None and existing.status == WAITING:
            return {**self._promotion_view_by_id(existing.id), "status": WAITING}
        if existing is not None:  # approved earlier, its rollout never started
            return self._start_rollout(release_id, environment, actor=who.name,
                                       reason="promotion", promotion_id=existing.id)
        status = ("denied" if evaluation["outcome"] == "fail"
                  else WAITING if env.approvals > 0 else "approved")
        with self._tx() as db:
            promotion = PromotionRow(
                id=uuid.uuid4().hex[:16], release_id=release_id, environment=environment,
                status=status, requested_by=who.name, required_approvals=env.approvals,
                policy_outcome=evaluation["outcome"], policy_results=evaluation)
            db.add(promotion)
            failed = [r["name"] for r in evaluation["results"] if not r["passed"]]
            self._event(db, service, environment, release_id, "policy_evaluated",
                        f"policies for {service} v{release.version} in {environment}: "
                        f"{evaluation['outcome']}" + (f" ({', '.join(failed)})" if failed
                                                      else ""),
                        {"outcome": evaluation["outcome"], "failed": failed, "track": release.kind,
                         "promotion_id": promotion.id}, actor=who.name)
            self._event(db, service, environment, release_id, f"promotion_{status}",
                        _promotion_message(service, release.version, environment, status,
                                           who.name, env.approvals),
                        {"promotion_id": promotion.id}, actor=who.name)
            _audit.cover(db, promotion)
            view = _promotion_view(promotion, service, release.version, [])
        if status == "denied":
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
        return self._start_rollout(release_id, environment, actor=who.name,
                                   reason="promotion", promotion_id=promotion.id)

    deploy = promote  # the walking skeleton's name for the same governed call

    def decide(self, release_id: str, environment: str, decision: str, *,
               actor: Principal | str, comment: str = "") -> dict[str, Any]:
        """Approve or reject the promotion of `release_id` waiting in `environment`."""
        if decision not in ("approve", "reject"):
            raise InvalidInput(f"unknown decision {decision!r}", "use approve or reject")
        who = as_principal(actor)
        self._environment(environment)
        with self._tx() as db:
            release, service = self._release(db, release_id)
            team = self._team(db, release)
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
            self._event(db, service, environment, release_id,
                        "approval_granted" if decision == "approve" else "approval_rejected",
                        f"{who.name} {_PAST[decision]} {service} v{release.version} for "
                        f"{environment}" + (f": {comment}" if comment else ""),
                        {"promotion_id": promotion.id, "comment": comment}, actor=who.name)
            if decision == "reject":
                promotion.status, promotion.decided_at = "rejected", utcnow()
            elif (approvals or 0) >= promotion.required_approvals:
                promotion.status = "approved"
            _audit.cover(db, approval, promotion)
            promotion_id, status = promotion.id, promotion.status
        if status == "approved":
            return self._start_rollout(release_id, environment, actor=who.name,
                                       reason="promotion", promotion_id=promotion_id)
        return self._promotion_view_by_id(promotion_id)

    def promotions(self, status: str | None = None, service: str | None = None,
                   limit: int = 200, environment: str | None = None) -> list[dict[str, Any]]:
        """Promotions, newest first (e.g. status=waiting_for_approval for an approver)."""
        if environment:
            self._environment(environment)
        with self.sessions() as db:
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
            approvals = _approvals_by_promotion(db, [p.id for p, _, _ in rows])
            return [_promotion_view(p, name, version, approvals.get(p.id, []))
                    for p, version, name in rows]

    def promotion(self, promotion_id: str) -> dict[str, Any]:
        with self.sessions() as db:
            if db.get(PromotionRow, promotion_id) is None:
                raise NotFound(f"no promotion {promotion_id!r}",
                               "list them with `goldenpath approvals`")
        return self._promotion_view_by_id(promotion_id)

    def check_policies(self, release_id: str, environment: str) -> dict[str, Any]:
        """Evaluate `environment`'s policies for a release without promoting it."""
        env = self._environment(environment)
        with self.sessions() as db:
            release, service = self._release(db, release_id)
            return self._evaluate(db, release, service, self._team(db, release), environment,
                                  env)

    def _evaluate(self, db: Session, release: ReleaseRow, service: str, team: str,
                  environment: str, env: EnvironmentConfig) -> dict[str, Any]:
        # where it ran = where a rollout of it succeeded, not merely started
        deployed_in = live_environments(db, release.id)
        view = {"service": service, "kind": release.kind, "team": team,
                "version": release.version, "digest": release.digest, "image": release.image,
                "spec": release.spec, "deployed_in": deployed_in}
        path = list(self.config.environments)
        previous = path[path.index(environment) - 1] if path.index(environment) > 0 else ""
        context = policy_context(view, release.evidence or {}, environment, env,
                                 self.config.pricing, previous, release.evidence_sources or {})
        return self.policies.evaluate(context, release.kind, environment,
                                      dict(env.policies.actions), env.policies.default_action)

    # -- evidence ----------------------------------------------------------------------
    def attach_evidence(self, release_id: str, evidence: dict[str, Any], *,
                        actor: Principal | str) -> dict[str, Any]:
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
        with self._tx() as db:
            release, service = self._release(db, release_id)
            who.require("submitter", self._team(db, release),
                        f"attach evidence to {service}")
            release.evidence, release.evidence_sources = declare(
                release.evidence or {}, release.evidence_sources or {}, evidence, who.name)
            self._event(db, service, "", release_id, "evidence_attached",
                        f"{who.name} attached {', '.join(sorted(evidence))} to {service} "
                        f"v{release.version}", {"keys": sorted(evidence),
                                                "card_sha256": _sha(evidence.get("card"))},
                        actor=who.name)
            _audit.cover(db, release)
            attached = {**release.evidence, "sources": dict(release.evidence_sources)}
        if "lineage" in evidence:
            self._register_model(release_id)
        return attached

    def evidence(self, release_id: str) -> dict[str, Any]:
        """The release's evidence, with `sources`: per item, verified by the server or
        declared by whom."""
        with self.sessions() as db:
            release, _ = self._release(db, release_id)
            return {**(release.evidence or {}), "sources": dict(release.evidence_sources or {})}

    # -- helpers -----------------------------------------------------------------------
    def _team(self, db: Session, release: ReleaseRow) -> str:
        svc = db.get(ServiceRow, release.service_id)
        return svc.team if svc is not None else ""

    def _restore_role(self, environment: str) -> str:
        """Rolling back or removing needs approver rights where promotions need approvals."""
        return "approver" if self._environment(environment).approvals else "submitter"

    def _last_promotion(self, db: Session, release_id: str | None,
                        environment: str) -> str | None:
        if not release_id:
            return None
        return db.scalar(select(PromotionRow.id).where(
            PromotionRow.release_id == release_id, PromotionRow.environment == environment,
            PromotionRow.status == "deployed").order_by(PromotionRow.created_at.desc()).limit(1))

    def _governance_of(self, db: Session, release: ReleaseRow) -> dict[str, Any]:
        """Policy results and approvals of every promotion of a release (for its view)."""
        promotions = db.scalars(select(PromotionRow).where(
            PromotionRow.release_id == release.id).order_by(PromotionRow.created_at)).all()
        approvals = _approvals_by_promotion(db, [p.id for p in promotions])
        return {"promotions": [{"id": p.id, "environment": p.environment, "status": p.status,
                                "requested_by": p.requested_by,
                                "policy_outcome": p.policy_outcome} for p in promotions],
                "policy_results": [{**r, "environment": p.environment}
                                   for p in promotions
                                   for r in (p.policy_results or {}).get("results", [])],
                "approvals": [{**a, "environment": p.environment} for p in promotions
                              for a in approvals.get(p.id, [])]}

    def _promotion_view_by_id(self, promotion_id: str) -> dict[str, Any]:
        with self.sessions() as db:
            promotion = db.get(PromotionRow, promotion_id)
            assert promotion is not None
            release, service = self._release(db, promotion.release_id)
            approvals = _approvals_by_promotion(db, [promotion_id]).get(promotion_id, [])
            return _promotion_view(promotion, service, release.version, approvals)

def _approvals_by_promotion(db: Session, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    if not ids:
        return found
    for row in db.scalars(select(ApprovalRow).where(ApprovalRow.promotion_id.in_(ids))
                          .order_by(ApprovalRow.at)):
        found.setdefault(row.promotion_id, []).append(
            {"user": row.user, "decision": row.decision, "comment": row.comment,
             "at": row.at.isoformat()})
    return found


def _promotion_view(row: PromotionRow, service: str, version: int,
                    approvals: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": row.id, "service": service, "release_id": row.release_id,
            "release_version": version, "environment": row.environment, "status": row.status,
            "requested_by": row.requested_by, "required_approvals": row.required_approvals,
            "approvals": approvals, "policy_outcome": row.policy_outcome,
            "policy_results": (row.policy_results or {}).get("results", []),
            "created_at": row.created_at.isoformat(),
            "decided_at": row.decided_at.isoformat() if row.decided_at else None}


def _promotion_message(service: str, version: int, environment: str, status: str, who: str,
                       approvals: int) -> str:
    if status == WAITING:
        return (f"{who} asked to promote {service} v{version} to {environment}: waiting for "
                f"{approvals} approval{'s' if approvals != 1 else ''}")
    if status == "denied":
        return f"policies denied {service} v{version} in {environment}"
    return f"{who} promoted {service} v{version} to {environment}"


def _sha(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


__all__ = ["WAITING", "Governance"]
