"""The delivery commands of the `goldenpath` CLI against a real server: a canary promoted
with --strategy/--steps, shown, paused, given ground truth, and aborted."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests._servers import ServerProcess, sdk_pointed_at, start_server, stop_model_processes

CONFIG = """
environments:
  dev: {}
  qa:
    delivery:
      canary: {steps: [30, 100], hold_s: 600, min_requests: 5}
"""


class Cut:
    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, X: Any) -> Any:
        return (np.asarray(X, dtype=float)[:, 0] > self.cut).astype(int)


@pytest.fixture()
def delivery_server(tmp_path: Path) -> Iterator[ServerProcess]:
    (tmp_path / "goldenpath.yaml").write_text(CONFIG)
    srv = start_server(tmp_path, {"GOLDENPATH_CONFIG": str(tmp_path / "goldenpath.yaml")})
    yield srv
    srv.stop()
    stop_model_processes(srv.home)


def _cli(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOLDENPATH_SERVER": srv.url, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "goldenpath", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_promote_by_canary_show_pause_send_outcomes_and_abort(
        delivery_server: ServerProcess, tmp_path: Path) -> None:
    with sdk_pointed_at(delivery_server) as gp:
        sample = np.array([[0.1], [0.9]])
        v1 = gp.deploy(Cut(0.5), name="cli-canary", sample=sample, quiet=True).promote("qa")
        gp.deploy(Cut(0.4), name="cli-canary", sample=sample, quiet=True)
    bad = _cli(delivery_server, "promote", "cli-canary", "--to", "qa", "--strategy", "canary",
               "--steps", "30,20")
    assert bad.returncode != 0 and "must rise" in bad.stderr
    started = _cli(delivery_server, "promote", "cli-canary", "--to", "qa", "--strategy",
                   "canary", "--steps", "40,100", "--no-wait")
    assert started.returncode == 0, started.stderr
    shown = _cli(delivery_server, "rollout", "cli-canary", "--env", "qa")
    assert shown.returncode == 0, shown.stderr
    assert "canary of cli-canary v2 in qa (stable v1)" in shown.stdout
    assert "40% of requests to the candidate" in shown.stdout
    paused = _cli(delivery_server, "rollout", "cli-canary", "--env", "qa", "--pause",
                  "--comment", "looking")
    assert "paused" in paused.stdout and "--resume | --promote | --abort" in paused.stdout

    ids = [requests.post(f"{v1.url}/predict", json={"inputs": [[0.45]]}, timeout=10)
           .headers["X-Request-Id"] for _ in range(20)]
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,value\n" + "".join(f"{i},1\n" for i in ids)
                      + "never-seen,0\n")
    sent = _cli(delivery_server, "outcomes", "cli-canary", "--env", "qa", str(labels))
    assert sent.returncode == 0, sent.stderr
    assert "20 of 21 outcomes matched answers (1 request ids not remembered)" in sent.stdout
    assert "candidate" in sent.stdout and "1" in sent.stdout  # v2 says 1 for 0.45: right
    no_header = tmp_path / "bad.csv"
    no_header.write_text("id,label\nx,1\n")
    refused = _cli(delivery_server, "outcomes", "cli-canary", "--env", "qa", str(no_header))
    assert refused.returncode != 0 and "request_id,value" in refused.stderr

    aborted = _cli(delivery_server, "rollout", "cli-canary", "--env", "qa", "--abort")
    assert aborted.returncode == 0 and "aborted" in aborted.stdout
    assert requests.post(f"{v1.url}/predict", json={"inputs": [[0.45]]},
                         timeout=10).json()["predictions"] == [0]  # v1 again, alone
