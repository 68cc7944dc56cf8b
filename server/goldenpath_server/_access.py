"""Who may do what: users, hashed API tokens, and roles per team.

Roles rank viewer < submitter < approver < admin; a higher role can do what a lower one can.
A binding to team `*` holds in every team. Without a configured admin token the server runs
in local single-user mode: every caller is the local user, an admin everywhere.

Identity is not a header. A token acts as its own user; the bootstrap token as "admin".
Only a delegation token (the Jupyter extension's: it has signed its users in) may name the
user it acts for in X-Goldenpath-User; it then acts with that user's roles, never above
approver, and alone it may only read.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from goldenpath_api.errors import AuthError, Conflict, InvalidInput, NotFound, PermissionDenied
from goldenpath_api.rules import ANY_TEAM, ROLES, TEAM_NAME, USER_NAME_PATTERN
from goldenpath_server._db import RoleBindingRow, TokenRow, UserRow, utcnow

TOKEN_KINDS = ("user", "delegation")
LOCAL_USER = "local-user"
BOOTSTRAP_USER = "admin"
_USER = re.compile(USER_NAME_PATTERN)


def rank(role: str | None) -> int:
    return ROLES.index(role) + 1 if role in ROLES else 0


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a name, roles per team, and the token used (if any)."""

    name: str
    roles: dict[str, str] = field(default_factory=dict)
    token_id: str = ""
    token_kind: str = ""  # user | delegation ("" for the bootstrap token and local mode)
    delegated_by: str = ""  # the delegation token's user, when acting for `name`

    @classmethod
    def admin(cls, name: str) -> Principal:
        return cls(name=name, roles={ANY_TEAM: "admin"})

    def role_in(self, team: str) -> str:
        best = max((self.roles.get(team), self.roles.get(ANY_TEAM)), key=rank)
        return best or ""

    def can(self, role: str, team: str | None = None) -> bool:
        """Holds `role` (or higher) in `team`; with team None, in at least one team."""
        if team is None:
            return any(rank(r) >= rank(role) for r in self.roles.values())
        return rank(self.role_in(team)) >= rank(role)

    def require(self, role: str, team: str | None = None, action: str = "do this") -> None:
        if not self.can(role, team):
            where = f"team {team!r}" if team else "any team"
            raise PermissionDenied(
                f"{self.name} may not {action}: it needs the {role} role in {where}",
                "ask an admin: goldenpath users grant "
                f"{self.name} --team {team or 'TEAM'} --role {role}")


Actor = Principal | str  # a plain name is a trusted in-process caller (admin)


