"""Routes for who may do what: the caller, users, their roles and tokens (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from goldenpath_api import models
from goldenpath_server.api._contract import ContractRoute, TeamOrAny, TokenId, UserName, errors
from goldenpath_server.api._deps import Admin, Caller, PlatformDep

router = APIRouter(prefix="/api/v1", route_class=ContractRoute)


@router.get("/me", response_model=models.Me, responses=errors(401, 403))
def me(who: Caller) -> dict[str, Any]:
    return {"user": who.name, "roles": who.roles, "token_id": who.token_id or None,
            "token_kind": who.token_kind or None, "delegated_by": who.delegated_by or None}


@router.get("/users", response_model=models.UserList, responses=errors(401, 403))
def users(platform: PlatformDep, who: Admin) -> dict[str, Any]:
    return {"users": platform.accounts.users(actor=who)}


@router.put("/users/{user}/roles", response_model=models.User,
            responses=errors(400, 401, 403, 409))
def grant(user: UserName, body: models.Grant, platform: PlatformDep, who: Admin
          ) -> dict[str, Any]:
    return platform.accounts.grant(user, body.team, body.role, actor=who)


@router.delete("/users/{user}/roles/{team}", response_model=models.User,
               responses=errors(400, 401, 403, 404))
def revoke_role(user: UserName, team: TeamOrAny, platform: PlatformDep, who: Admin
                ) -> dict[str, Any]:
    return platform.accounts.revoke_role(user, team, actor=who)


@router.post("/users/{user}/tokens", status_code=201, response_model=models.CreatedToken,
             responses=errors(400, 401, 403, 404, 409))
def create_token(user: UserName, body: models.NewToken, platform: PlatformDep, who: Admin
                 ) -> dict[str, Any]:
    """The token's secret is in this response only; the server keeps its hash."""
    return platform.accounts.create_token(user, body.name, actor=who, kind=body.kind)


@router.delete("/tokens/{token_id}", response_model=models.RevokedToken,
               responses=errors(400, 401, 403, 404))
def revoke_token(token_id: TokenId, platform: PlatformDep, who: Admin) -> dict[str, Any]:
    return platform.accounts.revoke_token(token_id, actor=who)
