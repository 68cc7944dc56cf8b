"""The model matrix: every supported kind x input type, as a data scientist has them.

Each case deploys on the embedded default (a real server, real serving processes), passes
parity, answers over HTTP exactly as the framework answers in this process, and runs under
stock `bentoml serve` from the archive the deployment exports. docs/models.md lists it.
The expected answers come from the frameworks' own calls here, not from goldenpath.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from goldenpath import errors
from tests._servers import free_port

pytestmark = pytest.mark.slow


@dataclass
class Case:
    model: Any
    sample: Any  # what gp.deploy gets
    requests: Any  # what d.answer() sends (new rows)
    expected: dict[str, Any]  # the framework's own answer to `requests`, computed here
    outputs: list[str] | None = None


def _proba(model: Any, X: Any) -> list[dict[str, float]]:
    return [dict(zip([str(c) for c in model.classes_], row, strict=True))
            for row in np.asarray(model.predict_proba(X)).tolist()]


def _customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "plan": pd.Categorical(rng.choice(["basic", "pro", "team"], n),
                               categories=["basic", "pro", "team"]),
        "region": pd.array(rng.choice(["eu", "us", "apac"], n), dtype="string"),
        "seats": rng.integers(1, 50, n),
        "spend": np.round(rng.gamma(2.0, 30.0, n), 2),
        "active": rng.random(n) > 0.3,
    })


def _churned(frame: pd.DataFrame) -> np.ndarray:
    score = frame["spend"] / 60 + (frame["plan"] == "basic") * 1.2 - frame["active"] * 0.8
    return np.where(score + np.random.default_rng(1).normal(0, 0.3, len(frame)) > 1.0,
                    "churn", "stay")


def sklearn_array() -> Case:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    rows = X[100:104]
    return Case(model, X[:5], rows, {"predictions": model.predict(rows).tolist(),
                                     "probabilities": _proba(model, rows)},
                ["predict", "predict_proba"])


def sklearn_pipeline_mixed() -> Case:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    frame = _customers(300, 0)
    frame["signup"] = pd.to_datetime("2024-01-01") + pd.to_timedelta(
        np.random.default_rng(2).integers(0, 365, len(frame)), unit="D")
    frame.loc[3, "spend"] = np.nan  # a missing value, imputed by the pipeline

    def months_since(col: pd.DataFrame) -> np.ndarray:  # a notebook-defined step
        return ((pd.Timestamp("2025-01-01") - col.iloc[:, 0]).dt.days / 30).to_numpy()[:, None]

    prep = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ("num", StandardScaler(), ["seats"]),
        ("spend", Pipeline([("fill", FunctionTransformer(lambda x: x.fillna(0.0))),
                            ("scale", StandardScaler())]), ["spend"]),
        ("age", FunctionTransformer(months_since), ["signup"]),
        ("flag", "passthrough", ["active"]),
    ])
    model = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=500))])
    model.fit(frame, _churned(frame.fillna({"spend": 0.0})))
    rows = frame.iloc[10:14]
    return Case(model, frame.iloc[:8], rows, {"predictions": model.predict(rows).tolist(),
                                              "probabilities": _proba(model, rows)},
                ["predict", "predict_proba"])


def sklearn_multi_output_regression() -> Case:
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0] * 2 + X[:, 1], X[:, 2] - X[:, 3]])
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, Y)
    rows = X[50:53]
    return Case(model, X[:5], rows, {"predictions": model.predict(rows).tolist()})


def xgboost_categorical() -> Case:
    import xgboost

    frame = _customers(300, 4)[["plan", "seats", "spend"]]
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3, enable_categorical=True,
                                  tree_method="hist")
    labels = (_churned(_customers(300, 4)) == "churn").astype(int)
    model.fit(frame, labels)
    rows = frame.iloc[20:24]
    return Case(model, frame.iloc[:5], rows, {"predictions": model.predict(rows).tolist(),
                                              "probabilities": _proba(model, rows)},
                ["predict", "predict_proba"])


def lightgbm_categorical() -> Case:
    import lightgbm

    frame = _customers(300, 5)[["plan", "seats", "spend"]]
    labels = _churned(_customers(300, 5))
    model = lightgbm.LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1)
    model.fit(frame, labels)
    rows = frame.iloc[30:34]
    return Case(model, frame.iloc[:5], rows, {"predictions": model.predict(rows).tolist(),
                                              "probabilities": _proba(model, rows)},
                ["predict", "predict_proba"])


def catboost_categorical() -> Case:
    import catboost

    frame = _customers(200, 6)[["plan", "region", "seats", "spend"]]
    frame = frame.astype({"plan": str, "region": str})
    labels = _churned(_customers(200, 6))
    model = catboost.CatBoostClassifier(iterations=20, depth=3, verbose=False,
                                        cat_features=["plan", "region"], random_seed=0,
                                        allow_writing_files=False, thread_count=1)
    model.fit(frame, labels)
    rows = frame.iloc[40:44]
    return Case(model, frame.iloc[:5], rows,
                {"predictions": np.asarray(model.predict(rows)).tolist(),
                 "probabilities": _proba(model, rows)}, ["predict", "predict_proba"])


def _torch_net() -> Any:
    import torch

    class ChurnNet(torch.nn.Module):  # defined here, as in a notebook cell
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                              torch.nn.Linear(8, 2), torch.nn.Softmax(dim=1))

        def forward(self, x: Any) -> Any:
            return self.layers(x)

    torch.manual_seed(0)
    return ChurnNet()


def pytorch_numpy() -> Case:
    import torch

    net = _torch_net()
    X = np.random.default_rng(7).normal(size=(20, 4))  # float64, as NumPy makes it
    rows = X[10:13]
    with torch.no_grad():
        expected = net.eval()(torch.as_tensor(rows, dtype=torch.float32)).numpy().tolist()
    return Case(net, X[:5], rows, {"predictions": expected})


def pytorch_tensor() -> Case:
    import torch

    net = _torch_net()
    X = torch.randn(20, 4)
    rows = X[10:13]
    with torch.no_grad():
        expected = net.eval()(rows).numpy().tolist()
    return Case(net, X[:5], rows.numpy(), {"predictions": expected})


def transformers_text() -> Case:
    import torch
    import transformers as hf

    vocab = Path(os.environ.get("TMPDIR", "/tmp")) / f"matrix-vocab-{os.getpid()}.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad",
                                "film", "great", "awful", "the", "plot"]))
    config = hf.BertConfig(vocab_size=12, hidden_size=8, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=16, num_labels=2,
                        id2label={0: "negative", 1: "positive"},
                        label2id={"negative": 0, "positive": 1})
    torch.manual_seed(0)
    classifier = hf.pipeline("text-classification", tokenizer=hf.BertTokenizerFast(str(vocab)),
                             model=hf.BertForSequenceClassification(config).eval(),
                             device="cpu")
    texts = ["great film", "the plot was awful and the film bad"]
    return Case(classifier, ["good film", "bad plot"], texts,
                {"predictions": classifier(texts)})


class Segmenter:
    """Any object with predict(X): here one that reads nullable and datetime columns."""

    def predict(self, X: pd.DataFrame) -> list[str]:
        recent = X["last_seen"] > pd.Timestamp("2024-06-01", tz="UTC")
        return ["active" if r and (s is not pd.NA and s > 2) else "dormant"
                for r, s in zip(recent, X["visits"], strict=True)]


def python_nullable_datetime() -> Case:
    frame = pd.DataFrame({
        "visits": pd.array([5, None, 1, 7, 3], dtype="Int64"),
        "last_seen": pd.to_datetime(["2024-07-01", "2024-01-02", "2024-08-15T10:30:00",
                                     None, "2024-09-30"], utc=True, format="ISO8601"),
    })
    model = Segmenter()
    rows = frame.iloc[[0, 1, 4]]
    return Case(model, frame, rows, {"predictions": model.predict(rows)})


CASES: dict[str, Callable[[], Case]] = {
    "sklearn-array-proba": sklearn_array,
    "sklearn-pipeline-mixed": sklearn_pipeline_mixed,
    "sklearn-multi-output": sklearn_multi_output_regression,
    "xgboost-categorical": xgboost_categorical,
    "lightgbm-categorical": lightgbm_categorical,
    "catboost-categorical": catboost_categorical,
    "pytorch-numpy": pytorch_numpy,
    "pytorch-tensor": pytorch_tensor,
    "transformers-text": transformers_text,
    "python-nullable-datetime": python_nullable_datetime,
}


def close(a: Any, b: Any) -> bool:
    """Equal JSON answers: numbers to 1e-6 relative, everything else exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return bool(np.isclose(a, b, rtol=1e-6, atol=1e-8))
    return a == b


