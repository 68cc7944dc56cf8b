"""The audit trail: every state change is an event chained to the one before by SHA-256.

Each event's hash covers its own fields and the previous event's hash; `audit_head` keeps the
last sequence number and hash. Editing a row breaks its hash, deleting one breaks the chain
(a gap in `seq`, a `prev_hash` that no longer matches), cutting the tail breaks the head.
Record the head (`goldenpath audit verify` prints it) somewhere else to also catch a
rewrite of the whole chain.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from goldenpath_server._db import AuditHeadRow, EventRow, utcnow

GENESIS = "0" * 64
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
    return row


def event_view(row: EventRow) -> dict[str, Any]:
    return {"id": row.id, "seq": row.seq, "at": row.at.isoformat(), "actor": row.actor,
            "service": row.service, "environment": row.environment,
            "release_id": row.release_id, "type": row.type, "message": row.message,
            "data": row.data, "hash": row.hash}


def verify(db: Session, batch: int = 1000) -> dict[str, Any]:
    """Walk the chain in order; report every row whose hash, link or position is wrong."""
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
        expected_seq, prev = row.seq + 1, row.hash
    head = db.get(AuditHeadRow, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if (head_seq, head_hash) != (expected_seq - 1, prev):
        problems.append({"id": None, "seq": head_seq, "problem":
                         f"the chain ends at {expected_seq - 1} but the head says {head_seq}: "
                         "events at the end were removed or the head was changed"})
    return {"ok": not problems, "events": count, "head": {"seq": head_seq, "hash": head_hash},
            "problems": problems[:100]}
