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
    assert props == {"age": {"type": "integer"}, "income": {"type": "number"},
                     "plan": {"type": "string"}}


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
    ([{"a": "x", "b": 2}], "column 'a' must be float64"),
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
