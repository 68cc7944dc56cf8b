"""Routes for services, releases, deployments, events and bundles: parse, call, return.

Reads need a Viewer; mutations pass the Caller to the core, which checks the role in the
service's team. Shapes and limits are the contract's (goldenpath_api.models, _contract.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from goldenpath_api import models
from goldenpath_api.errors import NotFound
from goldenpath_server.api._contract import (
    READ,
    WRITE,
    BundleDigest,
    ContractRoute,
    EnvironmentName,
    EventLimit,
    LogTail,
    OptionalTeam,
    PageLimit,
    Position,
    ReleaseId,
    RolloutLimit,
    ServiceFilter,
    ServiceName,
    ServicesCursor,
    content,
    errors,
)
from goldenpath_server.api._deps import Caller, ListingCacheDep, PlatformDep, Viewer
from goldenpath_server.api._listing import DEFAULT_LIMIT, page
from goldenpath_server.api._reads import store_read

router = APIRouter(prefix="/api/v1", route_class=ContractRoute)
# the body of an upload: the exported .bento archive (a gzipped tar), streamed as it arrives
ARCHIVE_BODY = {"requestBody": {"required": True, "description": "the exported .bento archive",
                                "content": {"application/octet-stream": {
                                    "schema": {"type": "string", "format": "binary"}}}}}


@router.get("/services", response_model=models.ServicePage,
            responses=errors(304, 400, 401, 403))
async def list_services(request: Request, platform: PlatformDep, cache: ListingCacheDep,
                        _: Viewer, limit: PageLimit = DEFAULT_LIMIT, after: ServicesCursor = None
                        ) -> Response:
    """One page of services by name, each with its deployments; `next` is the cursor of the
    page after it (null on the last), to pass back as `after`."""
    return await page(request, platform, cache, "services", limit, after, 1,
                      platform.releases.services_page)


@router.get("/services/{name}", response_model=models.ServiceDetail, responses=errors(*READ))
def get_service(name: ServiceName, platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return platform.releases.get_service(name)


@router.post("/services/{name}/releases", status_code=201, response_model=models.Release,
             responses=errors(*WRITE, 413), openapi_extra=ARCHIVE_BODY)
async def upload_release(
        name: ServiceName, request: Request, platform: PlatformDep, who: Caller,
        team: OptionalTeam = "",
        cpu: Annotated[float, Query(ge=0, le=1024)] = 0.0,
        memory_gb: Annotated[float, Query(ge=0, le=4096)] = 0.0,
        replicas: Annotated[int, Query(ge=1, le=100)] = 1,
        gpu: Annotated[int, Query(ge=0, le=16)] = 0) -> dict[str, Any]:
    """Body: the exported .bento archive, streamed to disk as it arrives."""
    await run_in_threadpool(platform.releases.check_submitter, who, name, team)  # before the bytes
    resources = ({"cpu": cpu, "memory_gb": memory_gb, "replicas": replicas, "gpu": gpu}
                 if cpu or memory_gb or gpu else None)
    upload = platform.artifacts.begin_upload()
    try:
        async for chunk in request.stream():
            upload.write(chunk)
        return await run_in_threadpool(lambda: platform.releases.create_model_release(
            name, upload, actor=who, team=team, resources=resources))
    finally:
        upload.abort()


@router.post("/services/{name}/app-releases", status_code=201, response_model=models.Release,
             responses=errors(*WRITE))
def create_app_release(name: ServiceName, body: models.AppReleaseRequest,
                       platform: PlatformDep, who: Caller) -> dict[str, Any]:
    return platform.releases.create_app_release(
        name, body.image, body.port, actor=who, team=body.team,
        resources=body.resources.model_dump() if body.resources else None)


@router.get("/releases/{release_id}", response_model=models.ReleaseDetail,
            responses=errors(*READ))
def get_release(release_id: ReleaseId, platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return platform.releases.get_release(release_id)


# A promotion answers with the deployment it started (or the live one, `noop`) or the
# promotion that waits for approval.
Promoted = models.Deployment | models.Promotion


@router.post("/releases/{release_id}/promotions", status_code=202, response_model=Promoted,
             responses=errors(*WRITE, 422))
def promote(release_id: ReleaseId, body: models.DeployRequest, platform: PlatformDep,
            who: Caller) -> dict[str, Any]:
    """Policies, then approvals, then rollout (by `strategy`, default the environment's):
    a deployment or a waiting promotion."""
    return platform.promotions.promote(release_id, body.environment, actor=who,
                                       strategy=body.strategy, steps=body.steps)


@router.post("/releases/{release_id}/deployments", status_code=202, response_model=Promoted,
             responses=errors(*WRITE, 422))
def deploy(release_id: ReleaseId, body: models.DeployRequest, platform: PlatformDep,
           who: Caller) -> dict[str, Any]:
    """The same governed promotion, under the walking skeleton's path."""
    return platform.promotions.promote(release_id, body.environment, actor=who,
                                       strategy=body.strategy, steps=body.steps)


@router.get("/services/{name}/environments/{environment}", response_model=models.Deployment,
            responses=errors(*READ))
async def status(name: ServiceName, environment: EnvironmentName, platform: PlatformDep,
                 _: Viewer) -> dict[str, Any]:
    """The SDK polls this: one indexed read, on the read threads (api/_reads.py); a
    monitored model's drift from memory."""
    state = await store_read(platform.rollouts.status, name, environment)
    window = platform.monitoring.latest.get((name, environment))
    return {**state, "drift": window["status"], "drifted": window["drifted"]} if window else state


@router.delete("/services/{name}/environments/{environment}", status_code=204,
               response_class=Response, responses=errors(*WRITE))
def undeploy(name: ServiceName, environment: EnvironmentName, platform: PlatformDep,
             who: Caller) -> None:
    platform.rollouts.undeploy(name, environment, actor=who)


@router.post("/services/{name}/environments/{environment}/rollback", status_code=202,
             response_model=models.Deployment, responses=errors(*WRITE))
def rollback(name: ServiceName, environment: EnvironmentName, platform: PlatformDep,
             who: Caller, body: models.RollbackRequest | None = None) -> dict[str, Any]:
    """Restore an earlier release that went live here (each call goes one further back)."""
    return platform.rollouts.rollback(name, environment, actor=who,
                                      to=body.to if body else None)


@router.get("/services/{name}/environments/{environment}/rollouts",
            response_model=models.RolloutList, responses=errors(*READ))
def rollouts(name: ServiceName, environment: EnvironmentName, platform: PlatformDep,
             _: Viewer, limit: RolloutLimit = 50) -> dict[str, Any]:
    """Every attempt to put a release live here, newest first, and how it ended."""
    return {"rollouts": platform.rollouts.history(name, environment, limit)}


@router.put("/services/{name}/team", response_model=models.Service, responses=errors(*WRITE))
def set_team(name: ServiceName, body: models.TeamChange, platform: PlatformDep, who: Caller
             ) -> dict[str, Any]:
    """Give the service to another team (admins)."""
    return platform.releases.set_team(name, body.team, actor=who)


@router.get("/services/{name}/environments/{environment}/logs",
            response_model=models.LogLines, responses=errors(*READ))
def logs(name: ServiceName, environment: EnvironmentName, platform: PlatformDep, _: Viewer,
         tail: LogTail = 200) -> dict[str, Any]:
    return {"lines": platform.rollouts.logs(name, environment, tail)}


@router.get("/events", response_model=models.EventList, responses=errors(400, 401, 403))
def events(platform: PlatformDep, _: Viewer, service: ServiceFilter = None,
           after: Position = 0, limit: EventLimit = 100) -> dict[str, Any]:
    return {"events": platform.oversight.events(service, after, min(limit, 1000))}


@router.get("/bundles/{digest}", response_class=FileResponse,
            responses={200: content("application/octet-stream",
                                    "the .bento archive (a gzipped tar)", binary=True),
                       **errors(400, 404)})
def download_bundle(digest: BundleDigest, platform: PlatformDep) -> FileResponse:
    """The archive by content address: knowing the digest is the capability (Kubernetes
    init containers fetch it without a token and verify the digest)."""
    path = platform.artifacts.archive_path(digest)
    if not path.exists():
        raise NotFound(f"no bundle {digest}", "check the release's digest")
    return FileResponse(path, media_type="application/octet-stream")