def as_principal(actor: Principal | str) -> Principal:
    """Core callers inside the server (and tests) may pass a plain name: a trusted admin."""
    return actor if isinstance(actor, Principal) else Principal.admin(actor)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Access:
    """Users, tokens and role bindings in the platform database."""

    def __init__(self, sessions: sessionmaker[Session], admin_token: str,
                 write_lock: AbstractContextManager[Any]) -> None:
        self.sessions = sessions
        self.admin_token = admin_token
        self._write_lock = write_lock

    @property
    def open_mode(self) -> bool:
        """No admin token configured: local single-user mode."""
        return not self.admin_token

    def authenticate(self, bearer: str, user_header: str = "") -> Principal:
        """The caller behind `bearer` (AuthError when missing or unknown)."""
        if not bearer:
            if self.open_mode:  # single-user mode: the header only names the local user
                return Principal.admin(user_header or LOCAL_USER)
            raise AuthError("this request needs an API token",
                            "pass token= to gp.configure or set GOLDENPATH_TOKEN; an admin "
                            "creates one with `goldenpath tokens create USER`")
        if self.admin_token and hmac.compare_digest(bearer.encode(), self.admin_token.encode()):
            _no_header(user_header, BOOTSTRAP_USER, "the bootstrap token")
            return Principal.admin(BOOTSTRAP_USER)
        with self.sessions() as db:
            token = db.scalar(select(TokenRow).where(TokenRow.token_hash == hash_token(bearer)))
            if token is None or token.revoked_at is not None:
                raise AuthError("the API token is unknown or revoked",
                                "ask an admin for a new one: goldenpath tokens create USER")
            user = db.get(UserRow, token.user_id)
            assert user is not None
            if token.kind == "delegation" and user_header and user_header != user.name:
                who = self._delegated(db, user_header, user.name, token.id)
            elif token.kind == "delegation":  # alone, it reads and nothing else
                who = Principal(name=user.name, roles={ANY_TEAM: "viewer"}, token_id=token.id,
                                token_kind="delegation")
            else:
                _no_header(user_header, user.name, f"{user.name}'s token")
                who = Principal(name=user.name, roles=self._roles(db, user.id),
                                token_id=token.id, token_kind="user")
            last_used = token.last_used_at
        now = utcnow()
        if last_used is None or (now - _aware(last_used)).total_seconds() > 60:
            with self._write_lock, self.sessions.begin() as db:  # at most once a minute
                db.execute(update(TokenRow).where(TokenRow.id == who.token_id)
                           .values(last_used_at=now))
        return who

    def _delegated(self, db: Session, name: str, delegate: str, token_id: str) -> Principal:
        """`name`, as named by a delegation token: its roles, none above approver."""
        user = db.scalar(select(UserRow).where(UserRow.name == name))
        if user is None:
            raise PermissionDenied(f"{delegate} acts for {name!r}, who is not a goldenpath user",
                                   f"an admin grants a role first: goldenpath users grant "
                                   f"{name} --team TEAM --role viewer")
        capped = {team: role if rank(role) <= rank("approver") else "approver"
                  for team, role in self._roles(db, user.id).items()}
        return Principal(name=user.name, roles=capped, token_id=token_id,
                         token_kind="delegation", delegated_by=delegate)

    def _roles(self, db: Session, user_id: int) -> dict[str, str]:
        return {b.team: b.role for b in db.scalars(
            select(RoleBindingRow).where(RoleBindingRow.user_id == user_id))}

    # -- administration (callers check the admin role first) ---------------------------
    def grant(self, db: Session, user: str, team: str, role: str) -> dict[str, Any]:
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}", f"use one of: {', '.join(ROLES)}")
        if team != ANY_TEAM and not TEAM_NAME.match(team):
            raise InvalidInput(f"invalid team name {team[:80]!r}",
                               "use lowercase letters, digits and '-' (at most 63), or * for "
                               "every team")
        row = self._user(db, user, create=True)
        binding = db.scalar(select(RoleBindingRow).where(RoleBindingRow.user_id == row.id,
                                                         RoleBindingRow.team == team))
        if binding is None:
            db.add(RoleBindingRow(user_id=row.id, team=team, role=role))
        else:
            binding.role = role
        db.flush()
        return self.user_view(db, row)

    def revoke_role(self, db: Session, user: str, team: str
                    ) -> tuple[dict[str, Any], list[RoleBindingRow]]:
        """Remove `user`'s role in `team`; the view and the binding rows deleted."""
        row = self._user(db, user)
        removed = list(db.scalars(select(RoleBindingRow).where(
            RoleBindingRow.user_id == row.id, RoleBindingRow.team == team)))
        for binding in removed:
            db.delete(binding)
        db.flush()
        return self.user_view(db, row), removed

    def user_rows(self, db: Session, name: str) -> list[Any]:
        """A user's rows that access decisions rest on: the user, its bindings and tokens."""
        row = self._user(db, name)
        return [row, *db.scalars(select(RoleBindingRow).where(RoleBindingRow.user_id == row.id)),
                *db.scalars(select(TokenRow).where(TokenRow.user_id == row.id))]

    def create_token(self, db: Session, user: str, name: str = "", kind: str = "user"
                     ) -> tuple[dict[str, Any], TokenRow]:
        """A new token for `user`; the secret is returned once and only its hash is kept."""
        if kind not in TOKEN_KINDS:
            raise InvalidInput(f"unknown token kind {kind!r}",
                               f"use one of: {', '.join(TOKEN_KINDS)}")
        row = self._user(db, user, create=kind == "delegation")
        secret = "gp_" + secrets.token_urlsafe(32)
        token = TokenRow(id=uuid.uuid4().hex[:12], user_id=row.id, name=name,
                         token_hash=hash_token(secret), kind=kind)
        db.add(token)
        db.flush()
        return {"id": token.id, "user": row.name, "name": name, "kind": kind,
                "token": secret}, token

    def revoke_token(self, db: Session, token_id: str) -> tuple[dict[str, Any], TokenRow]:
        token = db.get(TokenRow, token_id)
        if token is None:
            raise NotFound(f"no token {token_id!r}", "list them with `goldenpath users ls`")
        token.revoked_at = token.revoked_at or utcnow()
        user = db.get(UserRow, token.user_id)
        return {"id": token.id, "user": user.name if user else "", "revoked": True}, token

    def list_users(self, db: Session) -> list[dict[str, Any]]:
        return [self.user_view(db, u) for u in db.scalars(select(UserRow).order_by(UserRow.name))]

    def user_view(self, db: Session, row: UserRow) -> dict[str, Any]:
        tokens = db.scalars(select(TokenRow).where(TokenRow.user_id == row.id)).all()
        return {"name": row.name, "roles": self._roles(db, row.id),
                "tokens": [{"id": t.id, "name": t.name, "kind": t.kind,
                            "created_at": t.created_at.isoformat(),
                            "last_used_at": t.last_used_at.isoformat() if t.last_used_at
                            else None, "revoked": t.revoked_at is not None} for t in tokens]}

    def _user(self, db: Session, name: str, create: bool = False) -> UserRow:
        row = db.scalar(select(UserRow).where(UserRow.name == name))
        if row is None and create:
            if not _USER.match(name):
                raise InvalidInput(f"invalid user name {name!r}",
                                   "use letters, digits and . _ @ -")
            row = UserRow(name=name)
            db.add(row)
            try:
                db.flush()
            except IntegrityError:
                raise Conflict(f"user {name!r} was created concurrently", "retry") from None
        if row is None:
            raise NotFound(f"no user {name!r}", f"give them a role first: goldenpath users "
                           f"grant {name} --team TEAM --role ROLE")
        return row


def _no_header(user_header: str, acting: str, credential: str) -> None:
    """Naming another user is for delegation tokens only: refuse it loudly elsewhere."""
    if user_header and user_header != acting:
        raise PermissionDenied(
            f"X-Goldenpath-User {user_header!r} is not honoured with {credential}: it acts "
            f"as {acting}", "send your own token; a service that signs users in (the Jupyter "
            "extension) uses a delegation token: goldenpath tokens create NAME --delegation")
