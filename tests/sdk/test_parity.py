"""Parity where the model runs: the serving runtime replays the notebook's sample before it
reports ready, and the server replays it again before traffic (its own, verified check)."""

from __future__ import annotations

import random
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from goldenpath import errors
from goldenpath._bundle import build_bundle
from goldenpath._deploy import deploy_archive


def _tree(iris: tuple) -> object:
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    return DecisionTreeClassifier(random_state=0).fit(X, y)


def _edit_runtime(archive: Path, tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """A copy of `archive` whose goldenpath_serving copy has `edits` {file: (old, new)}."""
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    for name, (old, new) in edits.items():
        path = unpacked / "src" / "goldenpath_serving" / name
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))
    edited = tmp_path / "edited.bento"
    with tarfile.open(edited, "w:gz") as tar:
        for child in unpacked.iterdir():
            tar.add(child, arcname=child.name)
    return edited


class Noisy:
    """A model that never answers the same twice."""

    def predict(self, X: Any) -> Any:
        return np.asarray(X)[:, 0] + random.random()


def test_a_model_that_predicts_differently_never_goes_live(gp: Any) -> None:
    with pytest.raises(errors.ParityError) as err:
        gp.deploy(Noisy(), name="noisy", sample=np.ones((3, 2)), quiet=True)
    assert "on 3 of 3 sample rows" in err.value.message
    diff = err.value.details["differences"][0]
    assert diff["row"] == 0 and diff["notebook"] != diff["bundle"]
    assert gp.get("noisy").status()["status"] == "failed"


def test_the_runtime_replays_the_sample_with_the_bundles_own_copy(
        gp: Any, iris: tuple, tmp_path: Path) -> None:
    """The bundle's copy of goldenpath_serving serves (not an installed one): a copy that
    predicts differently is refused at load, before it reports ready."""
    X, _ = iris
    bundle = build_bundle(_tree(iris), "tree", X[:5], tmp_path)
    edited = _edit_runtime(bundle.archive, tmp_path, {"_frameworks.py": (
        "getattr(model, method)(features)", "getattr(model, method)(features) + 1")})
    with pytest.raises(errors.ParityError, match="predicts differently"):
        deploy_archive(edited, name="tampered-runtime", quiet=True)
    logs = gp.get("tampered-runtime").logs()
    assert "GOLDENPATH_SERVING_FAILED" in logs  # the runtime said so before serving


def test_the_server_checks_parity_itself(gp: Any, iris: tuple, tmp_path: Path) -> None:
    """A runtime that skips its own replay (model code can do that) is still caught: the
    server replays the sample over HTTP before the release gets traffic."""
    X, _ = iris
    bundle = build_bundle(_tree(iris), "tree", X[:5], tmp_path)
    edited = _edit_runtime(bundle.archive, tmp_path, {"_frameworks.py": (
        "getattr(model, method)(features)", "getattr(model, method)(features) + 1"),
        "service.py": ("loaded.check_parity()", "pass")})
    with pytest.raises(errors.ParityError, match="predicts differently") as err:
        deploy_archive(edited, name="lying-runtime", quiet=True)
    assert err.value.details["rows"] == 5
    assert "GOLDENPATH_SERVING_FAILED" not in gp.get("lying-runtime").logs()


def test_parity_is_verified_evidence_per_environment(gp: Any, iris: tuple) -> None:
    X, _ = iris
    d = gp.deploy(_tree(iris), name="parity-envs", sample=X[:5], quiet=True)
    d.promote("staging")
    evidence = d.evidence()
    parity = evidence["parity"]
    assert parity["passed"] and parity["rows"] == 5
    assert set(parity["environments"]) == {"dev", "staging"}
    assert evidence["sources"]["parity"]["source"] == "server"


def test_a_model_that_fails_to_load_shows_its_own_exception(gp: Any) -> None:
    class Fragile:
        def __init__(self) -> None:
            self.here = True

        def __getstate__(self) -> dict:
            return {"here": False}

        def __setstate__(self, state: dict) -> None:
            raise RuntimeError("needs the notebook's database connection")

        def predict(self, X: Any) -> Any:
            return np.asarray(X)[:, 0]

    with pytest.raises(errors.DeploymentFailed) as err:
        gp.deploy(Fragile(), name="fragile", sample=np.ones((2, 2)), quiet=True)
    assert "RuntimeError: needs the notebook's database connection" in err.value.message
    assert "test_parity.py" in err.value.hint  # the line in the user's code
