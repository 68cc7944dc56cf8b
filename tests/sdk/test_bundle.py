"""Real BentoML bundles: the model is inside, requirements are pinned, and the notebook's
sample with its predictions travels along (the serving runtime replays it: parity)."""

from __future__ import annotations

import json
import random
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from goldenpath import errors
from goldenpath._bundle import build_bundle
from tests._bundles import replay


def _members(archive: Path) -> dict[str, int]:
    with tarfile.open(archive) as tar:
        return {m.name.removeprefix("./"): m.size for m in tar.getmembers()}


def test_sklearn_bundle_holds_model_schema_and_pinned_requirements(tmp_path: Path,
                                                                   iris: tuple) -> None:
    import sklearn
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    bundle = build_bundle(model, "forest", X[:5], tmp_path)
    members = _members(bundle.archive)
    pickles = [n for n in members if n.endswith("model.pkl")]
    assert len(pickles) == 1 and members[pickles[0]] > 10_000  # the trees are in there
    assert f"scikit-learn=={sklearn.__version__}" in bundle.requirements
    assert all("==" in r for r in bundle.requirements)
    with tarfile.open(bundle.archive) as tar:
        reqs = tar.extractfile("./env/python/requirements.txt").read().decode()  # type: ignore
        bento = yaml.safe_load(tar.extractfile("./bento.yaml"))  # type: ignore[arg-type]
        meta_name = next(n for n in tar.getnames() if n.endswith("goldenpath.json"))
        meta = json.load(tar.extractfile(meta_name))  # type: ignore[arg-type]
    assert f"scikit-learn=={sklearn.__version__}" in reqs
    assert bento["labels"]["goldenpath.python"].count(".") == 2
    assert [c["name"] for c in meta["schema"]["columns"]] == list(X.columns)
    assert replay(bundle.archive) == 5


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_boosting_models_bundle_and_pass_parity(tmp_path: Path, iris: tuple,
                                                framework: str) -> None:
    import importlib

    X, y = iris
    module = importlib.import_module(framework)
    cls = module.XGBClassifier if framework == "xgboost" else module.LGBMClassifier
    kwargs = {"n_estimators": 5}
    if framework == "lightgbm":
        kwargs["verbose"] = -1
    model = cls(**kwargs).fit(X.to_numpy(), y)
    bundle = build_bundle(model, f"{framework}-iris", X.to_numpy()[:5], tmp_path)
    assert bundle.kind == framework
    assert any(r.startswith(f"{framework}==") for r in bundle.requirements)
    assert replay(bundle.archive) == 5


def test_pytorch_module_bundles_and_passes_parity(tmp_path: Path) -> None:
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    sample = torch.randn(5, 4)
    bundle = build_bundle(model, "torch-net", sample, tmp_path)
    assert bundle.kind == "pytorch" and bundle.schema.kind == "tensor"
    assert any(r.startswith("torch==") for r in bundle.requirements)
    assert replay(bundle.archive) == 5


class Noisy:
    """A model that never answers the same twice: parity must catch it."""

    def predict(self, X: object) -> object:
        return np.asarray(X)[:, 0] + random.random()


def test_the_runtime_replay_shows_what_differed(tmp_path: Path) -> None:
    bundle = build_bundle(Noisy(), "noisy", np.ones((3, 2)), tmp_path)
    with pytest.raises(AssertionError) as err:
        replay(bundle.archive)
    assert "ParityMismatch" in str(err.value) and "on 3 of 3 sample rows: row 0" in str(err.value)


def test_invalid_name_is_refused_before_building(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput, match="invalid service name"):
        build_bundle(Noisy(), "Bad Name!", np.ones((2, 2)), tmp_path)


def test_a_model_from_a_namespace_package_next_to_the_notebook_travels_by_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # helpers/ without __init__.py: the package has __path__ but no __file__
    (tmp_path / "gp_ns_helpers").mkdir()
    (tmp_path / "gp_ns_helpers" / "models.py").write_text(
        "import numpy as np\n\n\n"
        "class Constant:\n"
        "    def predict(self, X):\n"
        "        return np.full(len(X), 7.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        from gp_ns_helpers.models import Constant  # type: ignore[import-not-found]

        bundle = build_bundle(Constant(), "ns-helpers", np.ones((3, 2)), tmp_path)
    finally:
        sys.modules.pop("gp_ns_helpers.models", None)
        sys.modules.pop("gp_ns_helpers", None)
    assert bundle.answer == {"predictions": [7.0, 7.0, 7.0]}
    # replay loads it in a fresh interpreter without tmp_path on sys.path: by reference it
    # would fail with "No module named 'gp_ns_helpers'"
    assert replay(bundle.archive) == 3