@pytest.mark.parametrize("name", list(CASES))
def test_every_kind_deploys_answers_as_here_and_runs_under_stock_bentoml(
        name: str, gp: Any, tmp_path: Path) -> None:
    case = CASES[name]()
    d = gp.deploy(case.model, name=f"m-{name}", sample=case.sample, outputs=case.outputs,
                  quiet=True)
    assert d.evidence()["parity"]["passed"]  # the server replayed the sample itself
    answer = d.answer(case.requests)
    assert close(answer, case.expected), (answer, case.expected)
    assert close(d.predict(case.requests), case.expected["predictions"])
    archive = d.export(tmp_path / f"{name}.bento")
    stock = _stock_bentoml_answer(archive, tmp_path, {"inputs": _json_rows(case.requests)})
    assert close(stock, case.expected), (stock, case.expected)


def test_an_unknown_category_is_a_400_that_names_it(gp: Any) -> None:
    case = xgboost_categorical()
    d = gp.deploy(case.model, name="m-unknown-category", sample=case.sample, quiet=True)
    rows = [{"plan": "enterprise", "seats": 3, "spend": 10.0}]
    with pytest.raises(errors.InvalidInput, match="unknown category 'enterprise'"):
        d.predict(rows)
    reply = requests.post(f"{d.url}/predict", json={"inputs": rows}, timeout=30)
    assert reply.status_code == 400 and "'basic', 'pro', 'team'" in reply.text


