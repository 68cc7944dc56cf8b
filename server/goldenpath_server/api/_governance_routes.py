"""Routes for governance: promotions and approvals, policies, evidence, inventory, audit,
users and tokens. Parse, call the Platform, return."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from goldenpath_api.errors import InvalidInput
from goldenpath_server.api._deps import Admin, Caller, ListingCacheDep, PlatformDep, Viewer
from goldenpath_server.api._listing import DEFAULT_LIMIT, conditional, page

router = APIRouter(prefix="/api/v1")


class Decision(BaseModel):
    environment: str = Field(max_length=63)
    decision: Literal["approve", "reject"] = "approve"
    comment: str = Field("", max_length=4000)


class Evidence(BaseModel):
    """What a caller may declare about a release (recorded as declared by the caller). The
    server's own checks (scan, pinned, parity) are not accepted: 403."""

    model_config = ConfigDict(extra="allow")  # so verified keys get their own clear refusal

    lineage: dict[str, Any] | None = None
    card: str | None = Field(None, max_length=256_000)
    card_draft: str | None = Field(None, max_length=256_000)
    metrics: dict[str, float] | None = Field(None, max_length=200)
    data: list[dict[str, Any]] | None = Field(None, max_length=100)
    test_report: str | None = Field(None, max_length=2048)
    review: str | None = Field(None, max_length=2048)


class Grant(BaseModel):
    team: str = Field(max_length=63)
    role: Literal["viewer", "submitter", "approver", "admin"]


class NewToken(BaseModel):
    name: str = Field("", max_length=200)
    kind: Literal["user", "delegation"] = "user"


@router.get("/me")
def me(who: Caller) -> dict[str, Any]:
    return {"user": who.name, "roles": who.roles, "token_id": who.token_id or None,
            "token_kind": who.token_kind or None, "delegated_by": who.delegated_by or None}


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
               service: str | None = None, environment: str | None = None,
               limit: int = 200) -> dict[str, Any]:
    return {"promotions": platform.promotions(status, service, min(limit, 1000),
                                              environment)}


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
def verify_audit(platform: PlatformDep, _: Viewer,
                 head: Annotated[list[str] | None, Query(
                     description="SEQ:HASH heads recorded earlier, outside the database",
                     max_length=100)] = None) -> dict[str, Any]:
    """Re-hash the chain and the rows it covers; each `head` must still be in the chain."""
    return platform.verify_audit([_head(h) for h in head or []])


def _head(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef"
                                                     for c in digest):
        raise InvalidInput(f"head {text[:80]!r} is not SEQ:HASH",
                           "pass the head `goldenpath audit verify` printed, e.g. 42:5f0c...")
    return int(seq), digest


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
    return platform.create_token(user, body.name, actor=who, kind=body.kind)


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: str, platform: PlatformDep, who: Admin) -> dict[str, Any]:
    return platform.revoke_token(token_id, actor=who)
