"""The parity check's interpreter: started early, fresh for every bundle, the bundle's code."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from goldenpath import _parity, errors
from goldenpath._bundle import build_bundle, framework_hint


def _tree(iris: tuple) -> object:
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    return DecisionTreeClassifier(random_state=0).fit(X, y)


def test_checks_run_in_forks_of_one_interpreter_that_preloads_the_model_modules(
        tmp_path: Path, iris: tuple) -> None:
    X, _ = iris
    model = _tree(iris)
    assert framework_hint(model) == ["numpy", "sklearn.tree._classes"]
    bundle = build_bundle(model, "tree", X[:5], tmp_path)
    _parity.check_parity(bundle)
    zygote = _parity._zygote
    assert zygote is not None and zygote.poll() is None
    assert "sklearn.tree._classes" in zygote.args  # what this model's pickle imports
    _parity.check_parity(bundle)
    assert _parity._zygote is zygote  # nothing new to import: the same one forks again


def test_a_model_of_another_framework_gets_a_zygote_that_imports_it(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    X = np.arange(20.0).reshape(10, 2)
    _parity.prepare_parity(["numpy"])
    before = _parity._zygote
    bundle = build_bundle(LinearRegression().fit(X, X[:, 0]), "line", X[:3], tmp_path)
    _parity.check_parity(bundle)
    assert _parity._zygote is not before
    assert "sklearn.linear_model._base" in _parity._zygote.args
    assert before is not None and before.wait(timeout=10) == 0  # EOF: it exited


def test_a_dead_zygote_is_replaced(tmp_path: Path, iris: tuple) -> None:
    X, _ = iris
    bundle = build_bundle(_tree(iris), "tree", X[:5], tmp_path)
    _parity.prepare_parity(["numpy"])
    assert _parity._zygote is not None
    _parity._zygote.kill()
    _parity._zygote.wait()
    _parity.check_parity(bundle)  # a fresh interpreter does the check


def test_a_model_that_hangs_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    bundle = build_bundle(Sleepy(), "sleepy", np.ones((2, 2)), tmp_path)
    with pytest.raises(errors.ParityError, match="did not predict within 2s"):
        _parity.check_parity(bundle, timeout=2)
    _parity.check_parity(build_bundle(Quick(), "quick", np.ones((2, 2)), tmp_path))


class Sleepy:
    """Predicts quickly here, hangs once unpickled elsewhere."""

    def __init__(self) -> None:
        self.here = True

    def __getstate__(self) -> dict:
        return {"here": False}

    def predict(self, X: object) -> object:
        if not self.here:
            import time

            time.sleep(600)
        return np.asarray(X)[:, 0]


class Quick:
    def predict(self, X: object) -> object:
        return np.asarray(X)[:, 0]


def test_the_bundles_own_runtime_copy_loads_the_model(tmp_path: Path, iris: tuple) -> None:
    """The interpreter imports the bundle's goldenpath_serving, not the installed one: a
    bundle whose runtime copy predicts differently fails parity."""
    X, _ = iris
    (tmp_path / "build").mkdir()
    bundle = build_bundle(_tree(iris), "tree", X[:5], tmp_path / "build")
    unpacked = tmp_path / "unpacked"
    with tarfile.open(bundle.archive) as archive:
        archive.extractall(unpacked, filter="data")
    model_py = unpacked / "src" / "goldenpath_serving" / "_model.py"
    model_py.write_text(model_py.read_text().replace(
        "return self.model.predict(features)", "return self.model.predict(features) + 1"))
    with tarfile.open(bundle.archive, "w:gz") as archive:
        for child in unpacked.iterdir():
            archive.add(child, arcname=child.name)
    with pytest.raises(errors.ParityError, match="predicts differently"):
        _parity.check_parity(bundle)
