"""App releases on the embedded default: podman containers behind the stable endpoint, run
like their pods would be; refused up front where the machine cannot run them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import goldenpath
from goldenpath import _config, errors
from tests._servers import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app_image() -> str:
    """The example app, built here and loaded into podman (no registry)."""
    done = subprocess.run([str(REPO / "scripts" / "image" / "build.sh"), "--podman", "app"],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()[-1]


def _server(tmp_path: Path, **env: str) -> Iterator[ServerProcess]:
    home = tmp_path / "home"
    home.mkdir()
    server = ServerProcess(home=home, port=free_port(), env={**os.environ, **env})
    server.start()
    previous = _config._current
    goldenpath.configure(server=server.url)
    try:
        yield server
    finally:
        _config._current = previous
        server.stop()
        _remove_containers(home)


def _containers(home: Path) -> list[str]:
    done = subprocess.run(["podman", "ps", "--all", "--format", "{{.Names}}", "--filter",
                           f"label=goldenpath.dev/home={home.resolve()}"],
                          capture_output=True, text=True, timeout=60)
    return done.stdout.split()


def _remove_containers(home: Path) -> None:
    for name in _containers(home):
        subprocess.run(["podman", "rm", "--force", "--time", "0", name], capture_output=True,
                       timeout=60)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    yield from _server(tmp_path)


def test_an_app_runs_behind_one_url_redeploys_rolls_back_and_goes(
        server: ServerProcess, app_image: str) -> None:
    d = goldenpath.release_app("web", app_image, port=8080, env="dev",
                               resources={"cpu": 0.5, "memory_gb": 0.25})
    first = requests.get(f"{d.url}/hello", timeout=10).json()
    assert first["app"] == "goldenpath-example-app" and first["path"] == "/hello"
    [name] = _containers(server.home)
    readonly = subprocess.run(["podman", "inspect", "--format",
                               "{{.HostConfig.ReadonlyRootfs}}", name],
                              capture_output=True, text=True, timeout=60).stdout.strip()
    processes = subprocess.run(["podman", "top", name, "user", "capeff"],
                               capture_output=True, text=True, timeout=60).stdout.splitlines()[1:]
    assert readonly == "true" and processes
    assert all(line.split()[:2] == ["10001", "none"] for line in processes)  # no capability

    d2 = goldenpath.release_app("web", app_image, port=8080, env="dev")
    assert d2.url == d.url and d2.version == 2
    second = requests.get(f"{d2.url}/", timeout=10).json()
    assert second["pod"] != first["pod"]  # another container, the same endpoint
    assert "GET / HTTP" in d2.logs(20)
    back = goldenpath.rollback("web", "dev")
    assert back.version == 1 and requests.get(back.url, timeout=10).ok
    back.delete()
    deadline = time.monotonic() + 30  # the replaced one drains first
    while _containers(server.home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _containers(server.home) == []


def test_where_podman_is_missing_an_app_is_refused_before_a_release_exists(
        tmp_path: Path, app_image: str) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    (empty / "python3").symlink_to(os.path.realpath(sys.executable))
    for _ in _server(tmp_path, PATH=str(empty)):
        with pytest.raises(errors.Conflict, match="podman") as err:
            goldenpath.release_app("web", app_image, port=8080, env="dev")
        assert "apt-get install podman" in err.value.message
        assert "nothing was created" in err.value.hint
        assert goldenpath.list() == []


def test_an_app_goes_live_by_canary_through_the_router_and_is_never_shadowed(
        tmp_path: Path, app_image: str) -> None:
    config = tmp_path / "goldenpath.yaml"
    config.write_text("environments:\n  dev:\n    delivery:\n"
                      "      canary: {steps: [50, 100], hold_s: 2, min_requests: 10}\n"
                      "      analysis: {latency_slack_ms: 200}\n")
    for server in _server(tmp_path, GOLDENPATH_CONFIG=str(config)):
        d1 = goldenpath.release_app("web", app_image, port=8080, env="dev",
                                    resources={"cpu": 0.5, "memory_gb": 0.25})
        first_pod = requests.get(f"{d1.url}/", timeout=10).json()["pod"]
        v2 = goldenpath.release_app("web", app_image, port=8080)  # a release, not yet in dev
        promoted = requests.post(f"{server.url}/api/v1/releases/{v2['id']}/promotions",
                                 json={"environment": "dev", "strategy": "canary"}, timeout=30)
        assert promoted.status_code == 202, promoted.text
        answers: list[tuple[str, str]] = []
        rollout = goldenpath.get("web", "dev").rollout()
        deadline = time.monotonic() + 120
        while rollout.status not in ("succeeded", "aborted") and time.monotonic() < deadline:
            response = requests.get(f"{d1.url}/hello", timeout=10)
            answers.append((response.headers.get("X-Goldenpath-Variant", ""),
                            response.json()["pod"]))
            rollout.refresh()
        assert rollout.status == "succeeded", rollout.message
        assert [w.verdict for w in rollout.windows] == ["pass"]
        routed = {pod for variant, pod in answers if variant == "candidate"}
        assert routed and first_pod not in routed  # the canary container answered some
        assert any(v == "stable" and pod == first_pod for v, pod in answers)
        assert rollout.windows[0].paired.requests == 0  # an app's requests are not copied
        assert goldenpath.get("web", "dev").release_id == v2["id"]
        v3 = goldenpath.release_app("web", app_image, port=8080)
        requests.post(f"{server.url}/api/v1/releases/{v3['id']}/promotions",
                      json={"environment": "dev", "strategy": "shadow"}, timeout=30)
        deadline = time.monotonic() + 120
        while (goldenpath.get("web", "dev").rollout().state.candidate_release_id != v3["id"]
               or goldenpath.get("web", "dev").rollout().status != "aborted"):
            assert time.monotonic() < deadline, "the shadow of an app was not refused"
            time.sleep(0.5)
        assert "repeat an app's side effects" in goldenpath.get("web", "dev").rollout().message
        assert goldenpath.get("web", "dev").release_id == v2["id"]
        deadline = time.monotonic() + 30  # the replaced and the refused containers drain
        while len(_containers(server.home)) > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(_containers(server.home)) == 1


def test_an_app_that_fails_half_its_requests_pages_on_its_own_metrics_and_is_rolled_back(
        tmp_path: Path, app_image: str) -> None:
    """Apps' SLOs read the request counters the app exports (the Prometheus convention,
    monitoring.app_metrics), as models' read their runtime's: the same burn-rate alerts,
    events and rollback."""
    config = tmp_path / "goldenpath.yaml"
    config.write_text("environments:\n  dev:\n    monitoring:\n"
                      "      slo: {availability: 0.99}\n      on_breach: rollback\n"
                      "      slo_window_scale: 0.00139\n")  # the hour lasts 5 s
    for _ in _server(tmp_path, GOLDENPATH_CONFIG=str(config),
                     GOLDENPATH_MONITOR_INTERVAL_S="0.3"):
        v1 = goldenpath.release_app("web", app_image, port=8080, env="dev")
        v2 = goldenpath.release_app("web", app_image, port=8080, env="dev")
        assert v2.version == v1.version + 1

        deadline, alerts = time.monotonic() + 90, []
        while not alerts:
            assert time.monotonic() < deadline, "no SLO page from the app's counters"
            for path in ("/", "/fail"):  # half the requests fail: a burn rate of 50
                requests.get(f"{v2.url}{path}", timeout=10)
            alerts = [e for e in v2.events(limit=100) if e["type"] == "slo_alert"]
        assert alerts[0]["data"]["slo"] == "availability"
        assert alerts[0]["data"]["alert"] == "page"
        deadline = time.monotonic() + 90
        while goldenpath.get("web", "dev").release_id != v1.release_id:
            assert time.monotonic() < deadline, "the app was not rolled back"
            time.sleep(0.3)
        rolled = [e for e in v2.events(limit=100) if e["type"] == "rollback_started"]
        assert rolled and rolled[-1]["actor"] == "system"
        assert requests.get(f"{v1.url}/", timeout=10).ok  # v1 answers at the same URL


def test_readiness_sees_a_listening_socket_in_the_apps_namespace_not_a_bound_one() -> None:
    """The published port accepts before the app listens (slirp4netns forwards); readiness
    looks for the app's own listening socket, as a pod's TCP probe reaches the pod itself."""
    import socket

    from goldenpath_server.targets._containers import _listens

    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::", 0))
        port = sock.getsockname()[1]
        assert not _listens(os.getpid(), port)  # bound, not listening: not ready
        sock.listen()
        assert _listens(os.getpid(), port)
    assert not _listens(os.getpid(), port)
