"""The inventory: per environment, what runs, since when, approved by whom, on what evidence.

Core SELECTs of the shown columns only, through a Connection (no ORM entities, no JSON column
decoded): deployments joined with releases and services, then their promotions' approvals
in IN queries. Pages are keyset pages ordered by (environment, service)."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from goldenpath_server._db import ApprovalRow, DeploymentRow, PromotionRow, ReleaseRow, ServiceRow

COLUMNS = ("environment", "service", "kind", "team", "version", "release_id", "digest",
           "status", "since", "approved_by", "approved_at", "requested_by", "policy_outcome",
           "evidence_url", "card_url", "model_registry", "url")
_CHUNK = 900  # below SQLite's bound-parameter limit on old builds

Key = tuple[str, ...]  # where a page ends: the sort key of its last item


def inventory(db: Connection, environment: str | None = None, limit: int | None = None,
              after: Key | None = None) -> tuple[list[dict[str, Any]], Key | None]:
    """Up to `limit` items after key `after` (every item when limit is None), and the key
    to ask for the next page with (None on the last page)."""
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
    if after:
        env, name = after
        query = query.where(or_(DeploymentRow.environment > env,
                                and_(DeploymentRow.environment == env, ServiceRow.name > name)))
    if limit is not None:
        query = query.limit(limit + 1)  # one more tells whether a next page exists
    rows = db.execute(query).all()
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if more else rows
    promotions, approvals = _governance(db, sorted({r.promotion_id for r in rows
                                                    if r.promotion_id}))
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
    next_key = (rows[-1].environment, rows[-1].name) if more else None
    return items, next_key


def _governance(db: Connection, promotion_ids: list[str]
                ) -> tuple[dict[str, tuple[str, str]], dict[str, list[tuple[str, str]]]]:
    """Who asked for each promotion and its policy outcome; who approved it, in order."""
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
    return promotions, approvals


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
