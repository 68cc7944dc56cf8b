"""The SDK's settings: where the promotion server is and how to authenticate.

Read once from GOLDENPATH_SERVER / GOLDENPATH_TOKEN / GOLDENPATH_ENV / GOLDENPATH_USER,
overridden by gp.configure(). With no server set (or GOLDENPATH_AUTOSTART=1), the SDK uses
and if need be starts a local server, whose state lives in GOLDENPATH_HOME.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:8731"


@dataclass(frozen=True)
class Config:
    server: str = DEFAULT_SERVER
    token: str = field(default="", repr=False)  # never in a notebook's output
    environment: str = "dev"
    user: str = ""
    autostart: bool = True  # start a local server when the default one is not running
    timeout: float = 600.0
    home: Path = field(default_factory=lambda: Path.home() / ".goldenpath")  # local server state

    @classmethod
    def from_env(cls) -> Config:
        server = os.environ.get("GOLDENPATH_SERVER", "")
        autostart = not server or os.environ.get("GOLDENPATH_AUTOSTART", "") in ("1", "true")
        return cls(server=server or DEFAULT_SERVER, token=os.environ.get("GOLDENPATH_TOKEN", ""),
                   environment=os.environ.get("GOLDENPATH_ENV", "dev"),
                   user=os.environ.get("GOLDENPATH_USER", ""), autostart=autostart,
                   home=Path(os.environ.get("GOLDENPATH_HOME") or Path.home() / ".goldenpath"))


_current: Config | None = None


def current() -> Config:
    global _current
    if _current is None:
        _current = Config.from_env()
    return _current


def configure(server: str | None = None, token: str | None = None,
              environment: str | None = None, user: str | None = None) -> Config:
    """Point the SDK at a promotion server (and token); returns the config in force."""
    global _current
    changes: dict[str, object] = {}
    if server is not None:
        changes.update(server=server.rstrip("/"), autostart=False)
    if token is not None:
        changes["token"] = token
    if environment is not None:
        changes["environment"] = environment
    if user is not None:
        changes["user"] = user
    _current = replace(current(), **changes)  # type: ignore[arg-type]
    return _current
