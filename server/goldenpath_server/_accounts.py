"""Accounts: the audited administration of users, roles and tokens (admins only), and the
trail of which token made which change. Who a caller is and may do is in _access."""

from __future__ import annotations

from typing import Any

from goldenpath_server import _audit
from goldenpath_server._access import Access, Actor, Principal, as_principal
from goldenpath_server._store import Store


class Accounts:
    def __init__(self, store: Store, access: Access) -> None:
        self.store = store
        self.access = access

    def grant(self, user: str, team: str, role: str, *, actor: Actor) -> dict[str, Any]:
        who = as_principal(actor)
        who.require("admin", "*", "manage users")
        with self.store.tx() as db:
            view = self.access.grant(db, user, team, role)
            self.store.event(db, "", "", "", "role_granted", f"{who.name} made {user} {role} "
                             f"of team {team}", {"user": user, "team": team, "role": role},
                             actor=who.name)
            _audit.cover(db, *self.access.user_rows(db, user))
            return view

    def revoke_role(self, user: str, team: str, *, actor: Actor) -> dict[str, Any]:
        who = as_principal(actor)
        who.require("admin", "*", "manage users")
        with self.store.tx() as db:
            view, removed = self.access.revoke_role(db, user, team)
            self.store.event(db, "", "", "", "role_revoked", f"{who.name} removed {user}'s "
                             f"role in team {team}", {"user": user, "team": team},
                             actor=who.name)
            _audit.cover(db, *self.access.user_rows(db, user), deleted=tuple(removed))
            return view

    def create_token(self, user: str, name: str = "", *, actor: Actor,
                     kind: str = "user") -> dict[str, Any]:
        """A token for `user` (kind `delegation`: for a service that signs users in and acts
        for them, such as the Jupyter extension; it creates its service user)."""
        who = as_principal(actor)
        who.require("admin", "*", "create API tokens")
        with self.store.tx() as db:
            token, row = self.access.create_token(db, user, name, kind)
            what = "delegation token" if kind == "delegation" else "token"
            self.store.event(db, "", "", "", "token_created", f"{who.name} created {what} "
                             f"{token['id']} for {user}",
                             {"token_id": token["id"], "user": user, "kind": kind},
                             actor=who.name)
            _audit.cover(db, *self.access.user_rows(db, user))
            return token

    def revoke_token(self, token_id: str, *, actor: Actor) -> dict[str, Any]:
        who = as_principal(actor)
        who.require("admin", "*", "revoke API tokens")
        with self.store.tx() as db:
            view, row = self.access.revoke_token(db, token_id)
            self.store.event(db, "", "", "", "token_revoked", f"{who.name} revoked token "
                             f"{token_id}", {"token_id": token_id}, actor=who.name)
            _audit.cover(db, row)
            return view

    def users(self, *, actor: Actor) -> list[dict[str, Any]]:
        as_principal(actor).require("admin", "*", "list users")
        with self.store.read() as db:
            return self.access.list_users(db)

    def record_token_use(self, who: Principal, action: str) -> None:
        """A token was used for a mutation: the audit trail says which, by whom, for what."""
        if not who.token_id:
            return
        how = (f"{who.delegated_by} acted for {who.name} with delegation token"
               if who.delegated_by else f"{who.name} used token")
        with self.store.tx() as db:
            self.store.event(db, "", "", "", "token_used", f"{how} {who.token_id} for {action}",
                             {"token_id": who.token_id, "action": action,
                              "delegated_by": who.delegated_by or None}, actor=who.name)
