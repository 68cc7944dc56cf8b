"""Request-scoped dependencies: the Platform and the caller (a Principal with roles).

Every route names who may call it: `Viewer` (any role in any team) for reads; mutations take
`Caller` and the core checks the role in the service's team. A mutation made with a token
is written to the audit trail (token_used)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from goldenpath_server._access import Principal
from goldenpath_server._platform import Platform
from goldenpath_server.api._listing import ListingCache


# Dependencies without I/O are async: FastAPI runs them in the event loop instead of
# hopping to the thread pool for each one (measurable on hot reads, docs/benchmarks.md).
async def get_platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


# Declares the bearer token in the OpenAPI document; get_caller reads the header itself
# (local mode needs none, and a bad one gets the core's AuthError with its hint).
_BEARER = HTTPBearer(auto_error=False, description="an API token (goldenpath tokens create "
                                                   "USER); none in local single-user mode")


async def get_caller(request: Request, platform: Annotated[Platform, Depends(get_platform)],
                     _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
                     ) -> Principal:
    """Who is calling: the bearer token's user (or, in local mode, the local admin)."""
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    user = request.headers.get("x-goldenpath-user", "")
    access = platform.access
    if bearer and not (access.admin_token and hmac.compare_digest(
            bearer.encode(), access.admin_token.encode())):
        # a user's token: looked up (and its last use written) in the store, off the loop
        who = await run_in_threadpool(access.authenticate, bearer, user)
    else:  # local mode, or the bootstrap token: no I/O, so no thread hop
        who = access.authenticate(bearer, user)
    if who.token_id and request.method not in ("GET", "HEAD", "OPTIONS"):
        await run_in_threadpool(platform.accounts.record_token_use, who,
                                f"{request.method} {request.url.path}")
    return who


async def get_viewer(who: Annotated[Principal, Depends(get_caller)]) -> Principal:
    who.require("viewer", None, "read the platform")
    return who


async def get_admin(who: Annotated[Principal, Depends(get_caller)]) -> Principal:
    who.require("admin", "*", "administer users and tokens")
    return who


async def get_listing_cache(request: Request) -> ListingCache:
    return request.app.state.listing_cache  # type: ignore[no-any-return]


PlatformDep = Annotated[Platform, Depends(get_platform)]
Caller = Annotated[Principal, Depends(get_caller)]
Viewer = Annotated[Principal, Depends(get_viewer)]
Admin = Annotated[Principal, Depends(get_admin)]
ListingCacheDep = Annotated[ListingCache, Depends(get_listing_cache)]
