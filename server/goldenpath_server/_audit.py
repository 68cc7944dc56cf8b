"""The audit trail: every state change is an event chained to the one before by SHA-256.

Each event's hash covers its own fields and the previous event's hash; `audit_head` keeps the
last sequence number and hash. Editing an event breaks its hash, deleting one breaks the
chain (a gap in `seq`, a `prev_hash` that no longer matches), cutting the tail breaks the
head.

The rows decisions rest on (releases and their evidence, promotions, approvals,
deployments, rollouts, services, users, role bindings, tokens) are covered too: the event
that records a change carries the SHA-256 of each changed row's canonical content
(`data.records`), so `verify` re-hashes every such row and names each one edited (or
deleted, or added) behind the platform's back.

Someone able to rewrite the whole database can recompute everything: keep the head outside
it too (`audit_head_file`, a webhook sink, or the head `goldenpath audit verify` prints).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from goldenpath_server._db import (
    ApprovalRow,
    AuditHeadRow,
    Base,
    DeploymentRow,
    EventRow,
    PromotionRow,
    ReleaseRow,
    RoleBindingRow,
    RolloutRow,
    ServiceRow,
    TokenRow,
    UserRow,
    utcnow,
)

GENESIS = "0" * 64
# The rows decisions rest on, with the columns whose change the trail must explain (not
# bookkeeping such as a token's last use or a deployment's heartbeat).
COVERED: dict[type[Base], tuple[str, ...]] = {
    ServiceRow: ("id", "name", "kind", "team", "created_at"),
    ReleaseRow: ("id", "service_id", "version", "kind", "digest", "size", "image",
                 "bento_tag", "spec", "created_by", "created_at", "evidence",
                 "evidence_sources", "registry_uri"),
    PromotionRow: ("id", "release_id", "environment", "status", "requested_by",
                   "required_approvals", "policy_outcome", "policy_results", "created_at",
                   "decided_at"),
    ApprovalRow: ("id", "promotion_id", "user", "decision", "comment", "at"),
    DeploymentRow: ("id", "service_id", "environment", "release_id", "previous_release_id",
                    "status", "promotion_id", "live_since", "rollout_id", "url"),
    RolloutRow: ("id", "service_id", "environment", "release_id", "reason", "status",
                 "promotion_id", "started_by", "started_at", "finished_at"),
    UserRow: ("id", "name", "created_at"),
    RoleBindingRow: ("id", "user_id", "team", "role"),
    TokenRow: ("id", "user_id", "name", "token_hash", "kind", "created_at", "revoked_at"),
}
# Columns added after rows were first hashed, with their default: hashed only when set, so
# a row hashed before they existed still verifies
LATER: dict[type[Base], dict[str, Any]] = {
    PromotionRow: {"delivery": {}},
    RolloutRow: {"strategy": "rolling", "progress": {}},
}
_FIELDS = ("seq", "at", "actor", "type", "service", "environment", "release_id", "message",
           "data", "prev_hash")


def _canonical_time(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the event's canonical JSON (the fields named in _FIELDS)."""
    body = {k: fields.get(k) for k in _FIELDS}
    body["at"] = _canonical_time(body["at"]) if isinstance(body["at"], datetime) else body["at"]
    body["data"] = body["data"] or {}
    body["actor"] = body["actor"] or ""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    return _canonical_time(value) if isinstance(value, datetime) else value


def row_hash(row: Base) -> str:
    """SHA-256 over the canonical JSON of a covered row's columns (COVERED)."""
    body = {k: _canonical(getattr(row, k)) for k in COVERED[type(row)]}
    for name, default in LATER.get(type(row), {}).items():
        value = getattr(row, name)
        if value not in (default, None):
            body[name] = _canonical(value)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _record(row: Base, deleted: bool = False) -> dict[str, Any]:
    return {"table": type(row).__tablename__, "id": str(row.id),  # type: ignore[attr-defined]
            "sha256": None if deleted else row_hash(row)}


