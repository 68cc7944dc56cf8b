"""Routes for governance and oversight: promotions and approvals, policies, evidence,
environments, inventory and audit. Parse, call the Platform, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from goldenpath_api import models, rules
from goldenpath_api.errors import InvalidInput
from goldenpath_server.api._contract import (
    READ,
    WRITE,
    AuditHeads,
    ContractRoute,
    CSVResponse,
    EnvironmentFilter,
    InventoryCursor,
    PageLimit,
    PromotionId,
    PromotionLimit,
    ReleaseId,
    ServiceFilter,
    content,
    errors,
)
from goldenpath_server.api._deps import Caller, ListingCacheDep, PlatformDep, Viewer
from goldenpath_server.api._listing import DEFAULT_LIMIT, conditional, page

router = APIRouter(prefix="/api/v1", route_class=ContractRoute)


@router.get("/environments", response_model=models.EnvironmentList, responses=errors(401, 403))
def environments(platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return {"environments": platform.environments.views()}


@router.post("/releases/{release_id}/approvals",
             response_model=models.Deployment | models.Promotion, responses=errors(*WRITE))
def decide(release_id: ReleaseId, body: models.DecisionRequest, platform: PlatformDep,
           who: Caller) -> dict[str, Any]:
    """Approve or reject the release's promotion waiting in body.environment: the promotion,
    or the deployment its last approval started."""
    return platform.promotions.decide(release_id, body.environment, body.decision, actor=who,
                                      comment=body.comment)


@router.get("/promotions", response_model=models.PromotionList, responses=errors(*READ))
def promotions(platform: PlatformDep, _: Viewer,
               status: models.PromotionStatus | None = None, service: ServiceFilter = None,
               environment: EnvironmentFilter = None, limit: PromotionLimit = 200
               ) -> dict[str, Any]:
    return {"promotions": platform.promotions.find(status, service, min(limit, rules.MAX_PAGE),
                                                   environment)}


@router.get("/promotions/{promotion_id}", response_model=models.Promotion,
            responses=errors(*READ))
def promotion(promotion_id: PromotionId, platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return platform.promotions.get(promotion_id)


@router.get("/releases/{release_id}/policies", response_model=models.PolicyEvaluation,
            responses=errors(*READ))
def check_policies(release_id: ReleaseId, platform: PlatformDep, _: Viewer,
                   environment: str = Query(max_length=63,
                                            pattern=rules.ENVIRONMENT_NAME_PATTERN)
                   ) -> dict[str, Any]:
    """What the environment's policies say about the release now (nothing is stored)."""
    return platform.promotions.check_policies(release_id, environment)


@router.get("/releases/{release_id}/evidence", response_model=models.Evidence,
            responses=errors(*READ))
def get_evidence(release_id: ReleaseId, platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return platform.promotions.evidence(release_id)


@router.post("/releases/{release_id}/evidence", response_model=models.Evidence,
             responses=errors(*WRITE))
def attach_evidence(release_id: ReleaseId, body: models.EvidenceDeclaration,
                    platform: PlatformDep, who: Caller) -> dict[str, Any]:
    return platform.promotions.attach_evidence(release_id, body.model_dump(exclude_none=True),
                                               actor=who)


@router.get("/inventory", response_model=models.InventoryPage, responses=errors(304, *READ))
async def inventory(request: Request, platform: PlatformDep, cache: ListingCacheDep,
                    _: Viewer, environment: EnvironmentFilter = None,
                    limit: PageLimit = DEFAULT_LIMIT, after: InventoryCursor = None) -> Response:
    """One page of the inventory by (environment, service); `next` is the cursor of the
    page after it (null on the last), to pass back as `after`."""
    return await page(request, platform, cache, "inventory", limit, after, 2,
                      lambda size, key: platform.oversight.inventory_page(environment, size,
                                                                          key),
                      environment)


@router.get("/inventory.csv", response_class=CSVResponse,
            responses={200: content("text/csv", "one row per service and environment"),
                       **errors(304, *READ)})
async def inventory_csv(request: Request, platform: PlatformDep, cache: ListingCacheDep,
                        _: Viewer, environment: EnvironmentFilter = None) -> Response:
    """The whole inventory as one CSV file (an export, not paged)."""
    return await conditional(
        request, platform, cache, ("inventory.csv", environment),
        lambda: platform.oversight.inventory_csv(environment).encode(), media_type="text/csv",
        headers={"Content-Disposition": "attachment; filename=inventory.csv"})


@router.get("/audit/verify", response_model=models.AuditVerification,
            responses=errors(400, 401, 403))
def verify_audit(platform: PlatformDep, _: Viewer, head: AuditHeads = None) -> dict[str, Any]:
    """Re-hash the chain and the rows it covers; each `head` must still be in the chain."""
    return platform.oversight.verify_audit([_head(h) for h in head or []])


def _head(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef"
                                                     for c in digest):
        raise InvalidInput(f"head {text[:80]!r} is not SEQ:HASH", rules.AUDIT_HEAD_HINT)
    return int(seq), digest
