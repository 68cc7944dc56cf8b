"""The store suite, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from goldenpath import errors
from goldenpath_server import Platform, Settings
from tests._race import race

IMAGE = "registry.example/web@sha256:" + "a" * 64


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    url = "" if request.param == "sqlite" else request.getfixturevalue("postgres_database")
    core = Platform(Settings(home=tmp_path / "home", database_url=url,
                             stop_deployments_on_exit=True))
    core.start()
    yield core
    core.close()


@pytest.fixture(scope="module")
def bundle_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from goldenpath._bundle import build_bundle

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    return build_bundle(model, "store", X[:5], tmp_path_factory.mktemp("bundle")).archive


def _wait(platform: Platform, service: str, env: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = platform.rollouts.status(service, env)
        if state["status"] != "rolling_out":
            return state
        time.sleep(0.2)
    raise AssertionError("rollout did not finish")


def test_releases_get_increasing_versions_and_events(platform: Platform) -> None:
    first = platform.releases.create_app_release("web", IMAGE, 8080, actor="ci", team="shop")
    second = platform.releases.create_app_release("web", IMAGE, 8080, actor="ci", team="shop")
    assert (first["version"], second["version"]) == (1, 2)
    service = platform.releases.get_service("web")
    assert [r["version"] for r in service["releases"]] == [2, 1]
    assert service["team"] == "shop" and service["kind"] == "app"
    events = platform.oversight.events("web")
    assert [e["type"] for e in events] == ["release_created", "release_created"]
    assert events[0]["id"] < events[1]["id"]


def test_model_release_deploys_and_rolls_back(platform: Platform, bundle_archive: Path) -> None:
    def upload() -> dict[str, Any]:
        return platform.releases.create_model_release(
            "store", _chunks(bundle_archive, platform), actor="ds")

    v1, v2 = upload(), upload()
    assert v1["digest"] == v2["digest"]  # same bytes, one stored artifact
    assert v1["schema"]["kind"] == "ndarray"
    platform.promotions.deploy(v1["id"], "dev", actor="ds")
    assert _wait(platform, "store", "dev")["status"] == "live"
    platform.promotions.deploy(v2["id"], "dev", actor="ds")
    live = _wait(platform, "store", "dev")
    assert live["release_version"] == 2 and live["previous_release_id"] == v1["id"]
    platform.rollouts.rollback("store", "dev", actor="ds")
    url = _wait(platform, "store", "dev")["url"]
    assert platform.rollouts.status("store", "dev")["release_version"] == 1
    platform.rollouts.undeploy("store", "dev", actor="ds")
    with pytest.raises(requests.ConnectionError):  # the stable endpoint is given up too
        requests.get(f"{url}/readyz", timeout=5)
    with pytest.raises(errors.NotFound):
        platform.rollouts.status("store", "dev")


def test_concurrent_deploys_of_one_service_conflict(platform: Platform,
                                                    bundle_archive: Path) -> None:
    release = platform.releases.create_model_release("store", _chunks(bundle_archive, platform),
                                            actor="ds")
    _, conflicts = race(lambda: platform.promotions.deploy(release["id"], "staging", actor="ds"), 3)
    assert len(conflicts) == 2
    assert _wait(platform, "store", "staging")["status"] == "live"
    platform.rollouts.undeploy("store", "staging", actor="ds")


def test_unknown_things_are_not_found_with_a_hint(platform: Platform) -> None:
    with pytest.raises(errors.NotFound) as err:
        platform.releases.get_service("nope")
    assert "goldenpath ls" in err.value.hint
    release = platform.releases.create_app_release("api", IMAGE, 80, actor="ci")
    with pytest.raises(errors.NotFound, match="unknown environment 'moon'"):
        platform.promotions.deploy(release["id"], "moon", actor="ci")


def test_migrations_are_idempotent_across_restarts(platform: Platform, tmp_path: Path) -> None:
    platform.releases.create_app_release("api", IMAGE, 80, actor="ci")
    again = Platform(platform.settings)
    again.start()
    try:
        assert [s["name"] for s in again.releases.list_services()] == ["api"]
    finally:
        again.close()


def _chunks(path: Path, platform: Platform) -> Any:
    upload = platform.artifacts.begin_upload()
    upload.write(path.read_bytes())
    return upload
