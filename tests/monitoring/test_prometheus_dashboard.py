"""deploy/grafana/goldenpath.json against a real Prometheus: it scrapes the promotion server, a
served model and the example app (scripts/image/app, run as a process; scrape interval 1 s),
and every query of every panel must return data, with the dashboard's variables set to that
model's deployment; the traffic panels show the app beside the model."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests._servers import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "goldenpath.json"
INSTALL = "scripts/install-prometheus.sh"
SERVICE, ENVIRONMENT = "monitoring-iris", "dev"
APP = "monitoring-app"
# What Grafana puts in for its own variables when the panels are drawn.
GRAFANA_VARIABLES = {"$__rate_interval": "15s", "$__interval": "15s", "$__range": "1h"}
ROWS = ["Traffic", "Delivery", "Models: drift", "SLOs"]
# Panels whose metrics the server does not export yet (the drift monitor and the SLO
# evaluator, issue #13, are being added): their queries must parse, data comes later.
# Take a panel out of this set once its metric is exported.


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but the rows (and those inside collapsed rows)."""
    found = []
    for panel in board["panels"]:
        found += panel.get("panels", []) if panel["type"] == "row" else [panel]
    return found


def queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of every panel, variables still in."""
    return [(p["title"], t["expr"]) for p in panels(dashboard()) for t in p["targets"]]


def substituted(expr: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):  # $__range before $__r...
        expr = expr.replace(name, values[name])
    left = re.findall(r"\$\{?\w+", expr)
    assert not left, f"variables left in {expr}: {left}"
    return expr


# --- the dashboard itself ---------------------------------------------------------------

def test_the_dashboard_is_valid_and_every_panel_uses_the_datasource_variable() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("service", "environment"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${datasource}"
    assert [p["title"] for p in board["panels"] if p["type"] == "row"] == ROWS
    ids = [p["id"] for p in board["panels"]] + [p["id"] for p in panels(board)
                                                 if p not in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(board):
        where = f"panel {panel['title']!r}"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["targets"], f"{where} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", where
            assert target["expr"].strip(), where
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{where} is wider than the dashboard"


# --- a real Prometheus ------------------------------------------------------------------

def prometheus_binary() -> Path:
    """GOLDENPATH_PROMETHEUS (scripts/test.sh sets it), else the newest one the install
    script left in the cache; CI fails without one, a developer's machine skips."""
    named = os.environ.get("GOLDENPATH_PROMETHEUS")
    if named and Path(named).is_file():
        return Path(named)
    cache = Path(os.environ.get("GOLDENPATH_CACHE") or Path.home() / ".cache" / "goldenpath")
    cached = sorted(cache.glob("prometheus/*/usr/bin/prometheus"))
    if cached:
        return cached[-1]
    message = f"no Prometheus server binary: run {INSTALL} (it prints the path; or set " \
              "GOLDENPATH_PROMETHEUS to a prometheus binary)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Prometheus:
    """A Prometheus server of the test's own: temp storage, a loopback port."""

    def __init__(self, binary: Path, folder: Path, targets: dict[str, tuple[str, dict]]) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        jobs = [{"job_name": job, "metrics_path": "/metrics",
                 "static_configs": [{"targets": [address], "labels": labels}]}
                for job, (address, labels) in targets.items()]
        config = folder / "prometheus.yml"
        config.write_text(json.dumps({"global": {"scrape_interval": "1s",
                                                 "evaluation_interval": "1s"},
                                      "scrape_configs": jobs}))
        self.log = folder / "prometheus.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(binary), f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                 f"--web.listen-address={self.url.removeprefix('http://')}"],
                stdout=log, stderr=subprocess.STDOUT)
        self._wait(lambda: requests.get(f"{self.url}/-/ready", timeout=1).ok, 30, "ready")

    def query(self, expr: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert response.ok and body["status"] == "success", f"{expr}: {body}"
        return dict(body["data"])

    def values(self, label: str, match: str) -> list[str]:
        response = requests.get(f"{self.url}/api/v1/label/{label}/values",
                                params={"match[]": match}, timeout=10)
        return list(response.json()["data"])

    def wait_for(self, expr: str, timeout: float = 60) -> None:
        self._wait(lambda: bool(self.query(expr)["result"]), timeout, f"data for {expr}")

    def _wait(self, check: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if check():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        log = self.log.read_text()[-3000:]
        raise AssertionError(f"Prometheus: no {what} in {timeout}s:\n{log}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


@pytest.fixture(scope="module")
def binary() -> Path:
    return prometheus_binary()


@pytest.fixture(scope="module")
def history(server: ServerProcess, iris: tuple) -> Iterator[Any]:
    """A model with a delivery history: live in dev, promoted to prod (a lead time), replaced
    in dev and rolled back (a rollback and a time to restore). Yields its dev deployment."""
    from sklearn.linear_model import LogisticRegression

    from tests._servers import sdk_pointed_at

    X, y = iris
    with sdk_pointed_at(server) as gp:
        first = gp.deploy(LogisticRegression(max_iter=500).fit(X, y), name=SERVICE,
                          sample=X[:5], quiet=True)
        first.promote("staging").promote("prod")
        gp.deploy(LogisticRegression(C=0.01, max_iter=500).fit(X, y), name=SERVICE,
                  sample=X[:5], quiet=True)
        yield gp.rollback(SERVICE, ENVIRONMENT)


@pytest.fixture(scope="module")
def app() -> Iterator[str]:
    """The example app's server (the image's only program), exporting its own counters."""
    import sys

    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "image" / "app" /
                                                 "server.py")],
                            env={**os.environ, "PORT": str(port)}, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{url}/metrics", timeout=1).raise_for_status()
            break
        except requests.RequestException:
            assert time.monotonic() < deadline and proc.poll() is None, "the app did not start"
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def prometheus(binary: Path, server: ServerProcess, history: Any, app: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Scraping the promotion server, the model's dev deployment and the app (labelled as a
    platform's scrape config labels them: service, environment, track)."""
    model = history.url.removeprefix("http://").rstrip("/")
    labels = {"service": SERVICE, "environment": ENVIRONMENT, "track": "model"}
    prom = Prometheus(binary, tmp_path_factory.mktemp("prometheus"),
                      {"goldenpath-server": (f"127.0.0.1:{server.port}", {}),
                       "goldenpath-models": (model, labels),
                       "goldenpath-apps": (app.removeprefix("http://"),
                                           {"service": APP, "environment": ENVIRONMENT,
                                            "track": "app"})})
    yield prom
    prom.stop()


@pytest.fixture()
def traffic(history: Any, app: str, iris: tuple) -> Iterator[None]:
    """Predictions (and a request with the wrong columns, a 400), and the app's answers
    (and its failures, 500s), while the test runs."""
    X, _ = iris
    rows = X[:3].to_numpy().tolist()
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            requests.post(f"{history.url}/predict", json={"inputs": rows}, timeout=10)
            requests.post(f"{history.url}/predict", json={"inputs": [{"wrong": 1}]}, timeout=10)
            requests.get(f"{app}/hello", timeout=10)
            requests.get(f"{app}/fail", timeout=10)
            stop.wait(0.1)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(15)


def test_every_panel_query_returns_data_from_a_real_prometheus(
        prometheus: Prometheus, traffic: None, history: Any, iris: tuple) -> None:
    prometheus.wait_for('up{job="goldenpath-models"} == 1')
    prometheus.wait_for('up{job="goldenpath-server"} == 1')
    # a few scrapes of the predictions, enough for rate() over the 15 s Grafana would use
    prometheus.wait_for(f'count_over_time(bentoml_service_request_total{{service="{SERVICE}", '
                        f'endpoint="/predict"}}[15s]) >= 5')
    # the server's own monitoring of the model: a full drift window (one request of 600
    # rows) and SLO burn rates from its counters (after two of its ticks with traffic)
    rows = iris[0].to_numpy().tolist() * 4
    requests.post(f"{history.url}/predict", json={"inputs": rows}, timeout=30).raise_for_status()
    prometheus.wait_for(f'goldenpath_drift_detected{{service="{SERVICE}"}}', timeout=90)
    prometheus.wait_for(f'goldenpath_slo_burn_rate{{service="{SERVICE}", window="6h"}}',
                        timeout=90)
    values = {"$service": SERVICE, "$environment": ENVIRONMENT, **GRAFANA_VARIABLES}
    empty = []
    for title, expr in queries():
        result = prometheus.query(substituted(expr, values))["result"]  # parses, or fails
        numbers = [float(r["value"][1]) for r in result]
        if not any(math.isfinite(n) for n in numbers):
            empty.append(f"{title}: {expr} -> {result}")
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_the_traffic_panels_show_apps_and_models_side_by_side(
        prometheus: Prometheus, traffic: None) -> None:
    prometheus.wait_for(f'count_over_time(http_requests_total{{service="{APP}"}}[15s]) >= 5')
    prometheus.wait_for(f'count_over_time(bentoml_service_request_total{{service="{SERVICE}", '
                        f'endpoint="/predict"}}[15s]) >= 5')
    board = {p["title"]: p for p in panels(dashboard())}
    values = {"$service": f"{SERVICE}|{APP}", "$environment": ENVIRONMENT, **GRAFANA_VARIABLES}
    for title in ("Request rate", "Error rate", "Latency p50", "Latency p99"):
        for target in board[title]["targets"]:
            result = prometheus.query(substituted(target["expr"], values))["result"]
            tracks = {r["metric"].get("track") for r in result
                      if math.isfinite(float(r["value"][1]))}
            assert tracks == {"app", "model"}, f"{title}: {target['expr']} -> {result}"


def test_the_variables_list_the_deployment(prometheus: Prometheus, traffic: None) -> None:
    prometheus.wait_for(f'bentoml_service_request_total{{service="{SERVICE}"}}')
    board = {v["name"]: v for v in dashboard()["templating"]["list"]}
    for name, wanted in (("service", SERVICE), ("service", APP), ("environment", ENVIRONMENT)):
        metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", board[name]["definition"]
                                     ).groups()  # type: ignore[union-attr]
        assert label == name
        assert wanted in prometheus.values(label, metric), f"${name} does not offer {wanted}"
