"""Profiles: the statistics of a model's columns and predictions, and the columns a schema's
inputs, a request's rows and the runtime's answers give."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from goldenpath_serving import Schema
from goldenpath_serving._profile import (
    columns_of_payload,
    feature_columns,
    output_column,
    profile_of,
)
from goldenpath_serving._schema import SchemaError


def _frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50.0, 10.0, size=n)
    income[::10] = np.nan
    return pd.DataFrame({
        "income": income,
        "children": rng.integers(0, 3, size=n),
        "plan": pd.Categorical(rng.choice(["basic", "pro", None], size=n)),
        "active": rng.random(n) < 0.3,
        "visits": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
        "since": pd.date_range("2024-01-01", periods=n, freq="h"),
    })


def test_numeric_stats_match_numpy_and_keep_no_rows() -> None:
    frame = _frame()
    profile = profile_of(feature_columns(Schema.infer(frame), frame), source="train")
    income = profile["features"]["income"]
    present = frame["income"].dropna().to_numpy()
    assert (profile["version"], profile["source"], profile["rows"]) == (1, "train", 1000)
    assert income["kind"] == "numeric"
    assert (income["count"], income["missing"], income["unique"]) == (900, 100, 900)
    assert income["mean"] == pytest.approx(present.mean())
    assert income["std"] == pytest.approx(present.std())
    assert np.allclose(income["quantiles"], np.quantile(present, np.linspace(0, 1, 101)))
    assert (income["min"], income["max"]) == (present.min(), present.max())
    assert len(income["histogram"]["edges"]) == 31 and sum(income["histogram"]["counts"]) == 900
    assert "frequencies" not in income
    visits = profile["features"]["visits"]  # pandas' nullable integers: <NA> is missing
    assert (visits["kind"], visits["missing"]) == ("numeric", 143)
    # statistics only: the profile's size does not grow with the rows
    big = profile_of({"x": np.random.default_rng(1).normal(size=100_000)})
    assert len(json.dumps(big, allow_nan=False)) < 4000


def test_few_valued_integers_stay_numeric_with_their_frequencies() -> None:
    frame = _frame()
    children = profile_of(feature_columns(Schema.infer(frame), frame))["features"]["children"]
    assert (children["kind"], children["unique"]) == ("numeric", 3)
    counts = frame["children"].value_counts()
    assert children["frequencies"] == {str(k): int(counts[k]) for k in sorted(counts.index)}


def test_categories_booleans_and_missing_values() -> None:
    frame = _frame()
    profile = profile_of(feature_columns(Schema.infer(frame), frame))
    plan, active = profile["features"]["plan"], profile["features"]["active"]
    expected = frame["plan"].value_counts()
    assert plan["kind"] == "categorical"
    assert plan["frequencies"] == {k: int(v) for k, v in expected.items()}
    assert plan["missing"] == int(frame["plan"].isna().sum()) and plan["unique"] == 2
    assert plan["count"] + plan["missing"] == 1000
    assert active["kind"] == "categorical"
    assert active["frequencies"]["True"] == int(frame["active"].sum())
    assert "since" not in profile["features"]  # date-times get no per-feature drift


def test_categorical_frequencies_keep_the_100_most_frequent() -> None:
    values = np.array([f"v{i}" for i in range(150) for _ in range(1 + (i < 100))], dtype=object)
    stats = profile_of({"code": values})["features"]["code"]
    assert stats["unique"] == 150 and len(stats["frequencies"]) == 101
    assert stats["frequencies"]["__other__"] == 50
    assert sum(stats["frequencies"].values()) == stats["count"] == 250


def test_a_column_without_values_and_infinities() -> None:
    profile = profile_of({"empty": np.full(5, np.nan),
                          "inf": np.array([1.0, np.inf, -np.inf, 2.0])})
    empty, inf = profile["features"]["empty"], profile["features"]["inf"]
    assert (empty["count"], empty["missing"], empty["mean"], empty["quantiles"]) == (
        0, 5, None, [])
    assert (inf["count"], inf["missing"], inf["max"]) == (2, 2, 2.0)
    json.dumps(profile, allow_nan=False)


def test_payload_rows_give_the_same_columns_as_the_frame() -> None:
    frame = _frame(50).drop(columns=["since"])
    schema = Schema.infer(frame)
    records = json.loads(frame.to_json(orient="records", double_precision=15))
    rows = [list(record.values()) for record in records]
    expected = profile_of(feature_columns(schema, frame))
    assert profile_of(columns_of_payload(schema, records)) == expected
    assert profile_of(columns_of_payload(schema, rows)) == expected


def test_logged_rows_without_dropped_columns_and_with_hashed_ones_still_give_the_rest(
        ) -> None:
    """What the inference log keeps of a table's rows (goldenpath_serving._inference_log): a
    dropped column is gone from records and null in list rows, a hashed one is a string;
    the other columns compare as before, the hashed one as categories."""
    from goldenpath_serving._inference_log import InferenceLog, LogSettings

    frame = _frame(50).drop(columns=["since"])
    schema = Schema.infer(frame)
    dropped, hashed = frame.columns[0], frame.columns[1]
    log = InferenceLog(LogSettings(sample=1.0, drop=frozenset({dropped}),
                                   hash=frozenset({hashed}), salt="s"),
                       columns=list(frame.columns))
    records = json.loads(frame.to_json(orient="records", double_precision=15))
    rows = [list(record.values()) for record in records]
    kept = {name: values for name, values in feature_columns(schema, frame).items()
            if name not in (dropped, hashed)}
    logged_lists = [[None if name == dropped else log._hash(v) if name == hashed else v
                     for name, v in record.items()] for record in records]
    for logged in ([log._row(row) for row in records], [log._row(row) for row in rows],
                   logged_lists):
        columns = columns_of_payload(schema, logged, {dropped}, {hashed})
        assert set(columns) == set(kept) | {hashed}
        assert profile_of({k: columns[k] for k in kept}) == profile_of(kept)
        assert columns[hashed].dtype == object and len(set(columns[hashed])) > 1
    with pytest.raises(SchemaError):  # without saying what the log left out: refused
        columns_of_payload(schema, [log._row(row) for row in records])


def test_arrays_name_columns_by_position_and_other_inputs_have_none() -> None:
    array = np.arange(12.0).reshape(4, 3)
    schema = Schema.infer(array)
    columns = feature_columns(schema, array)
    assert list(columns) == ["0", "1", "2"] and columns["2"].tolist() == [2.0, 5.0, 8.0, 11.0]
    assert list(columns_of_payload(schema, array.tolist())) == ["0", "1", "2"]
    assert feature_columns(Schema.infer(["a text", "another"]), ["a text"]) == {}
    assert columns_of_payload(Schema.infer(np.zeros((2, 2, 2))), np.zeros((1, 2, 2)).tolist()
                              ) == {}


@pytest.mark.parametrize(("answer", "expected", "kind"), [
    ({"predictions": ["yes", "no"]}, ["yes", "no"], "categorical"),
    ({"predictions": [0.5, None]}, [0.5, None], "numeric"),
    ({"predictions": [1, 0], "probabilities": [{"0": 0.2, "1": 0.8}] * 2}, [1, 0], "numeric"),
    ({"predictions": [[0.5], [1.5]]}, [0.5, 1.5], "numeric"),
    ({"predictions": [{"label": "POSITIVE", "score": 0.9}]}, ["POSITIVE"], "categorical"),
    ({"probabilities": [{"a": 0.2, "b": 0.8}, {"a": 0.7, "b": 0.3}]}, ["b", "a"],
     "categorical"),
    ({"predictions": [True, False]}, [True, False], "categorical"),
])
def test_output_column_of_an_answer(answer: dict, expected: list, kind: str) -> None:
    column = output_column(answer)
    assert column is not None
    assert [None if isinstance(v, float) and np.isnan(v) else v
            for v in column.tolist()] == expected
    assert profile_of({}, column)["prediction"]["kind"] == kind


def test_output_column_of_other_shapes_is_none() -> None:
    assert output_column({"predictions": [[1.0, 2.0], [3.0, 4.0]]}) is None
    assert output_column({"predictions": []}) is None
    assert output_column({}) is None
