"""The inference log: sampling, the bound, dropped and hashed columns, settings, and the
records a real served bundle keeps for the server to pull (POST /inferences)."""

from __future__ import annotations

import hashlib
import random
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from goldenpath_serving._inference_log import (
    InferenceLog,
    LogSettings,
    LogSettingsError,
    request_id,
)


def _log(env: dict[str, str] | None = None, columns: tuple[str, ...] = (),
         seed: int = 0) -> InferenceLog:
    env = {"GOLDENPATH_LOG_SAMPLE": "1"} if env is None else env
    return InferenceLog(LogSettings.from_env(env),
                        columns=columns, rng=random.Random(seed))


def test_sampling_records_the_configured_share_of_requests() -> None:
    log = _log({"GOLDENPATH_LOG_SAMPLE": "0.2"}, seed=7)
    kept = sum(log.wants() for _ in range(20_000))
    assert 0.19 <= kept / 20_000 <= 0.21
    off = _log({})
    assert off.sample == 0 and not any(off.wants() for _ in range(1000))


def test_the_buffer_keeps_the_newest_records_and_counts_the_dropped() -> None:
    log = _log({"GOLDENPATH_LOG_SAMPLE": "1", "GOLDENPATH_LOG_BUFFER": "5"})
    for i in range(8):
        log.add(f"r{i}", [[i]], {"predictions": [i]})
    page = log.read()
    assert page["dropped"] == 3 and page["sample"] == 1.0 and page["next"] == 8
    assert [r["seq"] for r in page["records"]] == [4, 5, 6, 7, 8]
    assert page["records"][0] == {"seq": 4, "request_id": "r3", "at": page["records"][0]["at"],
                                  "rows": 1, "inputs": [[3]], "outputs": {"predictions": [3]}}
    assert [r["seq"] for r in log.read(after=5, limit=2)["records"]] == [6, 7]
    assert log.read(after=8) == {**page, "next": 8, "records": []}
    assert log.read(after=99)["next"] == 8  # a cursor of an earlier boot: ask again from 8


def test_dropped_and_hashed_columns_never_reach_the_log() -> None:
    env = {"GOLDENPATH_LOG_SAMPLE": "1", "GOLDENPATH_LOG_DROP": "email, ssn",
           "GOLDENPATH_LOG_HASH": "customer", "GOLDENPATH_LOG_SALT": "env-salt"}
    log = _log(env, columns=("customer", "email", "ssn", "age"))
    log.add("a", [{"customer": "c-1", "email": "x@y", "ssn": "1", "age": 30},
                  ["c-2", "z@y", "2", 41]], {"predictions": [0, 1]})
    digest = hashlib.sha256(b"env-saltc-1").hexdigest()[:16]
    [record] = log.read()["records"]
    assert record["rows"] == 2
    assert record["inputs"][0] == {"customer": digest, "age": 30}
    assert record["inputs"][1]["age"] == 41 and set(record["inputs"][1]) == {"customer", "age"}
    assert len(record["inputs"][1]["customer"]) == 16

    positional = _log({"GOLDENPATH_LOG_SAMPLE": "1", "GOLDENPATH_LOG_DROP": "1"})
    positional.add("b", [[1.0, 2.0, 3.0]], {"predictions": [1]})
    assert positional.read()["records"][0]["inputs"] == [[1.0, None, 3.0]]


@pytest.mark.parametrize(("env", "words"), [
    ({"GOLDENPATH_LOG_SAMPLE": "half"}, "GOLDENPATH_LOG_SAMPLE='half' is not a number"),
    ({"GOLDENPATH_LOG_SAMPLE": "1.5"}, "must be from 0 to 1"),
    ({"GOLDENPATH_LOG_BUFFER": "0"}, "GOLDENPATH_LOG_BUFFER=0: must be a whole number"),
    ({"GOLDENPATH_LOG_BUFFER": "1e3"}, "GOLDENPATH_LOG_BUFFER='1e3' is not a whole number"),
    ({"GOLDENPATH_LOG_DROP": "a,,b"}, "GOLDENPATH_LOG_DROP='a,,b' has an empty column"),
    ({"GOLDENPATH_LOG_HASH": "a"}, "GOLDENPATH_LOG_SALT is empty"),
    ({"GOLDENPATH_LOG_HASH": "a", "GOLDENPATH_LOG_DROP": "a", "GOLDENPATH_LOG_SALT": "s"},
     "in both GOLDENPATH_LOG_DROP and GOLDENPATH_LOG_HASH"),
])
def test_bad_settings_fail_at_start_naming_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(LogSettingsError, match=words.replace("(", r"\(")):
        LogSettings.from_env(env)


def test_request_ids_are_the_callers_when_safe() -> None:
    assert request_id("abc-1.2_3") == "abc-1.2_3"
    for bad in (None, "", "a" * 65, "a b", "x\r\nSet-Cookie: y"):
        made = request_id(bad)
        assert uuid.UUID(made).version == 4 and made == uuid.UUID(made).hex


def test_a_served_bundle_keeps_sampled_requests_for_the_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from tests.serving.test_service import _serve

    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    model = LogisticRegression().fit(X, y)
    monkeypatch.setenv("GOLDENPATH_LOG_SAMPLE", "1")
    monkeypatch.setenv("GOLDENPATH_LOG_DROP", "2")
    for url in _serve(tmp_path, model, X):
        sent: list[tuple[str, Any]] = []
        for i in range(5):
            rows = X[i:i + 1 + i % 2].tolist()
            headers = {"X-Request-Id": f"req-{i}"} if i % 2 == 0 else {}
            answer = requests.post(f"{url}/predict", json={"inputs": rows}, headers=headers,
                                   timeout=30)
            assert answer.status_code == 200, answer.text
            rid = answer.headers["X-Request-Id"]
            assert rid == f"req-{i}" if i % 2 == 0 else len(rid) == 32
            sent.append((rid, rows))
        bad = requests.post(f"{url}/predict", json={"inputs": [[1.0]]}, timeout=30)
        assert bad.status_code == 400  # not an answer: not recorded

        page = requests.post(f"{url}/inferences", json={}, timeout=30).json()
        assert page["sample"] == 1.0 and page["dropped"] == 0 and page["next"] == 5
        assert [r["request_id"] for r in page["records"]] == [rid for rid, _ in sent]
        for record, (_, rows) in zip(page["records"], sent, strict=True):
            assert record["rows"] == len(rows)
            assert record["inputs"] == [[r[0], r[1], None, r[3]] for r in rows]
            assert record["outputs"] == {"predictions": model.predict(np.array(rows)).tolist()}
        later = requests.post(f"{url}/inferences", json={"after": 3, "limit": 1},
                              timeout=30).json()
        assert later["boot"] == page["boot"] and later["next"] == 4
        assert [r["request_id"] for r in later["records"]] == [sent[3][0]]
        too_many = requests.post(f"{url}/inferences", json={"limit": 5001}, timeout=30)
        assert too_many.status_code == 400, too_many.text

    monkeypatch.setenv("GOLDENPATH_LOG_SAMPLE", "0")
    (tmp_path / "off").mkdir()
    for url in _serve(tmp_path / "off", model, X):
        assert requests.post(f"{url}/predict", json={"inputs": X[:1].tolist()},
                             timeout=30).ok
        page = requests.post(f"{url}/inferences", json={"after": 0}, timeout=30).json()
        assert page["records"] == [] and page["next"] == 0 and page["sample"] == 0
