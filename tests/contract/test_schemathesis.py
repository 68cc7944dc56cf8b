"""Schemathesis, every check, against a real promotion server with authentication on: a
request the OpenAPI document allows is accepted, one it forbids is refused with a 4xx, and
every answer (status, content type, body, headers) is the one the document describes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._servers import ServerProcess, start_server, stop_model_processes

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ADMIN_TOKEN = "contract-admin-token"
pytestmark = pytest.mark.slow  # a real server process and a few thousand requests


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path, {"GOLDENPATH_TOKEN": ADMIN_TOKEN,
                                   # nothing here goes live: no zygote to fork models from
                                   "GOLDENPATH_LOCAL_WARM_WORKER": "false"})
    yield proc
    proc.stop()
    stop_model_processes(proc.home)


def test_the_server_conforms_to_its_openapi_document(server: ServerProcess,
                                                     tmp_path: Path) -> None:
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract._hooks",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    schemathesis = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(
        [str(schemathesis), "--no-color", "--config-file", str(HERE / "schemathesis.toml"),
         "run", f"{server.url}/openapi.json", "--checks", "all",
         "--header", f"Authorization: Bearer {ADMIN_TOKEN}", "--request-timeout", "30",
         "--report-dir", str(tmp_path / "report")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout[-20000:] + run.stderr[-5000:]
                                 + (server.home / "server.log").read_text()[-5000:])
