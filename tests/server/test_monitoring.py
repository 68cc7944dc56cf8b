"""Watching a live model: deployed with its training data, its live requests are logged by
the runtime and pulled by the server; a window of in-distribution traffic flags nothing, a
window with one feature shifted flags that feature only, with an audit event, a webhook,
Prometheus gauges, a report and the CLI saying so."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests._cluster import wait_for
from tests._servers import ServerProcess, sdk_pointed_at, start_server, stop_model_processes

WINDOW = 200  # rows per drift window: drift is flagged within 20 requests of 10 rows
FEATURES = ["tenure", "spend", "visits", "age"]
SHIFTED = "visits"
PERIOD_S = 3  # the time window of the `hourly` environment


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Any]]]:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


@pytest.fixture(scope="module")
def watched_server(tmp_path_factory: pytest.TempPathFactory,
                   hooks: tuple[str, list[Any]]) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("monitoring")
    config = tmp / "goldenpath.yaml"
    config.write_text(f"""
environments:
  dev:
    target: local
    monitoring: {{sample: 1.0, window_rows: {WINDOW}}}
  quiet:
    target: local
    monitoring: {{sample: 0}}
  hourly:
    target: local
    monitoring: {{sample: 1.0, window_rows: 5000, window_s: {PERIOD_S}, min_window_rows: 50,
                 drop: [tenure, emial]}}
  guarded:
    target: local
    # every alert window 1/720 of its length: the hour lasts 5 s, the 5 minutes 0.4 s
    monitoring: {{slo: {{availability: 0.99}}, on_breach: rollback, slo_window_scale: 0.00139}}
outbound_allow: [127.0.0.1]
webhooks:
  - url: {hooks[0]}
    events: [drift_detected, drift_cleared, slo_alert]
