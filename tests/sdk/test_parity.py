"""The parity check's interpreter: started early, fresh for every bundle, the bundle's code."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from goldenpath import _parity, errors
from goldenpath._bundle import build_bundle, framework_hint


def _tree(iris: tuple) -> object:
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    return DecisionTreeClassifier(random_state=0).fit(X, y)


def test_a_spare_interpreter_preloading_the_model_modules_waits_for_the_next_check(
        tmp_path: Path, iris: tuple) -> None:
    X, _ = iris
    model = _tree(iris)
    assert framework_hint(model) == ["numpy", "sklearn.tree._classes"]
    bundle = build_bundle(model, "tree", X[:5], tmp_path)
    _parity.check_parity(bundle)
    spare = _parity._spare
    assert spare is not None and spare.poll() is None
    assert "sklearn.tree._classes" in spare.args  # what this model's pickle imports

    _parity.check_parity(bundle)  # the spare checks this one and exits
    assert spare.wait(timeout=30) == 0
    assert _parity._spare is not spare and _parity._spare is not None


def test_a_dead_spare_is_replaced(tmp_path: Path, iris: tuple) -> None:
    X, _ = iris
    bundle = build_bundle(_tree(iris), "tree", X[:5], tmp_path)
    _parity.prepare_parity(["numpy"])
    assert _parity._spare is not None
    _parity._spare.kill()
    _parity._spare.wait()
    _parity.check_parity(bundle)  # a fresh interpreter does the check


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
