"""Users, their roles per team, and API tokens: what an admin manages (gp.admin.*).

    gp.admin.grant("bob", team="risk", role="approver"); t = gp.admin.create_token("bob")
    gp.admin.users(); gp.admin.revoke("bob", team="risk"); gp.admin.revoke_token(t["id"])
"""

from __future__ import annotations

from typing import Any

from goldenpath._deploy import client
from goldenpath.errors import InvalidInput
from goldenpath_api.rules import ANY_TEAM, ROLES


def users() -> list[dict[str, Any]]:
    """Every user: name, roles ({team: role}) and tokens (id, name, revoked)."""
    return list(client().request("GET", "/api/v1/users")["users"])


def grant(user: str, team: str, role: str) -> dict[str, Any]:
    """Make `user` `role` of `team` (ANY_TEAM "*": of every team), creating the user."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}",
                           f"use one of {', '.join(ROLES)} (each can do what those before "
                           "it can)")
    return client().request(  # type: ignore[no-any-return]
        "PUT", f"/api/v1/users/{user}/roles", json={"team": team, "role": role})


def revoke(user: str, team: str) -> None:
    """Take `user`'s role in `team` away."""
    client().request("DELETE", f"/api/v1/users/{user}/roles/{team}")


def create_token(user: str, name: str = "", *, delegation: bool = False) -> dict[str, Any]:
    """A new API token for `user` ({"id", "token", ...}): the secret is shown this once.
    `delegation`: for a service that signs users in and acts for them (the Jupyter
    extension); it creates `user` as that service."""
    return client().request(  # type: ignore[no-any-return]
        "POST", f"/api/v1/users/{user}/tokens",
        json={"name": name, "kind": "delegation" if delegation else "user"})


def revoke_token(token_id: str) -> None:
    """Revoke the token `token_id`: requests carrying it are refused from now on."""
    client().request("DELETE", f"/api/v1/tokens/{token_id}")


__all__ = ["ANY_TEAM", "ROLES", "create_token", "grant", "revoke", "revoke_token", "users"]
