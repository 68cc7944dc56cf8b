"""Routes for monitoring: a live model's drift against its reference profile, and the
report a person reads. Parse, call the Platform, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from goldenpath_api import models, rules
from goldenpath_server.api._contract import (
    READ,
    ContractRoute,
    EnvironmentName,
    ServiceName,
    content,
    errors,
)
from goldenpath_server.api._deps import PlatformDep, Viewer

router = APIRouter(prefix="/api/v1", route_class=ContractRoute)
WindowLimit = Annotated[int, Query(ge=1, le=500, description="windows, newest first")]
WindowId = Annotated[int | None, Query(ge=1, le=rules.MAX_INT,
                                       description="a window's id; the newest when left out")]
# the report quotes column names and categories (user data): escaped, and no script runs
_REPORT_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                   "X-Content-Type-Options": "nosniff"}


@router.get("/services/{name}/environments/{environment}/drift",
            response_model=models.DriftStatus, responses=errors(*READ))
def drift(name: ServiceName, environment: EnvironmentName, platform: PlatformDep, _: Viewer,
          limit: WindowLimit = 20) -> dict[str, Any]:
    """Drift of the live model's inputs and predictions against the reference profile
    captured at deploy, per window of logged requests: the newest in full, then summaries."""
    return platform.monitoring.drift(name, environment, limit)


@router.get("/services/{name}/environments/{environment}/drift/report",
            response_class=HTMLResponse,
            responses={200: content("text/html", "a page with a plot per feature"),
                       **errors(*READ)})
def drift_report(name: ServiceName, environment: EnvironmentName, platform: PlatformDep,
                 _: Viewer, window: WindowId = None) -> HTMLResponse:
    """The drift report of a window (the newest by default): per feature, the reference's
    and the window's distributions, the test, its score and threshold."""
    return HTMLResponse(platform.monitoring.report_html(name, environment, window),
                        headers=_REPORT_HEADERS)
