"""Routes for services, releases, deployments, events and bundles: parse, call, return.

Reads need a Viewer; mutations pass the Caller to the core, which checks the role in the
service's team."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from goldenpath_api.errors import NotFound
from goldenpath_server.api._deps import Caller, ListingCacheDep, PlatformDep, Viewer
from goldenpath_server.api._listing import DEFAULT_LIMIT, page
from goldenpath_server.api._reads import store_read

router = APIRouter(prefix="/api/v1")


ENV_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
TEAM_NAME = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$"


class DeployRequest(BaseModel):
    environment: str = Field("dev", max_length=63, pattern=ENV_NAME)


class Resources(BaseModel):
    cpu: float = Field(0.0, ge=0, le=1024)
    memory_gb: float = Field(0.0, ge=0, le=4096)
    replicas: int = Field(1, ge=1, le=100)
    gpu: int = Field(0, ge=0, le=16)


class AppRelease(BaseModel):
    image: str = Field(description="registry/name@sha256:<digest>", max_length=512)
    port: int = Field(8080, ge=1, le=65535)
    team: str = Field("", max_length=63, pattern=TEAM_NAME)
    resources: Resources | None = None


@router.get("/services")
async def list_services(request: Request, platform: PlatformDep, cache: ListingCacheDep,
                        _: Viewer, limit: int = DEFAULT_LIMIT, after: str | None = None
                        ) -> Response:
    """One page of services by name, each with its deployments; `next` is the cursor of the
    page after it (null on the last), to pass back as `after`."""
    return await page(request, platform, cache, "services", limit, after, 1,
                      platform.services_page)


@router.get("/services/{name}")
def get_service(name: str, platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return platform.get_service(name)


@router.post("/services/{name}/releases", status_code=201)
async def upload_release(
        name: str, request: Request, platform: PlatformDep, who: Caller,
        team: Annotated[str, Query(max_length=63, pattern=TEAM_NAME)] = "",
        cpu: Annotated[float, Query(ge=0, le=1024)] = 0.0,
        memory_gb: Annotated[float, Query(ge=0, le=4096)] = 0.0,
        replicas: Annotated[int, Query(ge=1, le=100)] = 1,
        gpu: Annotated[int, Query(ge=0, le=16)] = 0) -> dict[str, Any]:
    """Body: the exported .bento archive, streamed to disk as it arrives."""
    await run_in_threadpool(platform._check_submitter, who, name, team)  # before the bytes
    resources = ({"cpu": cpu, "memory_gb": memory_gb, "replicas": replicas, "gpu": gpu}
                 if cpu or memory_gb or gpu else None)
    upload = platform.artifacts.begin_upload()
    try:
        async for chunk in request.stream():
            upload.write(chunk)
        return await run_in_threadpool(lambda: platform.create_model_release(
            name, upload, actor=who, team=team, resources=resources))
    finally:
        upload.abort()


@router.post("/services/{name}/app-releases", status_code=201)
def create_app_release(name: str, body: AppRelease, platform: PlatformDep,
                       who: Caller) -> dict[str, Any]:
    return platform.create_app_release(
        name, body.image, body.port, actor=who, team=body.team,
        resources=body.resources.model_dump() if body.resources else None)


@router.get("/releases/{release_id}")
def get_release(release_id: str, platform: PlatformDep, _: Viewer) -> dict[str, Any]:
    return platform.get_release(release_id)


@router.post("/releases/{release_id}/promotions", status_code=202)
def promote(release_id: str, body: DeployRequest, platform: PlatformDep,
            who: Caller) -> dict[str, Any]:
    """Policies, then approvals, then rollout: a deployment or a waiting promotion."""
    return platform.promote(release_id, body.environment, actor=who)


@router.post("/releases/{release_id}/deployments", status_code=202)
def deploy(release_id: str, body: DeployRequest, platform: PlatformDep,
           who: Caller) -> dict[str, Any]:
    """The same governed promotion, under the walking skeleton's path."""
    return platform.promote(release_id, body.environment, actor=who)


@router.get("/services/{name}/environments/{environment}")
async def status(name: str, environment: str, platform: PlatformDep, _: Viewer
                 ) -> dict[str, Any]:
    """The SDK polls this: one indexed read, on the read threads (api/_reads.py)."""
    return await store_read(platform.status, name, environment)


@router.delete("/services/{name}/environments/{environment}", status_code=204)
def undeploy(name: str, environment: str, platform: PlatformDep, who: Caller) -> None:
    platform.undeploy(name, environment, actor=who)


class RollbackRequest(BaseModel):
    to: int | None = Field(None, ge=1, description="the version to restore (default: the "
                                                   "one live before the current one)")


@router.post("/services/{name}/environments/{environment}/rollback", status_code=202)
def rollback(name: str, environment: str, platform: PlatformDep, who: Caller,
             body: RollbackRequest | None = None) -> dict[str, Any]:
    """Restore an earlier release that went live here (each call goes one further back)."""
    return platform.rollback(name, environment, actor=who, to=body.to if body else None)


@router.get("/services/{name}/environments/{environment}/rollouts")
def rollouts(name: str, environment: str, platform: PlatformDep, _: Viewer,
             limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """Every attempt to put a release live here, newest first, and how it ended."""
    return {"rollouts": platform.rollouts(name, environment, limit)}


class TeamChange(BaseModel):
    team: str = Field(max_length=63, pattern=TEAM_NAME)


@router.put("/services/{name}/team")
def set_team(name: str, body: TeamChange, platform: PlatformDep, who: Caller
             ) -> dict[str, Any]:
    """Give the service to another team (admins)."""
    return platform.set_team(name, body.team, actor=who)


@router.get("/services/{name}/environments/{environment}/logs")
def logs(name: str, environment: str, platform: PlatformDep, _: Viewer, tail: int = 200
         ) -> dict[str, Any]:
    return {"lines": platform.logs(name, environment, tail)}


@router.get("/events")
def events(platform: PlatformDep, _: Viewer, service: str | None = None, after: int = 0,
           limit: int = 100) -> dict[str, Any]:
    return {"events": platform.events(service, after, min(limit, 1000))}


@router.get("/bundles/{digest}")
def download_bundle(digest: str, platform: PlatformDep) -> FileResponse:
    """The archive by content address: knowing the digest is the capability (Kubernetes
    init containers fetch it without a token and verify the digest)."""
    path = platform.artifacts.archive_path(digest)
    if not path.exists():
        raise NotFound(f"no bundle {digest}", "check the release's digest")
    return FileResponse(path, media_type="application/octet-stream")
