"""Oversight: what operators and auditors read. The inventory, the audit trail and its
events (SSE, webhooks), and the platform's delivery metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from goldenpath_server import _audit
from goldenpath_server._audit import event_view
from goldenpath_server._db import AuditHeadRow, DeploymentRow, EventRow
from goldenpath_server._environments import Environments
from goldenpath_server._inventory import Key, inventory, to_csv
from goldenpath_server._metrics import render as render_metrics
from goldenpath_server._metrics import render_drift
from goldenpath_server._slo_watch import render_slos
from goldenpath_server._store import Store


class Oversight:
    def __init__(self, store: Store, environments: Environments,
                 audit_head_file: Path | None,
                 drift: dict[tuple[str, str], dict[str, Any]] | None = None,
                 slos: dict[tuple[str, str], list[dict[str, Any]]] | None = None) -> None:
        self.store = store
        self.environments = environments
        self._head_file = audit_head_file
        self._drift = drift if drift is not None else {}  # the newest window per deployment
        self._slos = slos if slos is not None else {}  # the newest burn rates per deployment

    # -- inventory ---------------------------------------------------------------------
    def inventory(self, environment: str | None = None) -> list[dict[str, Any]]:
        """Per environment: every service, its release, since when, approvers, evidence."""
        return self.inventory_page(environment)[0]

    def inventory_page(self, environment: str | None = None, limit: int | None = None,
                       after: Key | None = None) -> tuple[list[dict[str, Any]], Key | None]:
        """One page of the inventory (all of it when limit is None) and the next page's key."""
        if environment:
            self.environments.check(environment)
        with self.store.connect() as db:
            return inventory(db, environment, limit, after)

    def inventory_csv(self, environment: str | None = None) -> str:
        return to_csv(self.inventory(environment))

    def change_marker(self) -> str:
        """Changes whenever a listing (inventory, services) may have changed: the audit
        chain's head plus the latest deployment update (a restart claim writes no event).

        Read from the database, not counted in this process: several server processes may
        share one PostgreSQL, and each must see the others' writes. Two indexed reads."""
        with self.store.connect() as db:
            seq, updated = db.execute(select(
                select(AuditHeadRow.seq).where(AuditHeadRow.id == 1).scalar_subquery(),
                select(func.max(DeploymentRow.updated_at)).scalar_subquery())).one()
        return f"{seq or 0}/{updated}"

    # -- events and figures ------------------------------------------------------------
    def events(self, service: str | None = None, after: int = 0,
               limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` events after id `after` (of `service`), oldest first."""
        with self.store.read() as db:
            query = select(EventRow).where(EventRow.id > after)
            if service:
                query = query.where(EventRow.service == service)
            rows = db.scalars(query.order_by(EventRow.id.desc()).limit(limit)).all()
            return [event_view(r) for r in reversed(rows)]

    def events_since(self, seq: int, limit: int = 200, service: str | None = None
                     ) -> list[dict[str, Any]]:
        """Audit events after chain position `seq`, in chain order (SSE and webhooks)."""
        with self.store.read() as db:
            query = select(EventRow).where(EventRow.seq > seq)
            if service:
                query = query.where(EventRow.service == service)
            rows = db.scalars(query.order_by(EventRow.seq).limit(limit)).all()
            return [event_view(r) for r in rows]

    def head_seq(self) -> int:
        with self.store.read() as db:
            head = db.get(AuditHeadRow, 1)
            return head.seq if head else 0

    def metrics(self) -> bytes:
        """Prometheus text: lead time, deployment frequency, change failure rate, time to
        restore, policy compliance, by track."""
        names = self.environments.names
        production = names[-1] if names else ""
        with self.store.read() as db:
            return render_metrics(db, production) + render_drift(self._drift) + \
                render_slos(self._slos)

    # -- audit -------------------------------------------------------------------------
    def verify_audit(self, heads: list[tuple[int, str]] | None = None) -> dict[str, Any]:
        """Walk the hash chain and re-hash the rows it covers; `ok` is False with the
        problems when a row was tampered with. `heads` (seq, hash) recorded elsewhere, and
        the head file's last line (when configured), must still be in the chain."""
        heads = list(heads or [])
        recorded = _audit.read_head(self._head_file) if self._head_file is not None else None
        if recorded is not None:
            heads.append(recorded)
        with self.store.read() as db:
            return _audit.verify(db, heads=heads)
