"""The notebook widget table (goldenpath_jupyter.panel) against the real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from _platform import Platform


@pytest.fixture
def sdk(platform: Platform) -> Iterator[Any]:
    import goldenpath
    from goldenpath import _config

    previous = _config._current
    goldenpath.configure(server=platform.url, token=platform.token)
    yield goldenpath
    _config._current = previous


def _wait_live(sdk: Any, name: str, env: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sdk.get(name, env).status()["status"] == "live":
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} not live in {env}")


def test_table_lists_deployments_and_promotes(sdk: Any) -> None:
    from goldenpath_jupyter.widgets import DeploymentsTable

    assert sdk.panel().children  # gp.panel(), the public entry point, renders
    table = DeploymentsTable(sdk=sdk)
    text = " ".join(getattr(r.children[0], "value", "") for r in table.rows.children)
    assert "iris" in text and "live" in text
    table.buttons[("iris", "dev", "promote")].click()
    _wait_live(sdk, "iris", "staging")
    table.refresh()
    assert ("iris", "staging", "promote") in table.buttons  # staging -> prod offered now
    sdk.get("iris", "staging").delete()


def test_table_shows_server_errors_with_the_hint() -> None:
    from goldenpath.errors import ServerUnreachable
    from goldenpath_jupyter.widgets import DeploymentsTable

    class Down:
        def list(self) -> None:
            raise ServerUnreachable("could not reach http://x", "start `goldenpath server`")

    table = DeploymentsTable(sdk=Down())
    assert "could not reach http://x" in table.message.value
    assert "goldenpath server" in table.message.value