""")
    server = start_server(tmp, {"GOLDENPATH_CONFIG": str(config),
                                "GOLDENPATH_MONITOR_INTERVAL_S": "0.3"})
    yield server
    server.stop()
    stop_model_processes(server.home)


@pytest.fixture(scope="module")
def gp(watched_server: ServerProcess) -> Iterator[Any]:
    with sdk_pointed_at(watched_server) as goldenpath:
        yield goldenpath


def _table(rows: int, seed: int, shift: float = 0.0) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"tenure": rng.normal(24, 6, rows), "spend": rng.normal(80, 20, rows),
                          "visits": rng.normal(10, 3, rows), "age": rng.normal(40, 10, rows)})
    frame[SHIFTED] += shift * 3  # in standard deviations of the training data
    return frame


@pytest.fixture(scope="module")
def churn(gp: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    train = _table(3000, seed=1)
    labels = (train["tenure"] + train["spend"] / 4 > 44).astype(int)
    # the model reads only tenure and spend: a shift of `visits` moves no prediction
    model = LogisticRegression(max_iter=500).fit(train[["tenure", "spend"]].assign(
        visits=0.0, age=0.0)[FEATURES], labels)
    return gp.deploy(model, name="watched", sample=train[:5], data={"train": train},
                     env="dev", quiet=True)


def _send(d: Any, frame: Any, per_request: int = 10) -> None:
    for start in range(0, len(frame), per_request):
        d.predict(frame[start:start + per_request])


def test_in_distribution_traffic_flags_nothing_and_a_shifted_feature_is_flagged_alone(
        gp: Any, churn: Any, watched_server: ServerProcess,
        hooks: tuple[str, list[Any]]) -> None:
    assert churn.drift().status == "waiting"  # no full window yet
    _send(churn, _table(WINDOW, seed=2))
    first = wait_for("the first window", lambda: (s := churn.drift()).latest and s)
    assert first.status == "ok", first.latest
    assert first.latest.rows >= WINDOW and not first.latest.drifted
    assert {c.name for c in first.latest.columns} == {*FEATURES, "prediction"}
    # a window of 200 rows is the smaller sample: KS per numeric feature, chi-squared for
    # the predicted labels, at p < 0.05 shared by the five columns
    assert {c.method for c in first.latest.columns if c.name in FEATURES} == {"ks"}
    assert {c.name: c.method for c in first.latest.columns}["prediction"] == "chisquare"

    _send(churn, _table(WINDOW, seed=3, shift=1.0))
    second = wait_for("the second window", lambda: (s := churn.drift()).latest
                      and s.latest.id != first.latest.id and s)
    assert second.status == "drift"
    assert second.latest.drifted == [SHIFTED], second.latest.columns
    p_values = {c.name: c.p_value for c in second.latest.columns}
    assert p_values[SHIFTED] < 1e-6 < 0.01 < min(v for k, v in p_values.items() if k != SHIFTED)
    assert [w.status for w in second.windows[:2]] == ["drift", "ok"]
    status = churn.status()  # the deployment's own status says so too
    assert (status["drift"], status["drifted"]) == ("drift", [SHIFTED])

    # the finding is in the audit trail and went out as a webhook
    events = [e for e in churn.events(limit=50) if e["type"] == "drift_detected"]
    assert len(events) == 1 and events[0]["data"]["drifted"] == [SHIFTED]
    hook = wait_for("the webhook", lambda: [h for h in hooks[1]
                                            if h.get("type") == "drift_detected"])
    assert hook[0]["data"]["drifted"] == [SHIFTED] and hook[0]["service"] == "watched"

    # Prometheus gauges from the newest window
    metrics = requests.get(f"{watched_server.url}/metrics", timeout=10).text
    assert 'goldenpath_drift_detected{environment="dev",service="watched"} 1.0' in metrics
    assert f'goldenpath_drift_score{{environment="dev",feature="{SHIFTED}",service="watched"}}' \
        in metrics

    # back to the training distribution: the drift clears, and says so
    _send(churn, _table(WINDOW, seed=4))
    wait_for("the drift to clear", lambda: churn.drift().status == "ok")
    assert [e["type"] for e in churn.events(limit=50)
            if e["type"].startswith("drift_")] == ["drift_detected", "drift_cleared"]


def test_the_report_and_the_cli_show_the_drifted_feature(
        gp: Any, churn: Any, watched_server: ServerProcess, tmp_path: Path) -> None:
    status = wait_for("a window", lambda: (s := churn.drift()).windows and s)
    drifted = next(w for w in status.windows if w.status == "drift")
    answer = requests.get(f"{watched_server.url}/api/v1/services/watched/environments/dev/"
                          f"drift/report", params={"window": drifted.id}, timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert SHIFTED in answer.text and "<svg" in answer.text and "<script" not in answer.text

    out = subprocess.run([sys.executable, "-m", "goldenpath", "drift", "watched", "--env",
                          "dev", "--windows", "5", "--report", str(tmp_path / "r.html")],
                         capture_output=True, text=True, timeout=60,
                         env={"GOLDENPATH_SERVER": watched_server.url, "PATH": "/usr/bin:/bin",
                              "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert "watched" in out.stdout and SHIFTED in out.stdout and "ks" in out.stdout
    shown = subprocess.run([sys.executable, "-m", "goldenpath", "status", "watched", "--env",
                            "dev"], capture_output=True, text=True, timeout=60,
                           env={"GOLDENPATH_SERVER": watched_server.url, "PATH": "/usr/bin:/bin",
                                "COLUMNS": "200"})
    assert "drift: " in shown.stdout and "goldenpath drift watched" in shown.stdout
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_an_environment_that_logs_nothing_says_so(gp: Any) -> None:
    from sklearn.dummy import DummyClassifier

    frame = _table(50, seed=5)
    d = gp.deploy(DummyClassifier().fit(frame, [0, 1] * 25), name="unwatched",
                  sample=frame[:5], env="quiet", quiet=True)
    _send(d, frame)
    status = d.drift()
    assert status.status == "off" and status.logged_requests == 0 and status.latest is None


def test_time_windows_close_when_their_period_ends_with_enough_rows(gp: Any) -> None:
    import time

    from sklearn.dummy import DummyClassifier

    frame = _table(120, seed=6)
    d = gp.deploy(DummyClassifier().fit(frame, [0, 1] * 60), name="hourly",
                  sample=frame[:5], data={"train": frame}, env="hourly", quiet=True)
    _send(d, frame[:30])  # below min_window_rows: the period passes, nothing is judged
    # 35 rows in 4 records: gp.deploy's own check of the sample (5 rows) is live traffic too
    wait_for("the log to be pulled", lambda: d.drift().logged_requests == 4)
    time.sleep(PERIOD_S + 1)
    assert d.drift().status == "waiting"
    _send(d, frame[30:60], per_request=30)  # one record: the window cannot end at 50 rows
    window = wait_for("a window by time", lambda: (s := d.drift()).latest and s.latest)
    assert window.rows == 65  # the period has ended: a window of 65 rows, not 5,000
    # tenure was dropped from the log: not compared; the misspelled column was said at deploy
    assert {c.name for c in window.columns} >= set(FEATURES) - {"tenure"}, window
    assert "tenure" not in {c.name for c in window.columns}
    said = [e["message"] for e in d.events(limit=50) if e["type"] == "rollout_progress"]
    assert any("does not have: emial " in m for m in said), said


class Flaky:
    """Answers like `inner`, but fails (a 500) on rows whose tenure is negative."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.classes_ = inner, inner.classes_

    def predict(self, X: Any) -> Any:
        if (np.asarray(X)[:, 0] < 0).any():
            raise RuntimeError("tenure below zero")
        return self.inner.predict(X)