def cover(db: Session, *rows: Base, deleted: tuple[Base, ...] = ()) -> None:
    """Record the content hash of `rows` (as they are now) in this transaction's last event.

    Call it after the last change to them in the transaction: the event is the chain's head,
    so its hash (and the head's) is recomputed to cover the records."""
    event: EventRow | None = db.info.get("gp_event")
    assert event is not None, "cover() needs an event appended in this transaction"
    db.flush()  # defaults (ids, timestamps) are set
    records = {(r["table"], r["id"]): r for r in (event.data or {}).get("records", [])}
    for row in rows:
        records[(type(row).__tablename__, str(row.id))] = _record(row)  # type: ignore
    for row in deleted:
        records[(type(row).__tablename__, str(row.id))] = _record(row, True)  # type: ignore
    event.data = {**(event.data or {}), "records": list(records.values())}
    event.hash = event_hash({k: getattr(event, k) for k in _FIELDS})
    head = db.get(AuditHeadRow, 1)
    assert head is not None and head.seq == event.seq
    head.hash = event.hash
    db.flush()


def append(db: Session, *, service: str, environment: str, release_id: str, kind: str,
           message: str, data: dict[str, Any] | None, actor: str) -> EventRow:
    """Add an event at the head of the chain, inside the caller's transaction.

    The head row is locked (FOR UPDATE on PostgreSQL; SQLite writers are serialised by the
    Platform), so two transactions can never both extend the same head."""
    head = db.scalar(select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update())
    if head is None:
        head = AuditHeadRow(id=1, seq=0, hash=GENESIS)
        db.add(head)
    at = utcnow()
    seq = head.seq + 1
    row = EventRow(seq=seq, at=at, actor=actor, service=service,
                   environment=environment, release_id=release_id, type=kind,
                   message=message, data=json.loads(json.dumps(data or {}, default=str)),
                   prev_hash=head.hash or GENESIS)
    row.hash = event_hash({k: getattr(row, k) for k in _FIELDS})
    head.seq, head.hash = seq, row.hash
    db.add(row)
    db.flush()
    db.info["gp_event"] = row  # what cover() extends
    return row


def write_head(path: Path, seq: int | None, digest: str) -> None:
    """Append the chain's head to `path` (outside the database: another volume, a file a
    log shipper follows); `verify` checks the chain still holds it."""
    with open(path, "a") as fh:
        fh.write(f"{seq} {digest}\n")


def read_head(path: Path) -> tuple[int, str] | None:
    """The last head written to `path`, if any."""
    try:
        lines = path.read_text().split("\n")
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        seq, _, digest = line.strip().partition(" ")
        if seq.isdigit() and len(digest) == 64:
            return int(seq), digest
    return None


def baseline(db: Session, batch: int = 500) -> int:
    """Cover every covered row no event has recorded yet (rows from before the trail covered
    them): "audit_coverage_started" events, once. Returns how many rows it recorded."""
    recorded = _recorded(db)
    pending = [row for cls in COVERED for row in db.scalars(select(cls))
               if (cls.__tablename__, str(row.id)) not in recorded]  # type: ignore[attr-defined]
    for start in range(0, len(pending), batch):
        chunk = pending[start:start + batch]
        append(db, service="", environment="", release_id="", kind="audit_coverage_started",
               message=f"the audit trail now covers {len(chunk)} earlier rows", data={},
               actor="system")
        cover(db, *chunk)
    return len(pending)


def _recorded(db: Session) -> dict[tuple[str, str], str | None]:
    """(table, id) -> the content hash the latest event recorded (None: deleted)."""
    found: dict[tuple[str, str], str | None] = {}
    query = select(EventRow.data).where(EventRow.seq.is_not(None)).order_by(EventRow.seq)
    for data in db.scalars(query.execution_options(yield_per=1000)):
        for r in (data or {}).get("records", []):
            found[(r["table"], r["id"])] = r["sha256"]
    return found


def event_view(row: EventRow) -> dict[str, Any]:
    return {"id": row.id, "seq": row.seq, "at": row.at.isoformat(), "actor": row.actor,
            "service": row.service, "environment": row.environment,
            "release_id": row.release_id, "type": row.type, "message": row.message,
            "data": row.data, "hash": row.hash}


