"""Hermetic fixtures: temp homes, free ports, real server processes, a clean environment."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._servers import ServerProcess, sdk_pointed_at, start_server, stop_model_processes

# Before anything imports bentoml: a private model/bento store, no usage tracking.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="goldenpath-tests-"))
os.environ["BENTOML_HOME"] = str(_SESSION_TMP / "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "True"
for _var in ("GOLDENPATH_SERVER", "GOLDENPATH_TOKEN", "GOLDENPATH_HOME", "GOLDENPATH_ENV"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One promotion server for the session (tests use distinct service names)."""
    srv = start_server(Path(tempfile.mkdtemp(prefix="gp-server-", dir=_SESSION_TMP)))
    yield srv
    srv.stop()
    stop_model_processes(srv.home)


@pytest.fixture()
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own, for tests that kill or restart it."""
    srv = start_server(tmp_path)
    yield srv
    srv.stop()
    stop_model_processes(srv.home)


@pytest.fixture()
def gp(server: ServerProcess) -> Iterator[object]:
    """The SDK pointed at the session server."""
    with sdk_pointed_at(server) as goldenpath:
        yield goldenpath


@pytest.fixture(scope="session")
def iris() -> tuple[object, object]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y
