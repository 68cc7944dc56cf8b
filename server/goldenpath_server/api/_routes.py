"""Routes per resource: services, releases, deployments, events, bundles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from goldenpath.errors import NotFound
from goldenpath_server.api._deps import ActorDep, PlatformDep

router = APIRouter(prefix="/api/v1")


class DeployRequest(BaseModel):
    environment: str = "dev"


class AppRelease(BaseModel):
    image: str = Field(description="registry/name@sha256:<digest>")
    port: int = 8080
    team: str = ""


@router.get("/services")
def list_services(platform: PlatformDep) -> dict[str, Any]:
    return {"services": platform.list_services()}


@router.get("/services/{name}")
def get_service(name: str, platform: PlatformDep) -> dict[str, Any]:
    return platform.get_service(name)


@router.post("/services/{name}/releases", status_code=201)
async def upload_release(name: str, request: Request, platform: PlatformDep, actor: ActorDep,
                         team: str = "") -> dict[str, Any]:
    """Body: the exported .bento archive, streamed to disk as it arrives."""
    upload = platform.artifacts.begin_upload()
    try:
        async for chunk in request.stream():
            upload.write(chunk)
        return await run_in_threadpool(platform.create_model_release, name, upload,
                                       actor=actor, team=team)
    finally:
        upload.abort()


@router.post("/services/{name}/app-releases", status_code=201)
def create_app_release(name: str, body: AppRelease, platform: PlatformDep,
                       actor: ActorDep) -> dict[str, Any]:
    return platform.create_app_release(name, body.image, body.port, actor=actor, team=body.team)


@router.get("/releases/{release_id}")
def get_release(release_id: str, platform: PlatformDep) -> dict[str, Any]:
    return platform.get_release(release_id)


@router.post("/releases/{release_id}/deployments", status_code=202)
def deploy(release_id: str, body: DeployRequest, platform: PlatformDep,
           actor: ActorDep) -> dict[str, Any]:
    return platform.deploy(release_id, body.environment, actor=actor)


@router.get("/services/{name}/environments/{environment}")
def status(name: str, environment: str, platform: PlatformDep) -> dict[str, Any]:
    return platform.status(name, environment)


@router.delete("/services/{name}/environments/{environment}", status_code=204)
def undeploy(name: str, environment: str, platform: PlatformDep, actor: ActorDep) -> None:
    platform.undeploy(name, environment, actor=actor)


@router.post("/services/{name}/environments/{environment}/rollback", status_code=202)
def rollback(name: str, environment: str, platform: PlatformDep,
             actor: ActorDep) -> dict[str, Any]:
    return platform.rollback(name, environment, actor=actor)


@router.get("/services/{name}/environments/{environment}/logs")
def logs(name: str, environment: str, platform: PlatformDep, tail: int = 200
         ) -> dict[str, Any]:
    return {"lines": platform.logs(name, environment, tail)}


@router.get("/events")
def events(platform: PlatformDep, service: str | None = None, after: int = 0,
           limit: int = 100) -> dict[str, Any]:
    return {"events": platform.events(service, after, min(limit, 1000))}


@router.get("/bundles/{digest}")
def download_bundle(digest: str, platform: PlatformDep) -> FileResponse:
    """The archive by content address (Kubernetes init containers verify the digest)."""
    path = platform.artifacts.archive_path(digest)
    if not path.exists():
        raise NotFound(f"no bundle {digest}", "check the release's digest")
    return FileResponse(path, media_type="application/octet-stream")
