"""Starts a local promotion server for the user when none runs, so gp.deploy is one call."""

from __future__ import annotations

import subprocess
import sys
import time
from urllib.parse import urlparse

from goldenpath._client import Client
from goldenpath.errors import ServerUnreachable


def ensure_server(client: Client, wait_s: float = 60.0) -> None:
    """Make sure `client` reaches a server, starting a local one if allowed and needed."""
    wait_for_server(client, start_server(client), wait_s)


def start_server(client: Client) -> bool:
    """Start a local server for `client` if none answers and autostart allows; do not wait.

    Returns whether one was started. gp.deploy packages the model while it starts."""
    if client.healthy():
        return False
    if not client.config.autostart:
        raise ServerUnreachable(
            f"could not reach the goldenpath server at {client.base}",
            "start it (`goldenpath server`) or fix gp.configure(server=...)")
    url = urlparse(client.base)
    home = client.config.home
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "server.log", "ab")  # noqa: SIM115 - handed to the child
    subprocess.Popen(
        [sys.executable, "-m", "goldenpath", "server", "--host", url.hostname or "127.0.0.1",
         "--port", str(url.port or 8731), "--home", str(home)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return True


def wait_for_server(client: Client, started: bool, wait_s: float = 60.0) -> None:
    """Wait until the server start_server started answers (nothing to do if none was)."""
    if not started:
        return
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if client.healthy():
            return
        time.sleep(0.05)
    raise ServerUnreachable(f"started a local goldenpath server for {client.base}, but it did "
                            "not answer", f"read {client.config.home / 'server.log'}")
