"""Delivery and monitoring on the real node: a model's and an app's canary judged on each
variant's own counters (read from the pods through the API server), and an SLO page from a
release's pods that rolls it back."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import requests

import goldenpath
from goldenpath import _kube, errors
from goldenpath._client import Client
from tests._cluster import wait_for
from tests.k8s._real_node import GUARDED, REAL, RESOURCES
from tests.k8s._real_node import iris as _iris


def test_a_canary_on_the_real_node_is_judged_on_each_variants_own_counters(
        real_server: Any, undeploy: list[tuple[str, str]]) -> None:
    """Without a mesh the cluster counts no requests per variant: the server reads each
    pod's runtime counters through the API server, so the step passes on measurements of
    both variants (not on a person) and the candidate takes over."""
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    undeploy += [("iris-canary", "local"), ("iris-canary", REAL)]
    first = goldenpath.deploy(LogisticRegression(max_iter=300).fit(X, y), name="iris-canary",
                              sample=X[:5], env=REAL, team="risk", resources=RESOURCES,
                              quiet=True)
    second = LogisticRegression(max_iter=300, C=0.5).fit(X, y)
    stop = threading.Event()

    def traffic() -> None:  # through the API server's service proxy: a pod per request
        while not stop.is_set():
            try:
                first.predict(X[:3])
            except errors.GoldenpathError:
                pass

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        candidate = goldenpath.deploy(second, name="iris-canary", sample=X[:5], env="local",
                                      team="risk", resources=RESOURCES, quiet=True)
        promoted = candidate.promote(REAL, strategy="canary")
    finally:
        stop.set()
        sender.join(timeout=30)
    state = promoted.rollout().state
    assert state.state == "succeeded", state.message
    judged = state.windows[0]
    assert judged.verdict == "pass", judged.reasons
    assert judged.candidate.requests >= 5 and judged.stable.requests >= 1
    assert judged.candidate.latency_ms.p99 is not None
    assert promoted.predict(X[::10]) == second.predict(X[::10]).tolist()


class _Flaky:
    """Answers like `inner`, but fails (a 500) on rows whose first feature is negative."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.classes_ = inner, inner.classes_

    def predict(self, X: Any) -> Any:
        if (np.asarray(X)[:, 0] < 0).any():
            raise RuntimeError("a negative sepal length")
        return self.inner.predict(X)


def test_an_slo_page_on_the_real_node_comes_from_the_pods_counters_and_rolls_back(
        real_server: Any, undeploy: list[tuple[str, str]]) -> None:
    """The server reads the pod's runtime counters through the API server each tick (as it
    pulls the inference log): a release that fails half its requests burns its budget, pages
    (an event) and is rolled back to the release before it, as on the local target."""
    from sklearn.tree import DecisionTreeClassifier

    X, y = _iris()
    good = DecisionTreeClassifier(max_depth=2).fit(X, y)
    undeploy.append(("iris-guarded", GUARDED))
    v1 = goldenpath.deploy(good, name="iris-guarded", sample=X[:5], env=GUARDED, team="risk",
                           resources=RESOURCES, quiet=True)
    v2 = goldenpath.deploy(_Flaky(good), name="iris-guarded", sample=X[:5], env=GUARDED,
                           team="risk", resources=RESOURCES, quiet=True)
    bad = X[:1] * -1

    def paged() -> Any:
        for rows in (X[:1], bad):  # half the requests fail: a burn rate of 50
            try:
                v2.predict(rows)
            except errors.GoldenpathError:
                pass
        return [e for e in v2.events(limit=100) if e["type"] == "slo_alert"]

    alert = wait_for("an SLO page from the pod's counters", paged, timeout=120)[0]
    assert alert["data"]["slo"] == "availability" and alert["data"]["alert"] == "page"
    assert alert["data"]["burn_rates"]["availability:5m"] > 14.4
    back = wait_for("the rollback to v1", lambda: (s := goldenpath.get("iris-guarded", GUARDED)
                                                   .state).release_id == v1.release_id
                    and s.status == "live" and s, timeout=150)
    assert back.release_version == v1.version
    rolled = [e for e in v2.events(limit=100) if e["type"] == "rollback_started"]
    assert rolled and rolled[-1]["actor"] == "system"
    assert goldenpath.get("iris-guarded", GUARDED).predict(bad) == good.predict(bad).tolist()


def test_an_app_canary_on_the_real_node_is_judged_on_the_counters_the_app_exports(
        real_server: Any, kube_cluster: Any, undeploy: list[tuple[str, str]]) -> None:
    """An app's variants are measured on the counters each of its pods exports
    (monitoring.app_metrics), as a model's on its runtime's: the step passes on both
    variants' measurements, not on a person."""
    image = kube_cluster.images["app"]
    undeploy.append(("hello-canary", REAL))
    first = goldenpath.release_app("hello-canary", image, port=8080, team="shop", env=REAL,
                                   resources=RESOURCES)
    route = _kube.route(first.url)
    assert route is not None
    stop = threading.Event()

    def traffic() -> None:  # through the API server's service proxy: a pod per request
        while not stop.is_set():
            try:
                requests.get(f"{first.url}/hello", timeout=10, **route.requests_options())
            except requests.RequestException:
                pass

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        second = goldenpath.release_app("hello-canary", image, port=8080, team="shop")
        c = Client()
        after = c.last_seq("hello-canary")
        c.deploy(second["id"], REAL, strategy="canary")
        c.wait("hello-canary", REAL, after=after, timeout=240, release_id=second["id"])
    finally:
        stop.set()
        sender.join(timeout=30)
    state = goldenpath.get("hello-canary", REAL).rollout().state
    assert state.state == "succeeded", state.message
    judged = state.windows[0]
    assert judged.verdict == "pass", judged.reasons
    assert judged.candidate.requests >= 5 and judged.stable.requests >= 1
    assert goldenpath.get("hello-canary", REAL).release_id == second["id"]
