"""The inventory: per environment, what runs, since when, approved by whom, on what evidence.

Three queries whatever the size (deployments joined with releases and services, then their
promotions' approvals in one IN query), reading only the columns shown."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from goldenpath_server._db import ApprovalRow, DeploymentRow, PromotionRow, ReleaseRow, ServiceRow

COLUMNS = ("environment", "service", "kind", "team", "version", "release_id", "digest",
           "status", "since", "approved_by", "approved_at", "requested_by", "policy_outcome",
           "evidence_url", "card_url", "model_registry", "url")
_CHUNK = 900  # below SQLite's bound-parameter limit on old builds


def inventory(db: Session, environment: str | None = None) -> list[dict[str, Any]]:
    query = (select(DeploymentRow.environment, DeploymentRow.status, DeploymentRow.url,
                    DeploymentRow.live_since, DeploymentRow.updated_at,
                    DeploymentRow.promotion_id, ReleaseRow.id, ReleaseRow.version,
                    ReleaseRow.kind, ReleaseRow.digest, ReleaseRow.created_by,
                    ReleaseRow.registry_uri,
                    ServiceRow.name, ServiceRow.team)
             .join(ReleaseRow, ReleaseRow.id == DeploymentRow.release_id)
             .join(ServiceRow, ServiceRow.id == DeploymentRow.service_id)
             .order_by(DeploymentRow.environment, ServiceRow.name))
    if environment:
        query = query.where(DeploymentRow.environment == environment)
    rows = db.execute(query).all()
    promotion_ids = sorted({r.promotion_id for r in rows if r.promotion_id})
    promotions: dict[str, tuple[str, str]] = {}
    approvals: dict[str, list[tuple[str, str]]] = {}
    for start in range(0, len(promotion_ids), _CHUNK):
        chunk = promotion_ids[start:start + _CHUNK]
        for pid, requested_by, outcome in db.execute(select(
                PromotionRow.id, PromotionRow.requested_by, PromotionRow.policy_outcome)
                .where(PromotionRow.id.in_(chunk))):
            promotions[pid] = (requested_by, outcome)
        for pid, user, at in db.execute(select(ApprovalRow.promotion_id, ApprovalRow.user,
                                               ApprovalRow.at)
                                        .where(ApprovalRow.promotion_id.in_(chunk),
                                               ApprovalRow.decision == "approve")
                                        .order_by(ApprovalRow.at)):
            approvals.setdefault(pid, []).append((user, at.isoformat()))
    items = []
    for r in rows:
        requested_by, outcome = promotions.get(r.promotion_id or "", ("", ""))
        approved = approvals.get(r.promotion_id or "", [])
        base = f"/api/v1/releases/{r.id}"
        items.append({
            "environment": r.environment, "service": r.name, "kind": r.kind, "team": r.team,
            "version": r.version, "release_id": r.id, "digest": r.digest, "status": r.status,
            "url": r.url, "since": (r.live_since or r.updated_at).isoformat(),
            "approved_by": [u for u, _ in approved],
            "approved_at": approved[-1][1] if approved else None,
            "requested_by": requested_by or r.created_by, "policy_outcome": outcome or None,
            "model_registry": r.registry_uri or None,
            "evidence": {"release": base, "evidence": f"{base}/evidence",
                         "policies": f"{base}/policies?environment={r.environment}",
                         "card": f"{base}/evidence#card"}})
    return items


def to_csv(items: list[dict[str, Any]]) -> str:
    """The inventory as CSV for auditors: one row per service and environment."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for item in items:
        writer.writerow([
            item["environment"], item["service"], item["kind"], item["team"],
            item["version"], item["release_id"], item["digest"], item["status"], item["since"],
            ";".join(item["approved_by"]), item["approved_at"] or "", item["requested_by"],
            item["policy_outcome"] or "", item["evidence"]["evidence"],
            item["evidence"]["card"], item["model_registry"] or "",
            item["url"]])
    return out.getvalue()
