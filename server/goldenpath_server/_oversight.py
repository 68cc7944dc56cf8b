"""Oversight: what operators and auditors read and manage.

The inventory, the audit trail and its events (SSE, webhooks), the platform's metrics, users
and tokens, and the MLflow model registry. Platform inherits this class with Governance.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from goldenpath_server import _audit
from goldenpath_server._access import Principal, as_principal
from goldenpath_server._audit import event_view
from goldenpath_server._db import AuditHeadRow, DeploymentRow, EventRow
from goldenpath_server._evidence import verified
from goldenpath_server._governance import PlatformParts
from goldenpath_server._inventory import Key, inventory, to_csv
from goldenpath_server._metrics import render as render_metrics
from goldenpath_server._registry import RegistryError


class Oversight(PlatformParts):
    engine: Engine  # the Platform's; listings read through Core connections
    targets: dict[str, Any]

    # -- inventory ---------------------------------------------------------------------
    def inventory(self, environment: str | None = None) -> list[dict[str, Any]]:
        """Per environment: every service, its release, since when, approvers, evidence."""
        return self.inventory_page(environment)[0]

    def inventory_page(self, environment: str | None = None, limit: int | None = None,
                       after: Key | None = None) -> tuple[list[dict[str, Any]], Key | None]:
        """One page of the inventory (all of it when limit is None) and the next page's key."""
        if environment:
            self._environment(environment)
        with self.engine.connect() as db:
            return inventory(db, environment, limit, after)

    def inventory_csv(self, environment: str | None = None) -> str:
        return to_csv(self.inventory(environment))

    def change_marker(self) -> str:
        """Changes whenever a listing (inventory, services) may have changed: the audit
        chain's head plus the latest deployment update (a restart claim writes no event).

        Read from the database, not counted in this process: several server processes may
        share one PostgreSQL, and each must see the others' writes. Two indexed reads."""
        with self.engine.connect() as db:
            seq, updated = db.execute(select(
                select(AuditHeadRow.seq).where(AuditHeadRow.id == 1).scalar_subquery(),
                select(func.max(DeploymentRow.updated_at)).scalar_subquery())).one()
        return f"{seq or 0}/{updated}"

    def environments(self) -> list[dict[str, Any]]:
        """Each environment in promotion order, with the controls it enforces."""
        return [{"name": name, "target": env.target, "approvals": env.approvals,
                 "policies": env.policies.model_dump(),
                 "cannot_run": dict(getattr(self.targets.get(name), "cannot_run", {}))}
                for name, env in self.config.environments.items()]

    # -- events and figures ------------------------------------------------------------
    def events_since(self, seq: int, limit: int = 200, service: str | None = None
                     ) -> list[dict[str, Any]]:
        """Audit events after chain position `seq`, in chain order (SSE and webhooks)."""
        with self.sessions() as db:
            query = select(EventRow).where(EventRow.seq > seq)
            if service:
                query = query.where(EventRow.service == service)
            rows = db.scalars(query.order_by(EventRow.seq).limit(limit)).all()
            return [event_view(r) for r in rows]

    def head_seq(self) -> int:
        with self.sessions() as db:
            head = db.get(AuditHeadRow, 1)
            return head.seq if head else 0

    def metrics(self) -> bytes:
        """Prometheus text: lead time, deployment frequency, change failure rate, time to
        restore, policy compliance, by track."""
        production = list(self.config.environments)[-1] if self.config.environments else ""
        with self.sessions() as db:
            return render_metrics(db, production)

    # -- audit -------------------------------------------------------------------------
    def verify_audit(self, heads: list[tuple[int, str]] | None = None) -> dict[str, Any]:
        """Walk the hash chain and re-hash the rows it covers; `ok` is False with the
        problems when a row was tampered with. `heads` (seq, hash) recorded elsewhere, and
        the head file's last line (when configured), must still be in the chain."""
        heads = list(heads or [])
        head_file = self.settings.audit_head_file
        recorded = _audit.read_head(head_file) if head_file is not None else None
        if recorded is not None:
            heads.append(recorded)
        with self.sessions() as db:
            return _audit.verify(db, heads=heads)

    def record_token_use(self, who: Principal, action: str) -> None:
        """A token was used for a mutation: the audit trail says which, by whom, for what."""
        if not who.token_id:
            return
        how = (f"{who.delegated_by} acted for {who.name} with delegation token"
               if who.delegated_by else f"{who.name} used token")
        with self._tx() as db:
            self._event(db, "", "", "", "token_used", f"{how} {who.token_id} for {action}",
                        {"token_id": who.token_id, "action": action,
                         "delegated_by": who.delegated_by or None}, actor=who.name)

    # -- access ------------------------------------------------------------------------
    def grant(self, user: str, team: str, role: str, *, actor: Principal | str
              ) -> dict[str, Any]:
        who = as_principal(actor)
        who.require("admin", "*", "manage users")
        with self._tx() as db:
            view = self.access.grant(db, user, team, role)
            self._event(db, "", "", "", "role_granted", f"{who.name} made {user} {role} of "
                        f"team {team}", {"user": user, "team": team, "role": role},
                        actor=who.name)
            _audit.cover(db, *self.access.user_rows(db, user))
            return view

    def revoke_role(self, user: str, team: str, *, actor: Principal | str) -> dict[str, Any]:
        who = as_principal(actor)
        who.require("admin", "*", "manage users")
        with self._tx() as db:
            view, removed = self.access.revoke_role(db, user, team)
            self._event(db, "", "", "", "role_revoked", f"{who.name} removed {user}'s role "
                        f"in team {team}", {"user": user, "team": team}, actor=who.name)
            _audit.cover(db, *self.access.user_rows(db, user), deleted=tuple(removed))
            return view

    def create_token(self, user: str, name: str = "", *, actor: Principal | str,
                     kind: str = "user") -> dict[str, Any]:
        """A token for `user` (kind `delegation`: for a service that signs users in and acts
        for them, such as the Jupyter extension; it creates its service user)."""
        who = as_principal(actor)
        who.require("admin", "*", "create API tokens")
        with self._tx() as db:
            token, row = self.access.create_token(db, user, name, kind)
            what = "delegation token" if kind == "delegation" else "token"
            self._event(db, "", "", "", "token_created", f"{who.name} created {what} "
                        f"{token['id']} for {user}", {"token_id": token["id"], "user": user,
                                                      "kind": kind}, actor=who.name)
            _audit.cover(db, *self.access.user_rows(db, user))
            return token

    def revoke_token(self, token_id: str, *, actor: Principal | str) -> dict[str, Any]:
        who = as_principal(actor)
        who.require("admin", "*", "revoke API tokens")
        with self._tx() as db:
            view, row = self.access.revoke_token(db, token_id)
            self._event(db, "", "", "", "token_revoked", f"{who.name} revoked token "
                        f"{token_id}", {"token_id": token_id}, actor=who.name)
            _audit.cover(db, row)
            return view

    def users(self, *, actor: Principal | str) -> list[dict[str, Any]]:
        as_principal(actor).require("admin", "*", "list users")
        with self.sessions() as db:
            return self.access.list_users(db)

    # -- the MLflow model registry (when configured) ----------------------------------
    def _went_live(self, release_id: str, environment: str) -> None:
        """Move the environment's alias to this release's model version."""
        registered = self._register_model(release_id)
        if registered is None or self.registry is None:
            return
        try:
            self.registry.set_alias(registered["name"], environment, registered["version"])
            kind, message = "registry_alias_moved", (
                f"MLflow alias {environment} → {registered['name']} "
                f"version {registered['version']}")
        except RegistryError as exc:
            kind, message = "registry_failed", str(exc)
        with self._tx() as db:
            release, service = self._release(db, release_id)
            self._event(db, service, environment, release_id, kind, message,
                        {"model_version": registered["version"]})

    def _register_model(self, release_id: str) -> dict[str, Any] | None:
        if self.registry is None:
            return None
        with self.sessions() as db:
            release, service = self._release(db, release_id)
            if release.kind != "model":
                return None
            if (release.evidence or {}).get("mlflow"):
                return dict(release.evidence["mlflow"])
            view = {"id": release.id, "digest": release.digest, "version": release.version}
            lineage = dict((release.evidence or {}).get("lineage") or {})
        try:
            registered: dict[str, Any] | None = self.registry.register(service, view, lineage)
            kind, message = "registry_registered", (
                f"registered {service} v{view['version']} as MLflow model version "
                f"{registered['version']}" if registered else "")
        except RegistryError as exc:
            registered, kind, message = None, "registry_failed", str(exc)
        with self._tx() as db:
            release, service = self._release(db, release_id)
            if registered is not None:
                release.evidence, release.evidence_sources = (
                    {**(release.evidence or {}), "mlflow": registered},
                    {**(release.evidence_sources or {}),
                     **verified({"mlflow": registered}, "registered by the server")[1]})
                release.registry_uri = registered["uri"]
            self._event(db, service, "", release_id, kind, message, registered)
            _audit.cover(db, release)
        return registered


