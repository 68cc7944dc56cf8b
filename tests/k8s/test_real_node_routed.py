"""Progressive delivery through the goldenpath router on the real node (`traffic: router`):
the router's own pods in front of both releases split requests, not connections (one
client's requests reach both variants), copy them for a shadow and compare both answers,
which rolls back a candidate that answers differently without a human; and they remember
each variant's answers, so an experiment ends on the outcomes sent later for its requests."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import requests

import goldenpath
from goldenpath import _kube
from tests._cluster import wait_for
from tests.k8s._real_node import RESOURCES, ROUTED
from tests.k8s._real_node import iris as _iris

VARIANT = "X-Goldenpath-Variant"


class Traffic:
    """Clients sending one iris row per request to a deployment's URL (through the API
    server's service proxy), keeping what came back."""

    def __init__(self, url: str, X: Any) -> None:
        self.url, self.X = url, X
        self.answers: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _send(self) -> None:
        rng = random.Random(7)
        while not self._stop.is_set():
            i = rng.randrange(len(self.X))
            try:
                r = _kube.post(self.url, "/predict", json={"inputs": [self.X[i].tolist()]},
                               timeout=30)
                self.answers.append({"row": i, "status": r.status_code,
                                     "variant": r.headers.get(VARIANT, ""),
                                     "request_id": r.headers.get("X-Request-Id", ""),
                                     "predictions": r.json().get("predictions") if r.ok
                                     else None})
            except (requests.RequestException, ValueError):
                time.sleep(0.2)


def _settled(deployment: Any) -> Any:
    rollout = deployment.rollout()
    return rollout if rollout.status in ("succeeded", "aborted") else None


def test_a_shadow_through_the_router_rolls_back_a_candidate_that_answers_differently(
        real_server: Any, undeploy: list[tuple[str, str]]) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    undeploy += [("iris-shadow", "local"), ("iris-shadow", ROUTED)]
    champion = LogisticRegression(max_iter=300).fit(X, y)
    first = goldenpath.deploy(champion, name="iris-shadow", sample=X[:5], env=ROUTED,
                              team="risk", resources=RESOURCES, quiet=True)
    shifted = LogisticRegression(max_iter=300).fit(X, (y + 1) % 3)  # another class, always
    candidate = goldenpath.deploy(shifted, name="iris-shadow", sample=X[:5], env="local",
                                  team="risk", resources=RESOURCES, quiet=True)
    with Traffic(first.url, X) as traffic:
        there = candidate.promote(ROUTED, strategy="shadow", wait=False)
        rollout = wait_for("the shadow to end", lambda: _settled(there), timeout=300)
    assert rollout.status == "aborted", rollout.message
    assert "agrees with the champion on" in rollout.message
    paired = rollout.state.windows[-1].paired
    assert paired.requests >= 10 and paired.agreement is not None and paired.agreement < 0.2
    answered = [a for a in traffic.answers if a["status"] == 200]
    # users only ever got the champion's answers: "" before the router, "stable" through it
    assert {a["variant"] for a in answered} == {"", "stable"}
    assert all(a["predictions"] == champion.predict(X[[a["row"]]]).tolist() for a in answered)
    assert goldenpath.get("iris-shadow", ROUTED).release_id == first.release_id


def test_an_experiment_through_the_router_splits_requests_and_ends_on_outcomes(
        real_server: Any, undeploy: list[tuple[str, str]]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = _iris()
    undeploy += [("iris-ab", "local"), ("iris-ab", ROUTED)]
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)  # two classes of 3
    first = goldenpath.deploy(stump, name="iris-ab", sample=X[:5], env=ROUTED, team="risk",
                              resources=RESOURCES, quiet=True)
    challenger = LogisticRegression(max_iter=300).fit(X, y)
    second = goldenpath.deploy(challenger, name="iris-ab", sample=X[:5], env="local",
                               team="risk", resources=RESOURCES, quiet=True)
    sent: set[str] = set()
    with Traffic(first.url, X) as traffic:
        there = second.promote(ROUTED, strategy="champion-challenger", wait=False)
        rollout = wait_for("the experiment to start",
                           lambda: (r := there.rollout()).status == "progressing" and r,
                           timeout=300)
        while rollout.status == "progressing":  # a labelling job, a little behind
            fresh = [a for a in list(traffic.answers) if a["status"] == 200
                     and a["request_id"] and a["request_id"] not in sent]
            if fresh:
                rollout.send_outcomes({a["request_id"]: int(y[a["row"]]) for a in fresh})
                sent.update(a["request_id"] for a in fresh)
            time.sleep(1.0)
            rollout.refresh()
        rollout = wait_for("the experiment to end", lambda: _settled(there), timeout=120)
    assert rollout.status == "succeeded", rollout.message
    assert "the challenger won the experiment: accuracy" in rollout.message
    scored = rollout.state.ground_truth
    assert scored["candidate"].accuracy > 0.9 and scored["stable"].accuracy < 0.75
    # one client, its requests answered by both: split per request, not per connection
    routed = [a["variant"] for a in traffic.answers if a["status"] == 200 and a["variant"]]
    assert "candidate" in routed
    split = routed[routed.index("candidate"):]  # from the split's start
    share = split.count("candidate") / len(split)
    assert "stable" in split and 0.2 < share < 0.8, share
    assert goldenpath.get("iris-ab", ROUTED).release_id == second.release_id
