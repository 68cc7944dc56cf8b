"""gp.deploy end to end against a real server process, real bundles and real endpoints."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from goldenpath import errors
from tests._race import race


def _pipeline(X: Any, y: Any, C: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500)).fit(X, y)


def test_deploy_predict_status_logs_list(gp: Any, iris: tuple) -> None:
    X, y = iris
    model = _pipeline(X, y)
    d = gp.deploy(model, name="flow-iris", sample=X[:5], quiet=True)
    assert d.url.startswith("http://127.0.0.1:")
    assert d.predict(X[:3]) == model.predict(X[:3]).tolist()
    # the same endpoint over plain HTTP, as any client would call it
    raw = requests.post(f"{d.url}/predict", json={"inputs": X[:2].to_numpy().tolist()}, timeout=10)
    assert raw.json()["predictions"] == model.predict(X[:2]).tolist()
    status = d.status()
    assert status["status"] == "live" and status["release_version"] == 1
    assert "bentoml" in d.logs().lower() or d.logs()
    assert requests.get(f"{d.url}/readyz", timeout=5).status_code == 200
    assert "bentoml_service_request" in requests.get(f"{d.url}/metrics", timeout=5).text
    names = {s["name"]: s for s in gp.list()}
    assert names["flow-iris"]["deployments"][0]["status"] == "live"


def test_wrong_schema_gets_a_4xx_quoting_the_schema(gp: Any, iris: tuple) -> None:
    X, y = iris
    d = gp.deploy(_pipeline(X, y), name="flow-schema", sample=X[:5], quiet=True)
    response = requests.post(f"{d.url}/predict", json={"inputs": [{"wrong": 1}]}, timeout=10)
    assert response.status_code == 400
    assert "sepal length (cm): float64" in response.text
    with pytest.raises(errors.InvalidInput, match="missing columns"):
        d.predict([{"wrong": 1}])


def test_redeploy_keeps_the_endpoint_answering_then_rollback(gp: Any, iris: tuple) -> None:
    X, y = iris
    d1 = gp.deploy(_pipeline(X, y, C=1.0), name="flow-redeploy", sample=X[:5], quiet=True)
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                r = requests.post(f"{d1.url}/predict", json={"inputs": X[:1].to_numpy().tolist()},
                                  timeout=10)
                if r.status_code != 200:
                    failures.append(str(r.status_code))
                answered += 1
            except requests.RequestException as exc:
                failures.append(repr(exc))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        d2 = gp.deploy(_pipeline(X, y, C=0.01), name="flow-redeploy", sample=X[:5], quiet=True)
        time.sleep(3)  # past the old process's drain time
    finally:
        stop.set()
        thread.join()
    assert d2.url == d1.url and d2.version == 2
    assert failures == [] and answered > 10
    back = gp.rollback("flow-redeploy")
    assert back.version == 1 and back.status()["status"] == "live"


def test_two_deploys_at_once_one_wins_the_other_conflicts(gp: Any, iris: tuple) -> None:
    from goldenpath._deploy import client

    X, y = iris
    d = gp.deploy(_pipeline(X, y), name="flow-race", sample=X[:5], quiet=True)
    c = client()
    _, conflicts = race(lambda: c.deploy(d.release_id, "staging"), 2)
    assert len(conflicts) == 1 and "already rolling out" in conflicts[0].message
    live = c.wait("flow-race", "staging")
    assert live.status == "live"


def test_unsupported_model_fails_before_anything_is_uploaded(gp: Any) -> None:
    with pytest.raises(errors.UnsupportedModel):
        gp.deploy(object(), name="flow-bad", sample=[[1]], quiet=True)
    assert "flow-bad" not in {s["name"] for s in gp.list()}


def test_unreachable_server_says_which_url_and_how_to_start_one() -> None:
    import goldenpath
    from goldenpath import _config

    previous = _config._current
    try:
        goldenpath.configure(server="http://127.0.0.1:9")
        with pytest.raises(errors.ServerUnreachable) as err:
            goldenpath.list()
        assert "http://127.0.0.1:9" in err.value.message
        assert "goldenpath server" in err.value.hint
    finally:
        _config._current = previous
