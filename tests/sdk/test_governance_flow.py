"""The governed path end to end: real server process, real bundles, two users, the CLI.

deploy to dev → staging (policies pass) → prod waits → another user approves in the CLI →
live → inventory shows approver and evidence → rollback recorded → audit verify clean."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from goldenpath import errors
from tests._servers import ServerProcess, start_server, stop_model_processes

REPO = Path(__file__).resolve().parents[2]
ADMIN = "governance-admin-token"


@pytest.fixture()
def governed_server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path, {"GOLDENPATH_CONFIG": str(REPO / "docs" / "examples" / "platform" /
                                                           "goldenpath.yaml"),
                                  "GOLDENPATH_TOKEN": ADMIN})
    yield srv
    srv.stop()
    stop_model_processes(srv.home)


def _admin(srv: ServerProcess, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{srv.url}{path}", timeout=30,
                                headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs)
    response.raise_for_status()
    return response.json()


def _cli(srv: ServerProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOLDENPATH_SERVER": srv.url, "GOLDENPATH_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "goldenpath", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_from_notebook_to_approved_production(governed_server: ServerProcess,
                                              iris: tuple, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    import goldenpath as gp
    from goldenpath import _config

    srv = governed_server
    for user, role in (("ada", "submitter"), ("bob", "approver")):
        _admin(srv, "PUT", f"/api/v1/users/{user}/roles", json={"team": "risk", "role": role})
    ada = _admin(srv, "POST", "/api/v1/users/ada/tokens", json={})["token"]
    bob = _admin(srv, "POST", "/api/v1/users/bob/tokens", json={})["token"]
    previous = _config._current
    gp.configure(server=srv.url, token=ada)
    try:
        X, y = iris
        model = LogisticRegression(max_iter=500).fit(X, y)
        accuracy = float(model.score(X, y))
        d = gp.deploy(model, name="gov-iris", sample=X[:5], team="risk", quiet=True,
                      metrics={"accuracy": accuracy}, data={"train": X},
                      resources={"cpu": 0.5, "memory_gb": 1})
        evidence = d.evidence()
        assert evidence["lineage"]["git_commit"] and evidence["parity"]["passed"]
        assert evidence["scan"]["clean"] and evidence["pinned"]
        assert evidence["data"][0]["rows"] == len(X)
        assert "## Intended use" in d.card and "accuracy" in d.card  # the draft
        labels = d._client.request("GET", f"/api/v1/releases/{d.release_id}")["spec"]["labels"]
        assert labels["goldenpath.git_commit"] == evidence["lineage"]["git_commit"]  # in the
        assert labels["goldenpath.data_sha256"] == evidence["data"][0]["sha256"]  # bundle

        staging = d.promote("staging")  # enforced policies; the card may be a draft here
        assert staging.status()["status"] == "live" and staging.version == d.version
        with pytest.raises(errors.PolicyDenied, match="model-card") as denied:
            d.promote("prod")  # prod enforces a real card
        assert "d.card" in denied.value.hint

        d.card = d.card.replace("_Who uses this model", "Triage of iris flowers. _Who")
        waiting = d.promote("prod")
        assert isinstance(waiting, gp.Promotion) and waiting.status == "waiting_for_approval"
        with pytest.raises(errors.PermissionDenied):
            waiting.approve("looks good to me")  # ada is a submitter, not an approver

        listed = _cli(srv, bob, "approvals")
        assert "gov-iris" in listed.stdout, listed.stderr
        approved = _cli(srv, bob, "approve", "gov-iris", "--env", "prod", "--comment",
                        "card, metrics and lineage reviewed")
        assert approved.returncode == 0, approved.stderr
        assert "live" in approved.stdout
        prod = gp.get("gov-iris", "prod")
        assert prod.status()["status"] == "live"
        assert prod.predict(X[:3]) == model.predict(X[:3]).tolist()
        assert prod.status()["digest"] == d.status()["digest"]  # the same bytes

        [row] = gp.inventory("prod")
        assert row["service"] == "gov-iris" and row["approved_by"] == ["bob"]
        assert row["requested_by"] == "ada" and row["policy_outcome"] == "pass"
        evidence_link = requests.get(f"{srv.url}{row['evidence']['evidence']}", timeout=10,
                                     headers={"Authorization": f"Bearer {bob}"}).json()
        assert evidence_link["metrics"]["accuracy"] == accuracy
        exported = tmp_path / "inventory.csv"
        assert _cli(srv, bob, "inventory", "--csv", str(exported)).returncode == 0
        rows = list(csv.DictReader(io.StringIO(exported.read_text())))
        assert {(r["environment"], r["approved_by"]) for r in rows} >= {("prod", "bob")}

        v2 = gp.deploy(LogisticRegression(C=0.01, max_iter=500).fit(X, y), name="gov-iris",
                       sample=X[:5], team="risk", quiet=True)
        assert v2.version == d.version + 1
        back = gp.rollback("gov-iris", "dev")
        assert back.version == d.version
        log = _cli(srv, bob, "audit", "log", "--service", "gov-iris", "--limit", "500")
        for kind in ("release_created", "policy_evaluated", "promotion_denied",
                     "promotion_waiting_for_approval", "approval_granted",
                     "rollout_succeeded", "rollback_started"):
            assert kind in log.stdout, kind
        verified = _cli(srv, bob, "audit", "verify")
        assert verified.returncode == 0 and "audit trail intact" in verified.stdout
    finally:
        _config._current = previous
