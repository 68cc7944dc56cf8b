"""Schema inference from samples and validation of request payloads."""

import numpy as np
import pandas as pd
import pytest

from goldenpath_serving import Schema, SchemaError


def test_dataframe_schema_keeps_column_names_and_dtypes() -> None:
    frame = pd.DataFrame({"age": [31, 42], "income": [1.5, 2.5], "plan": ["a", "b"]})
    schema = Schema.infer(frame)
    assert schema.kind == "dataframe"
    assert [c["name"] for c in schema.columns] == ["age", "income", "plan"]
    assert schema.columns[0]["dtype"] == "int64"
    props = schema.json_schema()["properties"]["inputs"]["items"]["oneOf"][0]["properties"]
    assert props["age"] == {"type": "integer"}
    assert props["income"]["type"] == ["number", "null"]  # null: a missing value (NaN)
    assert props["plan"] == {"type": ["string", "null"]}


def test_dataframe_accepts_records_and_rows() -> None:
    schema = Schema.infer(pd.DataFrame({"a": [1.0], "b": [2]}))
    by_records = schema.parse([{"a": 1, "b": 2}])
    by_rows = schema.parse([[1, 2]])
    pd.testing.assert_frame_equal(by_records, by_rows)
    assert str(by_rows["a"].dtype) == "float64" and str(by_rows["b"].dtype) == "int64"


@pytest.mark.parametrize(("payload", "fragment"), [
    ([{"a": 1}], "missing columns ['b']"),
    ([{"a": 1, "b": 2, "c": 3}], "unknown columns ['c']"),
    ([[1, 2, 3]], "row 0 has 3 values, the model takes 2"),
    ([{"a": "x", "b": 2}], "column 'a' row 0: 'x' is not a number"),
    ([], "non-empty list"),
    ("nope", "non-empty list"),
])
def test_dataframe_rejects_wrong_payloads_quoting_the_schema(payload: object,
                                                              fragment: str) -> None:
    schema = Schema.infer(pd.DataFrame({"a": [1.0], "b": [2]}))
    with pytest.raises(SchemaError) as err:
        schema.parse(payload)
    assert fragment in str(err.value)
    assert "a: float64, b: int64" in str(err.value)


def test_ndarray_schema_checks_row_shape_and_dtype() -> None:
    schema = Schema.infer(np.zeros((5, 3), dtype=np.float32))
    assert schema.shape == [None, 3] and schema.dtype == "float32"
    assert schema.parse([[1, 2, 3]]).dtype == np.float32
    with pytest.raises(SchemaError, match=r"shape \[3\], got \[2\]"):
        schema.parse([[1, 2]])
    with pytest.raises(SchemaError, match="not float32 rows"):
        schema.parse([["a", "b", "c"]])


def test_schema_round_trips_through_json_dict() -> None:
    schema = Schema.infer(pd.DataFrame({"x": [1]}))
    assert Schema.from_dict(schema.to_dict()) == schema


def _typed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "plan": pd.Categorical(["pro", "basic", None], categories=["basic", "pro", "team"]),
        "seats": pd.array([1, None, 3], dtype="Int64"),
        "age": np.array([31, 42, 57], dtype=np.int32),
        "active": [True, False, True],
        "trial": pd.array([True, None, False], dtype="boolean"),
        "region": pd.array(["eu", None, "us"], dtype="string"),
        "signup": pd.to_datetime(["2024-01-31T12:00:00Z", "2023-05-01", None], utc=True,
                                 format="ISO8601"),
        "spend": [1.5, np.nan, 3.25],
    })


def test_typed_columns_round_trip_through_json_exactly() -> None:
    frame = _typed_frame()
    schema = Schema.from_dict(Schema.infer(frame).to_dict())
    from goldenpath_serving._schema import rows_as_json

    parsed = schema.parse(rows_as_json(frame))
    pd.testing.assert_frame_equal(parsed, frame)
    plan = schema.columns[0]
    assert plan["categories"] == ["basic", "pro", "team"] and plan["ordered"] is False


def test_records_in_any_key_order_come_back_in_training_order() -> None:
    schema = Schema.infer(pd.DataFrame({"a": [1.0], "b": [2]}))
    assert list(schema.parse([{"b": 2, "a": 1.0}]).columns) == ["a", "b"]


@pytest.mark.parametrize(("column", "value", "fragment"), [
    ("plan", "enterprise", "unknown category 'enterprise'; the model was trained on 'basic'"),
    ("age", 31.5, "31.5 is not an integer (int32); it is not rounded for you"),
    ("age", None, "null, but the model was trained on int32"),
    ("age", True, "True is not an integer"),
    ("seats", 2.5, "2.5 is not an integer or null"),
    ("active", 1, "1 is not true or false"),
    ("region", 7, "7 is not a string or null"),
    ("signup", "yesterday", "takes ISO 8601 date-times"),
    ("spend", "a lot", "'a lot' is not a number"),
])
def test_a_value_that_does_not_fit_its_column_is_named(column: str, value: object,
                                                       fragment: str) -> None:
    frame = _typed_frame()
    schema = Schema.infer(frame)
    from goldenpath_serving._schema import rows_as_json

    rows = rows_as_json(frame)
    rows[1][column] = value
    with pytest.raises(SchemaError) as err:
        schema.parse(rows)
    assert fragment in str(err.value)
    assert f"column {column!r}" in str(err.value)


def test_integral_floats_fit_integer_columns() -> None:
    schema = Schema.infer(pd.DataFrame({"n": [1, 2]}))
    assert schema.parse([{"n": 3.0}])["n"].tolist() == [3]


def test_json_schema_lists_categories_and_nullability() -> None:
    props = Schema.infer(_typed_frame()).json_schema()["properties"]["inputs"]["items"][
        "oneOf"][0]["properties"]
    assert props["plan"]["enum"] == ["basic", "pro", "team", None]
    assert props["seats"] == {"type": ["integer", "null"]}
    assert props["age"] == {"type": "integer"}
    assert props["active"] == {"type": "boolean"}
    assert props["signup"]["format"] == "date-time"


def test_texts_are_a_list_of_strings() -> None:
    schema = Schema.infer(["good film", "bad film"])
    assert schema.kind == "text"
    assert schema.parse(["a much longer review than any in the sample"]) == [
        "a much longer review than any in the sample"]
    with pytest.raises(SchemaError, match="row 1 is not a string"):
        schema.parse(["ok", 3])


def test_integer_arrays_refuse_fractions() -> None:
    schema = Schema.infer(np.array([[1, 2]], dtype=np.int64))
    assert schema.parse([[3.0, 4]]).dtype == np.int64
    with pytest.raises(SchemaError, match="numbers with a fraction"):
        schema.parse([[1.5, 2]])
