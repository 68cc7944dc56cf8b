"""Waiting follows the server's event stream, and every failure is a goldenpath error.

Real server processes and real endpoints: a promotion that waits until another user approves
(or until its timeout), the stream itself, a removed endpoint, a bad role."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from goldenpath import errors
from tests._servers import ServerProcess, start_server, stop_model_processes

REPO = Path(__file__).resolve().parents[2]
ADMIN = "waiting-admin-token"


@pytest.fixture()
def governed(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, str]]:
    """A server whose prod needs one approval; ada submits, bob approves (their tokens)."""
    srv = start_server(tmp_path, {"GOLDENPATH_CONFIG": str(REPO / "docs" / "examples" /
                                                           "platform" / "goldenpath.yaml"),
                                  "GOLDENPATH_TOKEN": ADMIN})
    tokens = []
    for user, role in (("ada", "submitter"), ("bob", "approver")):
        _as(srv.url, ADMIN, "PUT", f"/api/v1/users/{user}/roles",
            json={"team": "risk", "role": role})
        tokens.append(_as(srv.url, ADMIN, "POST", f"/api/v1/users/{user}/tokens",
                          json={})["token"])
    yield srv, tokens[0], tokens[1]
    srv.stop()
    stop_model_processes(srv.home)


def _as(url: str, token: str, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{url}{path}", timeout=30,
                                headers={"Authorization": f"Bearer {token}"}, **kwargs)
    response.raise_for_status()
    return response.json()


def test_a_promotion_waits_until_another_user_approves(
        governed: tuple[ServerProcess, str, str], iris: tuple) -> None:
    from sklearn.linear_model import LogisticRegression

    import goldenpath as gp
    from goldenpath import _config

    srv, ada, bob = governed
    previous = _config._current
    gp.configure(server=srv.url, token=ada)
    try:
        X, y = iris
        model = LogisticRegression(max_iter=500).fit(X, y)
        d = gp.deploy(model, name="wait-iris", sample=X[:5], team="risk", quiet=True,
                      metrics={"accuracy": float(model.score(X, y))}, data={"train": X},
                      resources={"cpu": 0.5, "memory_gb": 1})
        d.card = d.card.replace("_Who uses this model", "Triage of iris flowers. _Who")
        d.promote("staging")
        p = d.promote("prod")
        assert isinstance(p, gp.Promotion) and p.status == "waiting_for_approval"
        assert p.version == d.version and p.required_approvals == 1
        assert p.approvals_missing == 1 and p.requested_by == "ada"
        assert [w.id for w in gp.approvals("wait-iris")] == [p.id]

        with pytest.raises(errors.DeploymentFailed, match="still waits for approval") as late:
            p.wait(timeout=1.5)  # nobody approves: a bounded wait says whom to ask
        assert "goldenpath approve wait-iris --env prod" in late.value.hint

        def bob_approves() -> None:
            _as(srv.url, bob, "POST", f"/api/v1/releases/{p.release_id}/approvals",
                json={"environment": "prod", "decision": "approve", "comment": "ok"})

        approver = threading.Timer(1.0, bob_approves)
        started = time.monotonic()
        approver.start()
        try:
            live = p.wait(timeout=120)
        finally:
            approver.join()
        assert time.monotonic() - started >= 1.0  # it waited for bob
        assert isinstance(live, gp.Deployment) and live.environment == "prod"
        assert live.status()["status"] == "live" and live.version == d.version
        assert live.model is model  # the Deployment it became still knows the notebook's
        assert live.predict(X[:3]) == model.predict(X[:3]).tolist()
        assert gp.approvals("wait-iris") == []
    finally:
        _config._current = previous


def test_the_event_stream_replays_a_rollout_in_order(gp: Any, iris: tuple) -> None:
    from sklearn.linear_model import LogisticRegression

    from goldenpath import _deploy

    X, y = iris
    d = gp.deploy(LogisticRegression(max_iter=300).fit(X, y), name="wait-stream",
                  sample=X[:5], quiet=True)
    c = _deploy.client()
    seen: list[dict[str, Any]] = []
    with c.stream("wait-stream", after=0, read_timeout=10) as events:
        for event in events:
            seen.append(event)
            if event["type"] == "rollout_succeeded":
                break
    kinds = [e["type"] for e in seen]
    assert kinds[0] == "release_created" and "promotion_started" in kinds
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
    assert {e["service"] for e in seen} == {"wait-stream"}
    assert seen[-1]["data"]["url"] == d.url
    assert c.last_seq("wait-stream") >= seen[-1]["seq"]  # where a next wait starts from


def test_a_wait_on_the_stream_sees_the_rollouts_progress(gp: Any, iris: tuple) -> None:
    from sklearn.linear_model import LogisticRegression

    from goldenpath import _deploy

    X, y = iris
    d = gp.deploy(LogisticRegression(max_iter=300).fit(X, y), name="wait-notes",
                  sample=X[:5], quiet=True)
    c = _deploy.client()
    after = c.last_seq("wait-notes")
    c.deploy(d.release_id, "staging")
    notes: list[dict[str, Any]] = []
    state = c.wait("wait-notes", "staging", after=after, on_event=notes.append, timeout=120)
    assert state.status == "live" and state.environment == "staging"
    # (a rollout that ended before the stream opened is read from the state, without events)
    assert {e["environment"] for e in notes} <= {"staging"}
    assert all(e["seq"] > after for e in notes)
    if notes:
        assert notes[0]["type"] == "policy_evaluated"
        assert notes[-1]["type"] == "rollout_succeeded"
    # a wait that opens after the rollout ended reads the state at once: no event needed
    assert c.wait("wait-notes", "staging", timeout=5).status == "live"


def test_predicting_on_a_removed_deployment_is_a_goldenpath_error(gp: Any,
                                                                  iris: tuple) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    d = gp.deploy(LogisticRegression(max_iter=300).fit(X, y), name="wait-gone",
                  sample=X[:5], quiet=True)
    d.delete()
    with pytest.raises(errors.ServerUnreachable, match="the endpoint") as gone:
        d.predict(X[:1])
    assert "d.status()" in gone.value.hint
    with pytest.raises(errors.NotFound):
        d.status()


def test_an_unknown_role_is_refused_before_the_server_is_asked() -> None:
    import goldenpath as gp

    with pytest.raises(errors.InvalidInput, match="unknown role 'boss'") as refused:
        gp.admin.grant("eve", team="risk", role="boss")
    assert "viewer, submitter, approver, admin" in refused.value.hint
