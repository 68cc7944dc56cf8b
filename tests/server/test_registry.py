"""Model releases in a real MLflow tracking server (SQLite backend): versions and aliases."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from goldenpath_server import Platform
from goldenpath_server._access import Principal
from goldenpath_server._registry import RegistryError
from tests._servers import free_port
from tests.server.conftest import make_platform, wait_until

API = "/api/2.0/mlflow"
ALICE = Principal("alice", {"ml": "submitter"})


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` with a SQLite backend on a free port, answered before use."""
    home = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(home / "mlflow.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
         f"sqlite:///{home / 'mlflow.db'}", "--default-artifact-root", str(home / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=home, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, (home / "mlflow.log").read_text()[-3000:]
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.5)
    else:
        raise AssertionError("mlflow server did not answer")
    yield url
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from goldenpath._bundle import build_bundle

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    return build_bundle(model, "registered", X[:5], tmp_path_factory.mktemp("b")).archive


@pytest.fixture()
def platform(mlflow_server: str, tmp_path: Path) -> Iterator[Platform]:
    core = make_platform(tmp_path, mlflow_tracking_uri=mlflow_server)
    yield core
    core.close()


def _release(platform: Platform, archive: Path, service: str) -> dict[str, Any]:
    upload = platform.artifacts.begin_upload()
    upload.write(archive.read_bytes())
    return platform.releases.create_model_release(service, upload, actor=ALICE, team="ml")


def _get(url: str, path: str, **params: str) -> dict[str, Any]:
    response = requests.get(f"{url}{API}/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def _alias(platform: Platform, name: str, alias: str) -> str | None:
    """The version an alias points at; None until it exists (it moves after go-live)."""
    assert platform.registration.registry is not None
    try:
        return platform.registration.registry.alias(name, alias)
    except RegistryError:
        return None


def _live(platform: Platform, service: str, release_id: str) -> None:
    wait_until(lambda: platform.rollouts.status(service, "dev")["release_id"] == release_id
               and platform.rollouts.status(service, "dev")["status"] == "live")


def test_releases_become_versions_and_environments_aliases(platform: Platform, archive: Path,
                                                           mlflow_server: str) -> None:
    run = requests.post(f"{mlflow_server}{API}/runs/create", json={"experiment_id": "0"},
                        timeout=10).json()["run"]["info"]["run_id"]
    first = _release(platform, archive, "registered")
    platform.promotions.attach_evidence(first["id"], {"lineage": {"mlflow_run_id": run,
                                                       "git_commit": "abc"}}, actor=ALICE)
    version = _get(mlflow_server, "model-versions/get", name="registered",
                   version="1")["model_version"]
    assert version["run_id"] == run and version["source"] == f"goldenpath://releases/" \
        f"{first['id']}"
    assert {t["key"]: t["value"] for t in version["tags"]}["goldenpath.digest"] == \
        first["digest"]
    platform.promotions.promote(first["id"], "dev", actor=ALICE)
    _live(platform, "registered", first["id"])
    wait_until(lambda: _alias(platform, "registered", "dev") == "1")

    second = _release(platform, archive, "registered")  # no lineage: registered when live
    platform.promotions.promote(second["id"], "dev", actor=ALICE)
    _live(platform, "registered", second["id"])
    wait_until(lambda: _alias(platform, "registered", "dev") == "2")
    platform.rollouts.rollback("registered", "dev", actor=ALICE)
    _live(platform, "registered", first["id"])
    wait_until(lambda: _alias(platform, "registered", "dev") == "1")
    [row] = platform.oversight.inventory("dev")
    assert row["model_registry"] == "models:/registered/1"
    assert platform.releases.get_release(second["id"])["evidence"]["mlflow"]["version"] == "2"
    assert platform.oversight.verify_audit()["ok"]


def test_an_unreachable_registry_is_recorded_and_never_blocks(archive: Path,
                                                              tmp_path: Path) -> None:
    core = make_platform(tmp_path, mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}")
    try:
        release = _release(core, archive, "offline")
        core.promotions.promote(release["id"], "dev", actor=ALICE)
        _live(core, "offline", release["id"])
        wait_until(lambda: any(e["type"] == "registry_failed"
                               for e in core.oversight.events("offline")))
    finally:
        core.close()
