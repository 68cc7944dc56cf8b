"""Rows as the API shows them (the shapes of goldenpath_api.models), in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from goldenpath_server._db import (
    ApprovalRow,
    DeploymentRow,
    PromotionRow,
    ReleaseRow,
    RolloutRow,
    ServiceRow,
)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def service_view(row: Any) -> dict[str, Any]:
    """A ServiceRow, or a Core row with its columns' names."""
    return {"name": row.name, "kind": row.kind, "team": row.team,
            "created_at": iso(row.created_at)}


def release_view(row: ReleaseRow, service: str) -> dict[str, Any]:
    return {"id": row.id, "service": service, "version": row.version, "kind": row.kind,
            "digest": row.digest, "size": row.size, "image": row.image,
            "bento_tag": row.bento_tag, "schema": row.spec.get("schema"),
            "spec": row.spec, "created_by": row.created_by, "created_at": iso(row.created_at),
            "evidence": row.evidence, "evidence_sources": row.evidence_sources}


# A deployment with its release's version and digest, labelled as deployment_view reads them.
DEPLOYMENTS = (select(DeploymentRow.environment, DeploymentRow.status, DeploymentRow.url,
                      DeploymentRow.message, DeploymentRow.release_id,
                      DeploymentRow.previous_release_id, DeploymentRow.target,
                      DeploymentRow.promotion_id, DeploymentRow.live_since,
                      DeploymentRow.updated_at, ReleaseRow.version, ReleaseRow.digest,
                      ServiceRow.name.label("service"), RolloutRow.strategy,
                      RolloutRow.progress)
               .join(ServiceRow, ServiceRow.id == DeploymentRow.service_id)
               .join(ReleaseRow, ReleaseRow.id == DeploymentRow.release_id)
               .outerjoin(RolloutRow, RolloutRow.id == DeploymentRow.rollout_id))


def deployment_view(row: DeploymentRow, release: ReleaseRow, service: str,
                    rollout: Any = None) -> dict[str, Any]:
    """`rollout` (its strategy and progress) says how the rollout now or last stands."""
    progress = (getattr(rollout, "progress", None) or {})
    return {"strategy": getattr(rollout, "strategy", None) or "rolling",
            "progression": str(progress.get("state") or ""), "service": service,
            "environment": row.environment, "status": row.status,
            "url": row.url, "message": row.message, "release_id": row.release_id,
            "release_version": release.version, "digest": release.digest,
            "previous_release_id": row.previous_release_id, "target": row.target,
            "promotion_id": row.promotion_id, "live_since": iso(row.live_since),
            "updated_at": iso(row.updated_at)}


def deployment_row_view(row: Any) -> dict[str, Any]:
    """The view of a Core row of DEPLOYMENTS (its labels are the ORM rows' names)."""
    return deployment_view(row, row, row.service, row)


def rollout_view(row: RolloutRow, version: int) -> dict[str, Any]:
    return {"id": row.id, "environment": row.environment, "release_id": row.release_id,
            "release_version": version, "reason": row.reason, "status": row.status,
            "message": row.message, "started_by": row.started_by,
            "started_at": iso(row.started_at), "finished_at": iso(row.finished_at)}


def approvals_by_promotion(db: Session, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    if not ids:
        return found
    for row in db.scalars(select(ApprovalRow).where(ApprovalRow.promotion_id.in_(ids))
                          .order_by(ApprovalRow.at)):
        found.setdefault(row.promotion_id, []).append(
            {"user": row.user, "decision": row.decision, "comment": row.comment,
             "at": row.at.isoformat()})
    return found


def promotion_view(row: PromotionRow, service: str, version: int,
                   approvals: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": row.id, "service": service, "release_id": row.release_id,
            "release_version": version, "environment": row.environment, "status": row.status,
            "requested_by": row.requested_by, "required_approvals": row.required_approvals,
            "approvals": approvals, "policy_outcome": row.policy_outcome,
            "policy_results": (row.policy_results or {}).get("results", []),
            "created_at": row.created_at.isoformat(), "decided_at": iso(row.decided_at)}


def governance_of(db: Session, release: ReleaseRow) -> dict[str, Any]:
    """Policy results and approvals of every promotion of a release (for its view)."""
    promotions = db.scalars(select(PromotionRow).where(
        PromotionRow.release_id == release.id).order_by(PromotionRow.created_at)).all()
    approvals = approvals_by_promotion(db, [p.id for p in promotions])
    return {"promotions": [{"id": p.id, "environment": p.environment, "status": p.status,
                            "requested_by": p.requested_by,
                            "policy_outcome": p.policy_outcome} for p in promotions],
            "policy_results": [{**r, "environment": p.environment}
                               for p in promotions
                               for r in (p.policy_results or {}).get("results", [])],
            "approvals": [{**a, "environment": p.environment} for p in promotions
                          for a in approvals.get(p.id, [])]}
