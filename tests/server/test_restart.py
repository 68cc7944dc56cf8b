"""After a server crash the deployments come back, state intact."""

from __future__ import annotations

import os
import signal
from typing import Any

import requests

import goldenpath
from goldenpath import _config
from tests._servers import serving_processes


def _deploy(server: Any, iris: tuple) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    goldenpath.configure(server=server.url)
    return goldenpath.deploy(DecisionTreeClassifier(random_state=0).fit(X, y), name="crashy",
                             sample=X[:5], quiet=True), X


def test_killed_server_re_adopts_running_model_on_restart(fresh_server: Any,
                                                          iris: tuple) -> None:
    previous = _config._current
    try:
        d, X = _deploy(fresh_server, iris)
        before = d.predict(X[:2])
        fresh_server.kill()
        fresh_server.start()
        after = goldenpath.get("crashy")
        assert after.url == d.url and after.status()["status"] == "live"
        assert after.predict(X[:2]) == before
    finally:
        _config._current = previous


def test_model_process_that_died_is_restarted(fresh_server: Any, iris: tuple) -> None:
    previous = _config._current
    try:
        d, X = _deploy(fresh_server, iris)
        serving = serving_processes(fresh_server.home)
        assert len(serving) == 1, "one process should serve the model"
        os.killpg(os.getpgid(serving[0].pid), signal.SIGKILL)
        events: list[str] = []
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.post(f"{d.url}/predict", json={"inputs": X[:1].to_numpy().tolist()},
                                 timeout=5).ok:
                    events = [e["message"] for e in d._client.events("crashy")]
                    if any("starting it again" in m for m in events):
                        break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert any("starting it again" in m for m in events), events
        assert d.status()["status"] == "live"
    finally:
        _config._current = previous