def test_a_release_that_burns_its_error_budget_pages_and_is_rolled_back(
        gp: Any, watched_server: ServerProcess, hooks: tuple[str, list[Any]]) -> None:
    from sklearn.dummy import DummyClassifier

    frame = _table(50, seed=6)
    good = DummyClassifier().fit(frame, [0, 1] * 25)
    v1 = gp.deploy(good, name="guarded", sample=frame[:5], env="guarded", quiet=True)
    v2 = gp.deploy(Flaky(good), name="guarded", sample=frame[:5], env="guarded", quiet=True)
    assert v2.version == v1.version + 1
    bad = frame[:1].assign(tenure=-1.0)

    def paged() -> Any:
        for rows in (frame[:1], bad):  # half the requests fail: a burn rate of 50
            try:
                v2.predict(rows)
            except gp.errors.GoldenpathError:
                pass
        return [e for e in v2.events(limit=100) if e["type"] == "slo_alert"]

    alert = wait_for("an SLO page", paged, timeout=90)[0]
    assert alert["data"]["slo"] == "availability" and alert["data"]["alert"] == "page"
    assert alert["data"]["burn_rates"]["availability:5m"] > 14.4
    assert alert["data"]["action"] == "rollback"
    back = wait_for("the rollback to v1", lambda: (s := gp.get("guarded", "guarded").state)
                    .release_id == v1.release_id and s.status == "live" and s)
    assert back.release_version == v1.version
    rolled = [e for e in v2.events(limit=100) if e["type"] == "rollback_started"]
    assert rolled and rolled[-1]["actor"] == "system"
    assert wait_for("the webhook", lambda: [h for h in hooks[1] if h.get("type") == "slo_alert"])


    def gauged() -> bool:  # the release rolled back to starts its own budget: traffic first
        v2.predict(frame[:1])  # the stable endpoint: v1 answers it now
        return 'goldenpath_slo_burn_rate{environment="guarded",service="guarded",' \
            'slo="availability",window="5m"} 0.0' in requests.get(
                f"{watched_server.url}/metrics", timeout=10).text

    wait_for("the burn-rate gauges of v1", gauged)
