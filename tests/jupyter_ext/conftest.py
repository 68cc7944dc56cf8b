"""Fixtures for the Jupyter extension: a real promotion server and a Jupyter server with
goldenpath_jupyter enabled and pointed at it (pytest-jupyter's jp_fetch talks to it)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytest_jupyter")
pytest.importorskip("goldenpath_jupyter")

from pytest_jupyter.jupyter_server import *  # noqa: E402,F403 - fixtures + async test hooks
from traitlets.config import Config  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _platform import Platform, start  # noqa: E402

TOKEN = "jupyter-ext-test-token"


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    """A token-protected goldenpath server with `iris` live in dev (deployed via the SDK)."""
    home = Path(tempfile.mkdtemp(prefix="gp-jupyter-ext-"))
    srv = start(home, token=TOKEN)
    try:
        srv.deploy_iris("iris")
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def jp_server_config(platform: Platform) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"goldenpath_jupyter": True}},
        # the Jupyter server's delegation token: the panel acts for ada, with ada's roles
        "GoldenpathJupyter": {"server": platform.url, "token": platform.delegation,
                              "user": "ada"},
    })