def verify(db: Session, batch: int = 1000, heads: list[tuple[int, str]] | None = None
           ) -> dict[str, Any]:
    """Walk the chain in order; report every event whose hash, link or position is wrong,
    every covered row that changed behind the trail, and every head recorded elsewhere
    (`heads`: (seq, hash)) the chain no longer holds."""
    expected_heads = dict(heads or [])
    problems: list[dict[str, Any]] = []
    expected_seq, prev, count = 1, GENESIS, 0
    unchained = db.scalars(select(EventRow.id).where(EventRow.seq.is_(None)).limit(20)).all()
    for event_id in unchained:
        problems.append({"id": event_id, "seq": None, "problem": "event is not in the chain"})
    query = select(EventRow).where(EventRow.seq.is_not(None)).order_by(EventRow.seq)
    for row in db.scalars(query.execution_options(yield_per=batch)):
        count += 1
        assert row.seq is not None
        if row.seq != expected_seq:
            problems.append({"id": row.id, "seq": row.seq, "problem":
                             f"events {expected_seq}..{row.seq - 1} are missing (deleted)"})
        if row.prev_hash != prev:
            problems.append({"id": row.id, "seq": row.seq,
                             "problem": "does not link to the event before it"})
        if event_hash({k: getattr(row, k) for k in _FIELDS}) != row.hash:
            problems.append({"id": row.id, "seq": row.seq,
                             "problem": "content changed after it was written"})
        if row.seq in expected_heads and expected_heads.pop(row.seq) != row.hash:
            problems.append({"id": row.id, "seq": row.seq, "problem":
                             "differs from the head recorded outside the database: the chain "
                             "was rewritten from here on"})
        expected_seq, prev = row.seq + 1, row.hash
    head = db.get(AuditHeadRow, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if (head_seq, head_hash) != (expected_seq - 1, prev):
        problems.append({"id": None, "seq": head_seq, "problem":
                         f"the chain ends at {expected_seq - 1} but the head says {head_seq}: "
                         "events at the end were removed or the head was changed"})
    for seq in sorted(expected_heads):
        problems.append({"id": None, "seq": seq, "problem":
                         f"the head recorded outside the database ({seq}) is not in the chain: "
                         "events were removed or the chain was rewritten"})
    rows = _verify_rows(db, problems)
    return {"ok": not problems, "events": count, "rows": rows,
            "head": {"seq": head_seq, "hash": head_hash}, "problems": problems[:100]}


def _verify_rows(db: Session, problems: list[dict[str, Any]]) -> int:
    """Re-hash every covered row against the trail's record of it; count the rows checked."""
    recorded = _recorded(db)
    seen: set[tuple[str, str]] = set()
    checked = 0
    for cls in COVERED:
        table = cls.__tablename__
        for row in db.scalars(select(cls).execution_options(yield_per=1000)):
            key = (table, str(row.id))  # type: ignore[attr-defined]
            seen.add(key)
            checked += 1
            expected = recorded.get(key, "")
            if expected == "":
                problems.append({"table": table, "row": key[1], "problem":
                                 f"{_name(row)} was added outside the platform: no event "
                                 "records it"})
            elif expected is None:
                problems.append({"table": table, "row": key[1], "problem":
                                 f"{_name(row)} was deleted through the platform but exists "
                                 "again"})
            elif row_hash(row) != expected:
                problems.append({"table": table, "row": key[1], "problem":
                                 f"{_name(row)} was changed after the trail recorded it"})
    for (table, row_id), digest in recorded.items():
        if digest is not None and (table, row_id) not in seen:
            problems.append({"table": table, "row": row_id, "problem":
                             f"{table} row {row_id} was deleted outside the platform"})
    return checked


def _name(row: Base) -> str:
    """A row as a person recognises it in a problem report."""
    table = type(row).__tablename__
    if isinstance(row, ReleaseRow):
        return f"release {row.id} (v{row.version}, {row.digest[:19]}…)"
    if isinstance(row, PromotionRow):
        return f"promotion {row.id} ({row.environment}, {row.status})"
    if isinstance(row, ApprovalRow):
        return f"approval {row.id} by {row.user} ({row.decision}) of promotion {row.promotion_id}"
    if isinstance(row, DeploymentRow):
        return f"deployment {row.id} ({row.environment}, {row.status})"
    return f"{table} row {row.id}"  # type: ignore[attr-defined]
