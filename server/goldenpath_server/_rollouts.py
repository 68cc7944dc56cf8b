"""Rollouts: what runs where. Starting one (only once promotions let a release in), rolling
back to what ran before, removing, and reading a deployment's status, history and logs.
The rollout itself runs in Delivery."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from goldenpath_api.errors import Conflict, NotFound
from goldenpath_api.rules import DEPLOYED, LIVE, ROLLING_OUT
from goldenpath_server import _audit
from goldenpath_server._access import Actor, as_principal
from goldenpath_server._db import (
    DeploymentRow,
    PromotionRow,
    ReleaseRow,
    RolloutRow,
    ServiceRow,
    utcnow,
)
from goldenpath_server._delivery import Delivery
from goldenpath_server._environments import Environments
from goldenpath_server._history import live_environments, rollback_target
from goldenpath_server._store import Store
from goldenpath_server._views import (
    DEPLOYMENTS,
    deployment_row_view,
    deployment_view,
    rollout_view,
)


class Rollouts:
    def __init__(self, store: Store, environments: Environments, delivery: Delivery) -> None:
        self.store = store
        self.environments = environments
        self.delivery = delivery

    def start(self, release_id: str, environment: str, *, actor: str,
              reason: str = "deploy", promotion_id: str | None = None,
              from_version: int | None = None, strategy: str = "rolling",
              steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Start rolling `release_id` out to `environment`; returns at once (rolling_out).

        Only promotions (once policies and approvals let the release in) and rollback call
        this. A progressive `strategy` follows `steps` (_strategies.plan) beside the release
        live there; with none live, there is nothing to compare with: it rolls."""
        target = self.environments.target(environment)
        store = self.store
        with store.tx() as db:
            release, service = store.release(db, release_id)
            dep = db.scalar(select(DeploymentRow).where(
                DeploymentRow.service_id == release.service_id,
                DeploymentRow.environment == environment))
            rollout = RolloutRow(id=uuid.uuid4().hex[:16], service_id=release.service_id,
                                 environment=environment, release_id=release.id, reason=reason,
                                 status="running", promotion_id=promotion_id, started_by=actor,
                                 strategy="rolling", progress={})
            if dep is None:
                dep = DeploymentRow(service_id=release.service_id, environment=environment,
                                    release_id=release.id, status=ROLLING_OUT,
                                    promotion_id=promotion_id, rollout_id=rollout.id,
                                    target=target.name, target_state={})
                db.add(dep)
                try:
                    db.flush()
                except IntegrityError:
                    raise busy(service, environment) from None
            else:
                previous = dep.release_id if dep.status == LIVE else dep.previous_release_id
                claimed = db.execute(
                    update(DeploymentRow)
                    .where(DeploymentRow.id == dep.id, DeploymentRow.status != ROLLING_OUT)
                    .values(status=ROLLING_OUT, release_id=release.id, message="",
                            previous_release_id=previous, updated_at=utcnow(),
                            promotion_id=promotion_id, rollout_id=rollout.id))
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    raise busy(service, environment)
                db.refresh(dep)
            stable = dep.previous_release_id if dep.previous_release_id != release.id else None
            if strategy != "rolling" and steps is not None and stable:
                rollout.strategy = strategy
                rollout.progress = {"state": "starting", "steps": steps, "step": 0,
                                    "stable_release_id": stable, "failures": 0,
                                    "windows": [], "message": "starting the candidate"}
            db.add(rollout)
            covered: list[Any] = [dep, rollout]
            if promotion_id:
                db.execute(update(PromotionRow).where(PromotionRow.id == promotion_id)
                           .values(status=DEPLOYED, decided_at=utcnow()))
                promotion = db.get(PromotionRow, promotion_id)
                if promotion is not None:
                    db.refresh(promotion)
                    covered.append(promotion)
            what = (f"{actor} started rollback of {service} in {environment} from "
                    f"v{from_version} to v{release.version}" if reason == "rollback" else
                    f"{actor} started {reason} of {service} v{release.version} to "
                    f"{environment}") + (f" ({rollout.strategy})"
                                         if rollout.strategy != "rolling" else "")
            store.event(db, service, environment, release.id, f"{reason}_started", what,
                        {"promotion_id": promotion_id, "rollout_id": rollout.id,
                         "from_version": from_version, "strategy": rollout.strategy},
                        actor=actor)
            _audit.cover(db, *covered)
            view = deployment_view(dep, release, service, rollout)
        self.delivery.submit(release_id, environment)
        return view

    def rollback(self, service: str, environment: str, *, actor: Actor,
                 to: int | None = None) -> dict[str, Any]:
        """Put an earlier release back, with no rebuild: the one live before the current one
        (each rollback goes one further back), or version `to`. Either passed this
        environment's controls before: it went live here."""
        who = as_principal(actor)
        self.environments.check(environment)
        store = self.store
        with store.read() as db:
            svc = store.service(db, service)
            dep = store.deployment(db, svc, environment)
            who.require(self.environments.restore_role(environment), svc.team,
                        f"roll back {service} in {environment}")
            if to is None:
                target_release = rollback_target(db, svc.id, environment)
            else:
                target_release = _earlier_live(db, svc, environment, to)
            promotion_id = _last_promotion(db, target_release, environment)
            current = db.get(ReleaseRow, dep.release_id)
        if not target_release or target_release == dep.release_id:
            raise Conflict(f"{service} in {environment} has no earlier release to roll back to",
                           f"roll back to a version that ran here: goldenpath rollback "
                           f"{service} --env {environment} --to VERSION (goldenpath status "
                           f"{service} --env {environment} lists the history)")
        return self.start(target_release, environment, actor=who.name, reason="rollback",
                          promotion_id=promotion_id,
                          from_version=current.version if current else None)

    def status(self, service: str, environment: str) -> dict[str, Any]:
        """The deployment of `service` in `environment`: one indexed Core join."""
        with self.store.connect() as conn:
            row = conn.execute(DEPLOYMENTS.where(ServiceRow.name == service,
                                                 DeploymentRow.environment == environment)
                               ).first()
        if row is None:  # say which is missing: the environment, service or deployment
            self.environments.check(environment)
            with self.store.read() as db:
                self.store.deployment(db, self.store.service(db, service), environment)
        assert row is not None
        return deployment_row_view(row)

    def history(self, service: str, environment: str, limit: int = 50
                ) -> list[dict[str, Any]]:
        """The environment's rollouts of `service`, newest first: what went live, when, why
        (deploy, promotion, rollback) and by whom; what `rollback --to` can restore."""
        self.environments.check(environment)
        with self.store.read() as db:
            svc = self.store.service(db, service)
            rows = db.execute(select(RolloutRow, ReleaseRow.version)
                              .join(ReleaseRow, ReleaseRow.id == RolloutRow.release_id)
                              .where(RolloutRow.service_id == svc.id,
                                     RolloutRow.environment == environment)
                              .order_by(RolloutRow.started_at.desc()).limit(limit)).all()
            return [rollout_view(r, version) for r, version in rows]

    def logs(self, service: str, environment: str, tail: int = 200) -> list[str]:
        with self.store.read() as db:
            dep = self.store.deployment(db, self.store.service(db, service), environment)
            return self.environments.target(environment).logs(dep.target_state, tail)

    def undeploy(self, service: str, environment: str, *, actor: Actor) -> None:
        who = as_principal(actor)
        store = self.store
        with store.tx() as db:
            svc = store.service(db, service)
            dep = store.deployment(db, svc, environment)
            who.require(self.environments.restore_role(environment), svc.team,
                        f"remove {service} from {environment}")
            if dep.status == ROLLING_OUT:
                raise busy(service, environment)
            self.environments.target(environment).stop(dep.target_state)
            db.delete(dep)
            store.event(db, service, environment, dep.release_id, "undeployed",
                        f"{who.name} removed {service} from {environment}", actor=who.name)
            _audit.cover(db, deleted=(dep,))


def busy(service: str, environment: str) -> Conflict:
    return Conflict(f"{service} is already rolling out to {environment}",
                    "wait for that rollout to finish (goldenpath status), then retry")


def _earlier_live(db: Session, svc: ServiceRow, environment: str, version: int) -> str:
    release = db.scalar(select(ReleaseRow).where(ReleaseRow.service_id == svc.id,
                                                 ReleaseRow.version == version))
    if release is None:
        raise NotFound(f"{svc.name} has no v{version}", f"list its releases: goldenpath "
                       f"status {svc.name} --env {environment}")
    if environment not in live_environments(db, release.id):
        raise Conflict(f"{svc.name} v{version} never went live in {environment}: a "
                       "rollback only restores what passed this environment's controls",
                       f"promote it instead: goldenpath promote {svc.name} --to "
                       f"{environment}")
    return release.id


def _last_promotion(db: Session, release_id: str | None, environment: str) -> str | None:
    """The promotion that let `release_id` into `environment` (a rollback cites it)."""
    if not release_id:
        return None
    return db.scalar(select(PromotionRow.id).where(
        PromotionRow.release_id == release_id, PromotionRow.environment == environment,
        PromotionRow.status == DEPLOYED).order_by(PromotionRow.created_at.desc()).limit(1))
