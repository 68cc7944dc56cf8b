"""The CLI as a newcomer uses it: everything policies ask for can be passed, files that are
not there are one line, auto-started servers say so and stop, help shows real defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests._servers import (
    ServerProcess,
    free_port,
    serving_processes,
    start_server,
    stop_model_processes,
)

IMAGE = "registry.example/edges@sha256:" + "a" * 64
CONFIG = """
environments:
  dev: {}
  staging:
    policies: {default_action: enforce, metric: {name: accuracy, min: 0.8},
               actions: {promotion-path: warn, lineage-present: warn}}
"""


def _cli(env: dict[str, str], *args: str, cwd: Path | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "goldenpath", *args], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200", **env}, timeout=300,
                          cwd=cwd)


@pytest.fixture()
def staged(tmp_path: Path) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    config = tmp_path / "goldenpath.yaml"
    config.write_text(CONFIG)
    server = start_server(tmp_path, {"GOLDENPATH_CONFIG": str(config)})
    yield server, {"GOLDENPATH_SERVER": server.url}
    server.stop()
    stop_model_processes(server.home)


@pytest.fixture()
def model_files(tmp_path: Path, iris: tuple) -> dict[str, Path]:
    import joblib
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    joblib.dump(LogisticRegression(max_iter=500).fit(X, y), tmp_path / "model.joblib")
    X[:5].to_csv(tmp_path / "sample.csv", index=False)
    X.to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "card.md").write_text("# Iris\nSorting flowers. Not for people.\n")
    return {p.stem: p for p in tmp_path.iterdir() if p.suffix in (".joblib", ".csv", ".md")}


def test_deploy_passes_what_policies_ask_for(staged: tuple, model_files: dict[str, Path]
                                             ) -> None:
    server, env = staged
    f = model_files
    deployed = _cli(env, "deploy", str(f["model"]), "--name", "cli-iris", "--sample",
                    str(f["sample"]), "--team", "risk", "--cpu", "0.5", "--memory-gb", "1",
                    "--metric", "accuracy=0.95", "--data", f"train={f['train']}",
                    "--card", str(f["card"]))
    assert deployed.returncode == 0, deployed.stderr
    checked = _cli(env, "policies", "cli-iris", "--env", "staging")
    assert checked.returncode == 0 and "cli-iris → staging: pass" in checked.stdout, \
        checked.stdout
    promoted = _cli(env, "promote", "cli-iris", "--to", "staging")
    assert promoted.returncode == 0 and "live" in promoted.stdout, promoted.stderr
    again = _cli(env, "promote", "cli-iris", "--to", "staging")
    assert "already live in staging: nothing to do" in again.stdout


def test_release_app_takes_resources_and_its_evidence(staged: tuple) -> None:
    _, env = staged
    created = _cli(env, "release", "app", "--name", "cli-web", "--image", IMAGE, "--cpu", "0.5",
                   "--memory-gb", "1", "--test-report", "https://ci/1", "--review",
                   "https://git/pr/1", "--team", "web")
    assert created.returncode == 0, created.stderr
    import goldenpath as gp
    from goldenpath import _config

    previous = _config._current
    try:
        gp.configure(server=env["GOLDENPATH_SERVER"])
        release = next(s for s in gp.list() if s["name"] == "cli-web")
        assert release["team"] == "web"
        c = gp._deploy.client()
        [latest] = c.request("GET", "/api/v1/services/cli-web")["releases"]
        assert latest["spec"]["resources"] == {"cpu": 0.5, "memory_gb": 1.0,
                                               "replicas": 1, "gpu": 0}
        assert latest["evidence"]["test_report"] == "https://ci/1"
    finally:
        _config._current = previous


@pytest.mark.parametrize(("args", "missing"), [
    (["deploy", "nope.joblib", "--sample", "sample.csv"], "nope.joblib"),
    (["deploy", "model.joblib", "--sample", "missing.csv"], "missing.csv"),
    (["deploy", "model.joblib", "--sample", "sample.csv", "--card", "nocard.md"], "nocard.md"),
    (["deploy", "gone.bento"], "gone.bento"),
    (["card", "cli-iris", "--set", "nope.md"], "nope.md"),
])
def test_a_missing_file_is_one_line_with_its_path(staged: tuple, model_files: dict[str, Path],
                                                  args: list[str], missing: str) -> None:
    _, env = staged
    cwd = model_files["model"].parent
    if args[0] == "card":
        _cli(env, "deploy", "model.joblib", "--name", "cli-iris", "--sample", "sample.csv",
             cwd=cwd)
    done = _cli(env, *args, cwd=cwd)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("error: cannot read") and missing in line


def test_rollback_to_a_version_and_status_shows_the_history(
        staged: tuple, model_files: dict[str, Path]) -> None:
    _, env = staged
    for _ in range(3):
        assert _cli(env, "deploy", "model.joblib", "--name", "cli-rb", "--sample", "sample.csv",
                    cwd=model_files["model"].parent).returncode == 0
    back = _cli(env, "rollback", "cli-rb", "--env", "dev", "--to", "1")
    assert "rolled back cli-rb in dev from v3 to v1" in back.stdout, back.stderr
    status = _cli(env, "status", "cli-rb", "--env", "dev").stdout
    assert "v1 rollback" in status and "v3 promotion" in status
    nowhere = _cli(env, "status", "cli-rb", "--env", "prd")
    assert "unknown environment 'prd'" in nowhere.stderr


def test_an_auto_started_server_says_so_and_stops(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "autostarted"
    env = {"GOLDENPATH_SERVER": f"http://127.0.0.1:{port}", "GOLDENPATH_AUTOSTART": "1",
           "GOLDENPATH_HOME": str(home)}
    listed = _cli(env, "ls")
    assert listed.returncode == 0, listed.stderr
    assert f"started a local server at http://127.0.0.1:{port}" in listed.stderr
    assert "goldenpath server stop" in listed.stderr
    pid = json.loads((home / "server.pid").read_text())["pid"]
    assert psutil.pid_exists(pid)
    assert _cli(env, "release", "app", "--name", "auto", "--image", IMAGE).returncode == 0
    stopped = _cli(env, "server", "stop")
    assert stopped.returncode == 0 and f"(pid {pid})" in stopped.stdout
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(pid) and not (home / "server.pid").exists()
    assert serving_processes(home) == []
    assert "no goldenpath server runs" in _cli(env, "server", "stop").stderr


def test_server_help_shows_the_defaults() -> None:
    shown = _cli({}, "server", "--help").stdout
    assert "default 8731" in shown and "default 127.0.0.1" in shown
