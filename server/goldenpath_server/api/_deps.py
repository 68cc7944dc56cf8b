"""Request-scoped dependencies: the Platform and the caller's identity."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from goldenpath.errors import AuthError
from goldenpath_server._platform import Platform


def get_platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def get_actor(request: Request, platform: Annotated[Platform, Depends(get_platform)]) -> str:
    """Who is calling. With GOLDENPATH_TOKEN set, mutations need that bearer token."""
    expected = platform.settings.token
    header = request.headers.get("authorization", "")
    user = request.headers.get("x-goldenpath-user", "") or "local-user"
    if not expected:
        return user
    supplied = header.removeprefix("Bearer ").strip()
    if not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise AuthError("missing or invalid API token",
                        "pass token= to gp.configure or set GOLDENPATH_TOKEN")
    return user


PlatformDep = Annotated[Platform, Depends(get_platform)]
ActorDep = Annotated[str, Depends(get_actor)]
