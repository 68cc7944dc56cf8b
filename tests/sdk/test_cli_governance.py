"""The governance commands of the `goldenpath` CLI against a real, token-protected server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._servers import ServerProcess, start_server

ADMIN = "cli-admin-token"
IMAGE = "registry.example/cli@sha256:" + "f" * 64


@pytest.fixture()
def token_server(tmp_path: Path) -> Iterator[ServerProcess]:
    config = tmp_path / "goldenpath.yaml"
    config.write_text("environments:\n  dev: {}\n  prod: {approvals: 1}\n")
    srv = start_server(tmp_path, {"GOLDENPATH_CONFIG": str(config), "GOLDENPATH_TOKEN": ADMIN})
    yield srv
    srv.stop()


def _cli(srv: ServerProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOLDENPATH_SERVER": srv.url, "GOLDENPATH_TOKEN": token,
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "goldenpath", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_users_tokens_approvals_and_rejection(token_server: ServerProcess) -> None:
    srv = token_server
    assert _cli(srv, ADMIN, "users", "grant", "dev1", "--team", "web", "--role",
                "submitter").returncode == 0
    assert _cli(srv, ADMIN, "users", "grant", "lead", "--team", "web", "--role",
                "approver").returncode == 0
    dev1 = _cli(srv, ADMIN, "tokens", "create", "dev1").stdout.strip().splitlines()[-1]
    lead = _cli(srv, ADMIN, "tokens", "create", "lead").stdout.strip().splitlines()[-1]
    assert "dev1: submitter of web" in _cli(srv, dev1, "me").stdout

    created = _cli(srv, dev1, "release", "app", "--name", "cli-web", "--image", IMAGE,
                   "--team", "web", "--env", "prod")
    assert "waiting for approval" in created.stdout, created.stderr
    assert "cli-web" in _cli(srv, lead, "approvals").stdout
    denied = _cli(srv, dev1, "approve", "cli-web", "--env", "prod")
    # the submitter hears about four eyes (a role would not let it approve its own release)
    assert denied.returncode == 1 and "four eyes" in denied.stderr
    assert "users grant" not in denied.stderr
    rejected = _cli(srv, lead, "reject", "cli-web", "--env", "prod", "--comment", "no tests")
    assert rejected.returncode == 0 and "rejected" in rejected.stdout
    assert "cli-web" not in _cli(srv, lead, "approvals").stdout

    users = _cli(srv, ADMIN, "users", "ls").stdout
    assert "dev1" in users and "web:submitter" in users
    assert _cli(srv, dev1, "users", "ls").returncode == 1  # admins only
    token_id = next(line.split()[1] for line in _cli(srv, ADMIN, "tokens", "create",
                                                      "dev1").stdout.splitlines()
                    if line.startswith("token "))
    assert _cli(srv, ADMIN, "tokens", "revoke", token_id).returncode == 0
    assert "revoked" in _cli(srv, ADMIN, "users", "ls").stdout
    log = _cli(srv, lead, "audit", "log").stdout
    for kind in ("role_granted", "token_created", "approval_rejected", "token_used"):
        assert kind in log
