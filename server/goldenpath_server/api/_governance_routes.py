"""Routes for governance: promotions and approvals, policies, evidence, inventory, audit,
users and tokens. Parse, call the Platform, return."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from goldenpath_server.api._deps import Admin, Caller, ListingCacheDep, PlatformDep, Viewer
from goldenpath_server.api._listing import DEFAULT_LIMIT, conditional, page

router = APIRouter(prefix="/api/v1")


class Decision(BaseModel):
    environment: str
    decision: Literal["approve", "reject"] = "approve"
    comment: str = ""


class Evidence(BaseModel):
    lineage: dict[str, Any] | None = None
    card: str | None = None
    card_draft: str | None = None
    metrics: dict[str, float] | None = None
    parity: dict[str, Any] | None = None
    data: list[dict[str, Any]] | None = None
    test_report: str | None = None
    review: str | None = None


class Grant(BaseModel):
    team: str
    role: Literal["viewer", "submitter", "approver", "admin"]


class NewToken(BaseModel):
    name: str = ""


@router.get("/me")
def me(who: Caller) -> dict[str, Any]:
    return {"user": who.name, "roles": who.roles, "token_id": who.token_id or None}


@router.get("/environments")
def environments(platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return {"environments": platform.environments()}


@router.post("/releases/{release_id}/approvals")
def decide(release_id: str, body: Decision, platform: PlatformDep, who: Caller
           ) -> dict[str, Any]:
    """Approve or reject the release's promotion waiting in body.environment."""
    return platform.decide(release_id, body.environment, body.decision, actor=who,
                           comment=body.comment)


@router.get("/promotions")
def promotions(platform: PlatformDep, _: Viewer, status: str | None = None,
               service: str | None = None, limit: int = 200) -> dict[str, Any]:
    return {"promotions": platform.promotions(status, service, min(limit, 1000))}


@router.get("/promotions/{promotion_id}")
def promotion(promotion_id: str, platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return platform.promotion(promotion_id)


@router.get("/releases/{release_id}/policies")
def check_policies(release_id: str, environment: str, platform: PlatformDep, _: Viewer
                   ) -> dict[str, Any]:
    """What the environment's policies say about the release now (nothing is stored)."""
    return platform.check_policies(release_id, environment)


@router.get("/releases/{release_id}/evidence")
def get_evidence(release_id: str, platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return platform.evidence(release_id)


@router.post("/releases/{release_id}/evidence")
def attach_evidence(release_id: str, body: Evidence, platform: PlatformDep, who: Caller
                    ) -> dict[str, Any]:
    return platform.attach_evidence(release_id, body.model_dump(exclude_none=True),
                                    actor=who)


@router.get("/inventory")
async def inventory(request: Request, platform: PlatformDep, cache: ListingCacheDep,
                    _: Viewer, environment: str | None = None, limit: int = DEFAULT_LIMIT,
                    after: str | None = None) -> Response:
    """One page of the inventory by (environment, service); `next` is the cursor of the
    page after it (null on the last), to pass back as `after`."""
    return await page(request, platform, cache, "inventory", limit, after, 2,
                      lambda size, key: platform.inventory_page(environment, size, key),
                      environment)


@router.get("/inventory.csv")
async def inventory_csv(request: Request, platform: PlatformDep, cache: ListingCacheDep,
                        _: Viewer, environment: str | None = None) -> Response:
    """The whole inventory as one CSV file (an export, not paged)."""
    return await conditional(
        request, platform, cache, ("inventory.csv", environment),
        lambda: platform.inventory_csv(environment).encode(), media_type="text/csv",
        headers={"Content-Disposition": "attachment; filename=inventory.csv"})


@router.get("/audit/verify")
def verify_audit(platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return platform.verify_audit()


@router.get("/users")
def users(platform: PlatformDep, who: Admin) -> dict[str, Any]:
    return {"users": platform.users(actor=who)}


@router.put("/users/{user}/roles")
def grant(user: str, body: Grant, platform: PlatformDep, who: Admin) -> dict[str, Any]:
    return platform.grant(user, body.team, body.role, actor=who)


@router.delete("/users/{user}/roles/{team}")
def revoke_role(user: str, team: str, platform: PlatformDep, who: Admin) -> dict[str, Any]:
    return platform.revoke_role(user, team, actor=who)


@router.post("/users/{user}/tokens", status_code=201)
def create_token(user: str, body: NewToken, platform: PlatformDep, who: Admin
                 ) -> dict[str, Any]:
    """The token's secret is in this response only; the server keeps its hash."""
    return platform.create_token(user, body.name, actor=who)


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: str, platform: PlatformDep, who: Admin) -> dict[str, Any]:
    return platform.revoke_token(token_id, actor=who)
