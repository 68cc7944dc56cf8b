"""gp.list(), gp.inventory() and the CLI's ls/inventory follow the server's pages: against a
server whose biggest page is 2 rows, they still show every service and deployment."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

import goldenpath
from goldenpath import _config
from goldenpath_server import create_app
from goldenpath_server.api import _listing
from tests._servers import free_port
from tests.server.conftest import make_platform, wait_until

IMAGE = "registry.example/pages@sha256:" + "e" * 64
FLEET = {"pg-ant": ("dev", "staging"), "pg-bee": ("dev",), "pg-cat": ("dev", "prod"),
         "pg-dog": ()}


@pytest.fixture()
def small_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server (fake target, in this process) that never sends more than 2 rows a page."""
    monkeypatch.setattr(_listing, "MAX_LIMIT", 2)
    platform = make_platform(tmp_path)
    for service, environments in FLEET.items():
        release = platform.releases.create_app_release(service, IMAGE, 80, actor="ci", team="zoo")
        for env in environments:
            platform.promotions.promote(release["id"], env, actor="ci")
            wait_until(lambda s=service, e=env: platform.rollouts.status(s, e)["status"] == "live")
    server = uvicorn.Server(uvicorn.Config(create_app(platform.settings, platform),
                                           host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    previous = _config._current
    url = f"http://127.0.0.1:{server.config.port}"
    goldenpath.configure(server=url)
    try:
        yield url
    finally:
        _config._current = previous
        server.should_exit = True
        thread.join(30)
        platform.close()


def test_sdk_follows_pages(small_pages: str) -> None:
    services = goldenpath.list()
    assert [s["name"] for s in services] == sorted(FLEET)
    assert {s["name"]: sorted(d["environment"] for d in s["deployments"])
            for s in services} == {s: sorted(envs) for s, envs in FLEET.items()}
    rows = goldenpath.inventory()
    assert sorted((r["environment"], r["service"]) for r in rows) == sorted(
        (env, s) for s, envs in FLEET.items() for env in envs)
    assert [r["service"] for r in goldenpath.inventory("dev")] == ["pg-ant", "pg-bee", "pg-cat"]


def test_cli_ls_and_inventory_show_every_page(small_pages: str, tmp_path: Path) -> None:
    env = {**os.environ, "GOLDENPATH_SERVER": small_pages, "COLUMNS": "200"}

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "goldenpath", *args], capture_output=True,
                              text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = cli("ls")
    assert all(name in listed for name in FLEET)
    shown = cli("inventory")
    assert all(shown.count(name) == len(envs) for name, envs in FLEET.items())
    exported = tmp_path / "inventory.csv"
    cli("inventory", "--csv", str(exported))
    assert len(exported.read_text().splitlines()) == 1 + sum(map(len, FLEET.values()))
