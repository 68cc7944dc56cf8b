"""Request-scoped dependencies: the Platform and the caller (a Principal with roles).

Every route names who may call it: `Viewer` (any role in any team) for reads; mutations take
`Caller` and the core checks the role in the service's team. A mutation made with a token
is written to the audit trail (token_used)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from goldenpath_server._access import Principal
from goldenpath_server._platform import Platform


# Dependencies without I/O are async: FastAPI runs them in the event loop instead of
# hopping to the thread pool for each one (measurable on hot reads, docs/benchmarks.md).
async def get_platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def get_caller(request: Request, platform: Annotated[Platform, Depends(get_platform)]
               ) -> Principal:
    """Who is calling: the bearer token's user (or, in local mode, the local admin)."""
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    who = platform.access.authenticate(bearer, request.headers.get("x-goldenpath-user", ""))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        platform.record_token_use(who, f"{request.method} {request.url.path}")
    return who


async def get_viewer(who: Annotated[Principal, Depends(get_caller)]) -> Principal:
    who.require("viewer", None, "read the platform")
    return who


async def get_admin(who: Annotated[Principal, Depends(get_caller)]) -> Principal:
    who.require("admin", "*", "administer users and tokens")
    return who


PlatformDep = Annotated[Platform, Depends(get_platform)]
Caller = Annotated[Principal, Depends(get_caller)]
Viewer = Annotated[Principal, Depends(get_viewer)]
Admin = Annotated[Principal, Depends(get_admin)]
