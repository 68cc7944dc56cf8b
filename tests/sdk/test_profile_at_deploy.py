"""The reference profile gp.deploy captures: statistics of data={"train": ...} (else the
sample) and of the model's predictions, in the bundle as profile.json, summarized on the
release as declared by the submitter; mismatched data refused before anything is built, a
bad profile.json refused at upload."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from goldenpath import errors
from goldenpath._deploy import client
from goldenpath_server import Platform, Settings
from tests._servers import ServerProcess

DISTINCT = 41.123456789  # one training value, in the middle of its column


def _frame(rows: int, seed: int = 0) -> tuple[Any, Any]:
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "age": rng.normal(40, 10, rows).round(1),
        "income": rng.lognormal(10, 1, rows),
        "plan": pd.Categorical(rng.choice(["basic", "pro", "team"], rows),
                               categories=["basic", "pro", "team"])})
    y = (X["age"] + (X["plan"] == "pro") * 10 > 45).astype(int)
    return X, y


def _frame_model(X: Any, y: Any) -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(max_iter=500)).fit(X, y)


def _stored_profile(server: ServerProcess, digest: str) -> tuple[bytes, dict[str, Any]]:
    """profile.json as it travelled, read from the archive the server stored."""
    archive = server.home / "artifacts" / "sha256" / f"{digest.removeprefix('sha256:')}.bento"
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/profile.json"))
        folder = member.name.removeprefix("./").rsplit("/", 1)[0]
        assert folder.startswith("models/")  # next to parity.json, in the model folder
        names = {m.name.removeprefix("./") for m in tar.getmembers()}
        assert {f"{folder}/parity.json", f"{folder}/goldenpath.json"} <= names
        raw = tar.extractfile(member).read()  # type: ignore[union-attr]
    return raw, json.loads(raw)


def _release(release_id: str) -> dict[str, Any]:
    return client().request("GET", f"/api/v1/releases/{release_id}")  # type: ignore[no-any-return]


def test_a_dataframe_train_set_is_profiled_without_its_rows(gp: Any, server: ServerProcess
                                                            ) -> None:
    X, y = _frame(2000)
    X.loc[1000, "age"] = DISTINCT
    model = _frame_model(X, y)
    d = gp.deploy(model, name="profiled-frame", sample=X[:5], data={"train": X}, quiet=True)

    raw, profile = _stored_profile(server, d.state.digest)
    assert profile["version"] == 1 and profile["source"] == "train"
    assert profile["rows"] == profile["profiled_rows"] == 2000
    kinds = {name: stats["kind"] for name, stats in profile["features"].items()}
    assert kinds == {"age": "numeric", "income": "numeric", "plan": "categorical"}
    assert sum(profile["features"]["plan"]["frequencies"].values()) == 2000
    assert len(profile["features"]["age"]["quantiles"]) == 101
    predicted = profile["prediction"]
    assert predicted["count"] == 2000
    assert predicted["frequencies"] == {
        str(k): int(v) for k, v in zip(*np.unique(model.predict(X), return_counts=True),
                                       strict=True)}
    assert repr(DISTINCT).encode() not in raw and b"41.12345" not in raw  # no training row

    release = _release(d.release_id)
    assert release["evidence"]["profile"] == {
        "source": "train", "rows": 2000, "profiled_rows": 2000, "feature_count": 3,
        "features": kinds, "prediction": "numeric"}
    mark = release["evidence_sources"]["profile"]
    assert mark["source"] == "declared" and mark["by"]


def test_a_large_array_train_set_is_profiled_on_10000_drawn_rows(gp: Any,
                                                                 server: ServerProcess) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.normal(size=(12_000, 4))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    d = gp.deploy(model, name="profiled-array", sample=X[:5], data={"train": X}, quiet=True)

    _, profile = _stored_profile(server, d.state.digest)
    assert (profile["rows"], profile["profiled_rows"]) == (12_000, 10_000)
    assert list(profile["features"]) == ["0", "1", "2", "3"]
    assert all(s["kind"] == "numeric" and s["count"] == 10_000
               for s in profile["features"].values())
    assert profile["prediction"]["count"] == 10_000
    again = gp.deploy(model, name="profiled-array", sample=X[:5], data={"train": X}, quiet=True)
    assert _stored_profile(server, again.state.digest)[1] == profile  # the same seeded draw


def test_without_data_the_sample_is_the_reference(gp: Any, server: ServerProcess,
                                                  iris: tuple) -> None:
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    d = gp.deploy(DecisionTreeClassifier(random_state=0).fit(X, y), name="profiled-sample",
                  sample=X[:5], quiet=True)
    _, profile = _stored_profile(server, d.state.digest)
    assert (profile["source"], profile["rows"]) == ("sample", 5)
    assert list(profile["features"]) == list(X.columns)
    assert _release(d.release_id)["evidence"]["profile"]["source"] == "sample"


@pytest.mark.parametrize(("train", "match"), [
    (lambda X: X.drop(columns=["plan"]), r"missing \['plan'\]"),
    (lambda X: X.astype({"age": "float32"}), "column 'age' is float32"),
    (lambda X: X.to_numpy(), "is a ndarray, the sample a dataframe"),
])
def test_mismatched_train_data_is_refused_before_anything_is_uploaded(gp: Any, train: Any,
                                                                     match: str) -> None:
    X, y = _frame(200)
    with pytest.raises(errors.SampleMismatch, match=match) as info:
        gp.deploy(_frame_model(X, y), name="profiled-mismatch", sample=X[:5],
                  data={"train": train(X)}, quiet=True)
    assert "data={'train': X_train}" in info.value.hint
    with pytest.raises(errors.NotFound):
        client().request("GET", "/api/v1/services/profiled-mismatch")


def test_a_tampered_profile_in_a_bundle_is_refused_at_upload(gp: Any, tmp_path: Path,
                                                             iris: tuple) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from goldenpath._bundle import build_bundle
    from goldenpath._deploy import deploy_archive

    X, y = iris
    bundle = build_bundle(DecisionTreeClassifier().fit(X, y), "profiled-tampered", X[:5],
                          tmp_path, train=X)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(bundle.archive) as archive:
        archive.extractall(unpacked, filter="data")
    path = next(unpacked.glob("models/*/*/profile.json"))
    profile = json.loads(path.read_text())
    profile["features"]["sepal length (cm)"]["mean"] = float("nan")
    path.write_text(json.dumps(profile))
    tampered = tmp_path / "tampered.bento"
    with tarfile.open(tampered, "w:gz") as archive:
        for child in unpacked.iterdir():
            archive.add(child, arcname=child.name)
    with pytest.raises(errors.InvalidBundle, match="profile.json holds a number that is not "
                                                   "finite") as info:
        deploy_archive(tampered, name="profiled-tampered", quiet=True)
    assert "gp.deploy" in info.value.hint
    with pytest.raises(errors.NotFound):
        client().request("GET", "/api/v1/services/profiled-tampered")


# -- the server's check of profile.json, in-process ----------------------------------------

_NUMERIC = {"kind": "numeric", "count": 3, "missing": 0, "unique": 3, "mean": 2.0,
            "std": 0.8, "min": 1.0, "max": 3.0, "quantiles": [1.0, 2.0, 3.0],
            "histogram": {"edges": [1.0, 2.0, 3.0], "counts": [1, 2]}}
_GOOD = {"version": 1, "source": "train", "rows": 3, "profiled_rows": 3,
         "features": {"x": _NUMERIC}, "prediction": {
             "kind": "categorical", "count": 3, "missing": 0, "unique": 2,
             "frequencies": {"a": 2, "b": 1}}}


def _bundle_with(profile: bytes) -> bytes:
    buf = io.BytesIO()
    entries = {"bento.yaml": b"name: prof\nversion: v1\nservice: service:Svc\n",
               "models/prof/v1/goldenpath.json": b'{"schema": null}',
               "models/prof/v1/profile.json": profile}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Any:
    core = Platform(Settings(home=tmp_path_factory.mktemp("profiles") / "home"))
    core.start()
    yield core
    core.close()


def _upload(platform: Platform, data: bytes, service: str = "prof") -> dict[str, Any]:
    upload = platform.artifacts.begin_upload()
    try:
        upload.write(data)
        return platform.releases.create_model_release(service, upload, actor="tester")
    finally:
        upload.abort()


def test_the_stored_profile_is_read_back_for_monitoring(platform: Platform) -> None:
    release = _upload(platform, _bundle_with(json.dumps(_GOOD).encode()), "prof-good")
    assert platform.artifacts.profile(release["digest"]) == _GOOD
    assert release["evidence"]["profile"]["features"] == {"x": "numeric"}
    assert release["evidence_sources"]["profile"]["by"] == "tester"


@pytest.mark.parametrize(("profile", "match"), [
    (b"[1, 2]", "not a version 1 profile object"),
    (json.dumps({**_GOOD, "version": 2}).encode(), "not a version 1 profile object"),
    (json.dumps({**_GOOD, "source": "elsewhere"}).encode(), "must name its source"),
    (json.dumps({**_GOOD, "features": [1]}).encode(), "features must be an object"),
    (json.dumps({**_GOOD, "features": {"x": {**_NUMERIC, "kind": "text"}}}).encode(),
     "feature 'x': statistics must be an object of kind numeric or categorical"),
    (json.dumps({**_GOOD, "features": {"x": {**_NUMERIC, "quantiles": ["a"]}}}).encode(),
     "numeric statistics need quantiles"),
    (json.dumps({**_GOOD, "rows": 1e999}).replace("Infinity", "1e999").encode(),
     "must name its source"),
    (json.dumps({**_GOOD, "features": {"x": {**_NUMERIC, "mean": 1e999}}}).encode(),
     "not finite"),
    (b"{not json", "is not valid JSON"),
    (b" " * (4 << 20) + b"{}", "larger than"),
])
def test_a_bad_profile_is_refused_with_nothing_kept(platform: Platform, profile: bytes,
                                                   match: str) -> None:
    kept = {sub: set((platform.artifacts.root / sub).iterdir()) for sub in ("sha256",
                                                                           "unpacked")}
    with pytest.raises(errors.InvalidBundle, match=match) as info:
        _upload(platform, _bundle_with(profile))
    assert "gp.deploy" in info.value.hint
    assert kept == {sub: set((platform.artifacts.root / sub).iterdir()) for sub in kept}
    with pytest.raises(errors.NotFound):
        platform.releases.get_service("prof")


def test_a_profile_too_wide_for_the_server_keeps_the_predictions() -> None:
    from goldenpath._bundle import PROFILE_BYTES, profile_text
    from goldenpath_serving import Schema
    from goldenpath_serving._profile import feature_columns, profile_of

    X = np.random.default_rng(0).normal(size=(50, 3000))
    profile = profile_of(feature_columns(Schema.infer(X), X), np.zeros(50), source="train")
    text = profile_text(profile)
    assert len(text) <= PROFILE_BYTES
    assert json.loads(text)["features"] == {} and profile["features_left_out"] == 3000
    assert json.loads(text)["prediction"]["count"] == 50
