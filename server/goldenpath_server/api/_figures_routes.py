"""Routes for the platform's figures: the delivery figures of /metrics as one typed document.
Parse, call the Platform, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from goldenpath_api.figures import PlatformFigures
from goldenpath_server import _figures
from goldenpath_server.api._contract import READ, ContractRoute, errors
from goldenpath_server.api._deps import PlatformDep, Viewer

router = APIRouter(prefix="/api/v1", route_class=ContractRoute)


@router.get("/figures", response_model=PlatformFigures, responses=errors(*READ))
def figures(platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    """Change failure rate, validation to production, lead time, time to restore, production
    releases per service, model autonomy and governance compliance, by track."""
    return _figures.current(platform.store, platform.environments)