def test_the_openapi_document_says_the_request_and_answer_schemas(gp: Any) -> None:
    case = sklearn_pipeline_mixed()
    d = gp.deploy(case.model, name="m-openapi", sample=case.sample, outputs=case.outputs,
                  quiet=True)
    doc = requests.get(f"{d.url}/docs.json", timeout=30).json()
    plan = next(_values(doc, "plan"))
    assert plan["enum"] == ["basic", "pro", "team", None]  # the training categories
    assert next(_values(doc, "signup"))["format"] == "date-time"
    assert next(_values(doc, "seats")) == {"type": "integer"}
    churn = next(_values(doc, "churn"))  # the answer's probabilities, one per class
    assert churn["type"] == "number" and churn["maximum"] == 1


def _values(node: Any, key: str) -> Any:
    """Every value under `key` anywhere in a JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _values(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v, key)


def test_outputs_must_be_methods_the_model_has(gp: Any) -> None:
    case = sklearn_multi_output_regression()
    with pytest.raises(errors.InvalidInput, match="has no predict_proba"):
        gp.deploy(case.model, name="m-no-proba", sample=case.sample,
                  outputs=["predict", "predict_proba"], quiet=True)
    with pytest.raises(errors.InvalidInput, match="not a choice of model methods"):
        gp.deploy(case.model, name="m-no-proba", sample=case.sample, outputs="labels",
                  quiet=True)


def _json_rows(inputs: Any) -> Any:
    from goldenpath_serving._schema import rows_as_json

    return rows_as_json(inputs)


def _stock_bentoml_answer(archive: Path, tmp_path: Path, body: dict[str, Any]) -> Any:
    """Unpack the exported archive and serve it with `bentoml serve` (BentoML's own CLI,
    its own home: no goldenpath server, settings or store), then POST `body`."""
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOLDENPATH", "PYTHON"))}
    env.update(BENTOML_DO_NOT_TRACK="True", BENTOML_HOME=str(tmp_path / "stock-home"))
    bentoml_cli = Path(sys.executable).parent / "bentoml"
    proc = subprocess.Popen([str(bentoml_cli), "serve", str(unpacked), "--port", str(port),
                             "--host", "127.0.0.1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).ok:
                    reply = requests.post(f"http://127.0.0.1:{port}/predict", json=body,
                                          timeout=60)
                    assert reply.status_code == 200, reply.text
                    return reply.json()
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.5)
        out = proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""
        raise AssertionError(f"bentoml serve did not answer: {out[-3000:]}")
    finally:
        from goldenpath_server.targets.local import _terminate

        _terminate(proc.pid)


class PickyScorer:
    """Raises on some requests, as a real model's own checks do."""

    def predict(self, X: Any) -> Any:
        values = np.asarray(X, dtype=float)
        if (values < 0).any():
            raise ValueError("spend cannot be negative")
        return values.sum(axis=1)


def test_a_model_that_raises_on_a_request_says_why(gp: Any) -> None:
    d = gp.deploy(PickyScorer(), name="m-picky", sample=np.ones((3, 2)), quiet=True)
    assert d.predict([[1.0, 2.0]]) == [3.0]
    with pytest.raises(errors.PredictionFailed) as err:
        d.predict([[1.0, -2.0]])
    assert "ValueError: spend cannot be negative" in err.value.message
    assert "test_matrix.py" in err.value.hint  # the line in the user's own code
    reply = requests.post(f"{d.url}/predict", json={"inputs": [[1.0, -2.0]]}, timeout=30)
    assert reply.status_code == 500 and "negative" not in reply.text  # no internals to callers
