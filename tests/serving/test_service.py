"""/predict served by stock `bentoml serve`: concurrent requests, each answered on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from goldenpath_serving import Schema, save_model
from tests._servers import free_port


def _serve(tmp_path: Path, model: Any, X: np.ndarray) -> Iterator[str]:
    import bentoml

    with bentoml.models.create("serving-test", module="goldenpath_serving") as bento_model:
        save_model(model, Path(bento_model.path), kind="sklearn", schema=Schema.infer(X[:5]))
    (tmp_path / "svc.py").write_text(
        "from goldenpath_serving.service import model_service\n"
        f"Model = model_service('serving-test', {str(bento_model.tag)!r})\n")
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", "svc:Model", "--port",
                             str(port), "--host", "127.0.0.1"], cwd=tmp_path, env=dict(os.environ),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                requests.get(f"{url}/readyz", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.3)
        yield url
    finally:
        from goldenpath_server.targets.local import _terminate

        _terminate(proc.pid)
        log.close()


@pytest.fixture(params=["lr", "rf"], ids=["event-loop", "worker-thread"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any, Any]]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=300, n_features=6, random_state=0)
    model = (LogisticRegression() if request.param == "lr" else
             RandomForestClassifier(n_estimators=60, random_state=0)).fit(X, y)
    for url in _serve(tmp_path, model, X):
        yield url, model, X


def test_concurrent_requests_get_their_own_answers_and_errors(served: tuple) -> None:
    url, model, X = served
    bodies: list[Any] = [{"inputs": X[i:i + 1 + i % 3].tolist()} for i in range(60)]
    bodies[17] = {"inputs": [[1.0, 2.0]]}  # wrong row width
    bodies[41] = {"inputs": "not rows"}
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda b: requests.post(f"{url}/predict", json=b, timeout=30),
                                bodies))
    for i, (body, answer) in enumerate(zip(bodies, answers, strict=True)):
        if i in (17, 41):
            assert answer.status_code == 400, answer.text
            assert "Expected" in answer.text and "float64" in answer.text
        else:
            assert answer.status_code == 200, answer.text
            expected = model.predict(np.array(body["inputs"])).tolist()
            assert answer.json() == {"predictions": expected}
    assert requests.post(f"{url}/schema", timeout=5).json()["shape"] == [None, 6]


def test_tracing_is_skipped_only_while_no_exporter_is_configured() -> None:
    from bentoml._internal.configuration.containers import BentoMLContainer

    from goldenpath_serving.service import _tracing_defaults

    assert _tracing_defaults(["/predict"]) == {"tracing": {"excluded_urls": ["/predict"]}}
    exporter = BentoMLContainer.config.tracing.exporter_type
    exporter.set("otlp")
    try:
        assert _tracing_defaults(["/predict"]) == {}
    finally:
        exporter.set(None)
