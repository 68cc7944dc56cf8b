"""Server fixtures: PostgreSQL databases, platforms on both stores, a fake target."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from goldenpath_server import Platform, Settings
from tests._servers import free_port

REPO = Path(__file__).resolve().parents[2]

GOVERNED_CONFIG = """
environments:
  dev: {target: local, policies: {default_action: warn}}
  staging:
    target: local
    policies: {default_action: enforce, metric: {name: accuracy, min: 0.8}, budget_usd: 100,
               actions: {promotion-path: warn}}
  prod:
    target: local
    approvals: 1
    policies: {default_action: enforce, metric: {name: accuracy, min: 0.9},
               actions: {promotion-path: warn}}
"""


@pytest.fixture(scope="session")
def postgres_server() -> None:
    """The local PostgreSQL server, installed from Debian and started if needed."""
    subprocess.run(["bash", str(REPO / "scripts" / "ensure-postgres.sh")], check=True)


@pytest.fixture()
def postgres_database(postgres_server: None) -> str:
    """A fresh, empty database for one test."""
    name = f"gp_test_{uuid.uuid4().hex[:8]}"
    subprocess.run(["su", "postgres", "-c", f"psql -qc 'create database {name} owner "
                    "goldenpath'"], check=True)
    return f"postgresql+psycopg://goldenpath:goldenpath@127.0.0.1:5432/{name}"


class FakeTarget:
    """A target that is live at once: governance tests need no model processes."""

    name = "fake"

    def __init__(self) -> None:
        self.deployed: list[str] = []

    def deploy(self, rollout: Any, state: dict[str, Any], progress: Any) -> dict[str, Any]:
        progress(f"fake rollout of {rollout.release_id}")
        self.deployed.append(rollout.release_id)
        return {"url": f"http://fake/{rollout.key}"}

    adopt = deploy

    def health(self, state: dict[str, Any]) -> tuple[bool, str]:
        return True, ""

    def logs(self, state: dict[str, Any], tail: int) -> list[str]:
        return []

    def stop(self, state: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    return "" if request.param == "sqlite" else request.getfixturevalue("postgres_database")


@pytest.fixture()
def governed(database_url: str, tmp_path: Path) -> Iterator[Platform]:
    """A platform with staging/prod policies enforced and one approval for prod, on a fake
    target, on SQLite and on PostgreSQL."""
    config = tmp_path / "goldenpath.yaml"
    config.write_text(GOVERNED_CONFIG)
    core = make_platform(tmp_path, database_url, config=config)
    yield core
    core.close()


def make_platform(tmp_path: Path, database_url: str = "", **settings: Any) -> Platform:
    fake = FakeTarget()
    core = Platform(Settings(home=tmp_path / "home", database_url=database_url, **settings),
                    targets={"dev": fake, "staging": fake, "prod": fake})  # type: ignore[dict-item]
    core.start()
    return core


def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A plain HTTP endpoint that records what it is sent."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
