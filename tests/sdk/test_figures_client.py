"""gp.figures() and `goldenpath figures`: the platform's delivery figures as a client reads
them, from a server of the test's own (so the counts are this test's alone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from goldenpath_api.figures import PlatformFigures
from tests._servers import ServerProcess, sdk_pointed_at


def _model(X: Any, y: Any, depth: int) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=depth).fit(X, y)


def test_figures_count_this_servers_rollouts_and_the_cli_shows_the_same(
        fresh_server: ServerProcess, iris: tuple) -> None:
    X, y = iris
    with sdk_pointed_at(fresh_server) as gp:
        empty = gp.figures()
        assert isinstance(empty, PlatformFigures) and empty.change_failure == []
        gp.deploy(_model(X, y, 1), name="fig-iris", sample=X[:5], quiet=True)
        gp.deploy(_model(X, y, 2), name="fig-iris", sample=X[:5], quiet=True)
        gp.rollback("fig-iris")
        figures = gp.figures()
    [dev] = [c for c in figures.change_failure if c.environment == "dev"]
    assert (dev.track, dev.rollouts_started, dev.rollbacks, dev.failed_rollouts) == (
        "model", 3, 1, 0)
    assert abs(dev.rate - 1 / 3) < 1e-9
    assert figures.last_event_id > empty.last_event_id

    env = {**os.environ, "GOLDENPATH_SERVER": fresh_server.url}
    as_json = subprocess.run([sys.executable, "-m", "goldenpath", "figures", "--json"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    assert PlatformFigures.model_validate(json.loads(as_json.stdout)) == figures
    table = subprocess.run([sys.executable, "-m", "goldenpath", "figures"],
                           capture_output=True, text=True, env=env, timeout=120,
                           ).stdout.replace("│", " ")
    row = next(line.split() for line in table.splitlines() if line.split()[:2] == ["model", "dev"])
    assert row == ["model", "dev", "3", "1", "0", "0", "33%"], table


def test_durations_read_in_the_largest_readable_unit() -> None:
    from goldenpath._cli_monitoring import duration

    assert [duration(s) for s in (None, 4.0, 90.0, 7200.0, 3 * 86400.0)] == [
        "-", "4.0 s", "1.5 min", "2.0 h", "3.0 d"]
