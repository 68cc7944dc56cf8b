"""Routes for progressive delivery: where a canary, shadow, blue-green or champion/challenger
rollout stands, and the people's controls over it. Parse, call the Platform, return."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from goldenpath_api import models
from goldenpath_server.api._contract import (
    READ,
    WRITE,
    ContractRoute,
    EnvironmentName,
    ServiceName,
    errors,
)
from goldenpath_server.api._deps import Caller, PlatformDep, Viewer

router = APIRouter(prefix="/api/v1", route_class=ContractRoute)
Action = Literal["pause", "resume", "promote", "abort"]


@router.get("/services/{name}/environments/{environment}/rollout",
            response_model=models.Progression, responses=errors(*READ))
def progression(name: ServiceName, environment: EnvironmentName, platform: PlatformDep,
                _: Viewer) -> dict[str, Any]:
    """The latest progressive rollout here: step, weights, per-variant measurements and the
    verdict of each analysis."""
    return platform.delivery.progressions.view(name, environment)


@router.post("/services/{name}/environments/{environment}/rollout/{action}",
             response_model=models.Progression, responses=errors(*WRITE, 422))
def act(name: ServiceName, environment: EnvironmentName, action: Action,
        platform: PlatformDep, who: Caller,
        body: models.ProgressionAction | None = None) -> dict[str, Any]:
    """pause, resume, promote (skip the remaining steps) or abort (all traffic back to the
    stable release), under the roles that roll back here."""
    return platform.delivery.progressions.act(name, environment, action, actor=who,
                                              comment=body.comment if body else "")


@router.post("/services/{name}/environments/{environment}/outcomes",
             response_model=models.OutcomeReceipt, responses=errors(*WRITE))
def outcomes(name: ServiceName, environment: EnvironmentName, body: models.OutcomeBatch,
             platform: PlatformDep, who: Caller) -> dict[str, Any]:
    """Ground truth for earlier answers, by their X-Request-Id: each variant of the running
    progressive rollout is scored on them (accuracy, AUC, RMSE), and a champion/challenger
    experiment configured to decide on that metric ends on it."""
    return platform.delivery.outcomes.record(
        name, environment, [(o.request_id, o.value) for o in body.outcomes], actor=who)
