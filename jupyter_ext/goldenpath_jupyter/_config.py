"""The extension's one settings object; GOLDENPATH_* environment variables are read here only."""

from __future__ import annotations

import os

from traitlets import Float, Unicode, default
from traitlets.config import Configurable

DEFAULT_SERVER = "http://127.0.0.1:8731"


class GoldenpathJupyter(Configurable):
    """Where the promotion server is and how the proxy authenticates to it."""

    server = Unicode(help="promotion server URL (default: $GOLDENPATH_SERVER or "
                          f"{DEFAULT_SERVER})").tag(config=True)
    token = Unicode(help="API token sent to the server; never sent to the browser "
                         "(default: $GOLDENPATH_TOKEN)").tag(config=True)
    user = Unicode(help="user name for the audit trail (default: $GOLDENPATH_USER, else "
                        "the Jupyter user)").tag(config=True)
    timeout = Float(30.0, help="seconds to wait for the promotion server").tag(config=True)

    @default("server")
    def _default_server(self) -> str:
        return os.environ.get("GOLDENPATH_SERVER", "") or DEFAULT_SERVER

    @default("token")
    def _default_token(self) -> str:
        return os.environ.get("GOLDENPATH_TOKEN", "")

    @default("user")
    def _default_user(self) -> str:
        return os.environ.get("GOLDENPATH_USER", "")

    @property
    def base(self) -> str:
        return self.server.rstrip("/")
