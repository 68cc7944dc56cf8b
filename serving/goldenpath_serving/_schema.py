"""Request schemas inferred from a sample, and validation of JSON payloads against them.

The schema is plain JSON (stored in the bundle and by the server) so that UIs can render a
"try it" form and error messages can quote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goldenpath_serving._columns import ColumnError, column_of, convert
from goldenpath_serving._columns import json_schema as column_schema


class SchemaError(ValueError):
    """A payload does not match the schema; the message quotes the schema to follow."""


_JSON_KIND = {"b": "boolean", "i": "integer", "u": "integer", "f": "number", "O": "string",
              "U": "string", "S": "string", "M": "string"}


def _is_dataframe(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "columns")


def _is_tensor(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach")


def _is_text(obj: Any) -> bool:
    return isinstance(obj, (list, tuple)) and bool(obj) and all(isinstance(v, str) for v in obj)


@dataclass(frozen=True)
class Schema:
    """What a model accepts: a table with named, typed columns (see _columns), an n-d array
    of one dtype, a tensor, or a list of texts."""

    kind: str  # "dataframe" | "ndarray" | "tensor" | "text"
    columns: list[dict[str, Any]] = field(default_factory=list)
    dtype: str = "float64"
    shape: list[int | None] = field(default_factory=list)

    @classmethod
    def infer(cls, sample: Any) -> Schema:
        if _is_dataframe(sample):
            columns = [column_of(str(name), dtype) for name, dtype in sample.dtypes.items()]
            return cls(kind="dataframe", columns=columns, shape=[None, len(columns)])
        if _is_tensor(sample):
            array = sample.detach().cpu().numpy()
            return cls(kind="tensor", dtype=str(array.dtype), shape=[None, *array.shape[1:]])
        if _is_text(sample) or (isinstance(sample, np.ndarray) and sample.ndim == 1
                                and sample.dtype.kind in "UO" and _is_text(sample.tolist())):
            return cls(kind="text", dtype="str", shape=[None])
        array = np.asarray(sample)
        if array.ndim == 0:
            raise SchemaError("sample must have at least one row: pass sample=X[:5]")
        dtype = "str" if array.dtype.kind in "US" else str(array.dtype)
        return cls(kind="ndarray", dtype=dtype, shape=[None, *array.shape[1:]])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(kind=data["kind"], columns=list(data.get("columns", [])),
                   dtype=data.get("dtype", "float64"), shape=list(data.get("shape", [])))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": self.columns, "dtype": self.dtype,
                "shape": self.shape, "json_schema": self.json_schema()}

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema for the request body `{"inputs": ...}`."""
        return {"type": "object", "required": ["inputs"],
                "properties": {"inputs": self.inputs_schema()}}

    def inputs_schema(self) -> dict[str, Any]:
        """The JSON Schema of the `inputs` value: a non-empty list of rows."""
        if self.kind == "dataframe":
            props = {c["name"]: column_schema(c) for c in self.columns}
            record = {"type": "object", "properties": props, "additionalProperties": False,
                      "required": [c["name"] for c in self.columns]}
            row = {"type": "array", "prefixItems": list(props.values()),
                   "minItems": len(self.columns), "maxItems": len(self.columns)}
            items: dict[str, Any] = {"oneOf": [record, row]}
        elif self.kind == "text":
            items = {"type": "string"}
        else:
            items = _nested_array(self.shape[1:], _JSON_KIND.get(_kind_of(self.dtype),
                                                                 "string"))
        return {"type": "array", "minItems": 1, "items": items,
                "description": self.describe()}

    def describe(self) -> str:
        if self.kind == "dataframe":
            cols = ", ".join(f"{c['name']}: {c['dtype']}" for c in self.columns)
            return f'{{"inputs": [{{{cols}}}, ...]}} (records, or rows in that column order)'
        if self.kind == "text":
            return '{"inputs": ["a text", ...]} — a list of strings'
        inner = "x".join(str(d) for d in self.shape[1:]) or "scalar"
        return f'{{"inputs": [...]}} — a list of rows, each of shape {inner}, dtype {self.dtype}'

    def parse(self, inputs: Any) -> Any:
        """Turn the JSON `inputs` value into what the model's predict takes, or SchemaError."""
        if not isinstance(inputs, list) or not inputs:
            raise SchemaError(f"'inputs' must be a non-empty list. Expected {self.describe()}")
        if self.kind == "dataframe":
            return self._parse_frame(inputs)
        if self.kind == "text":
            bad = next((i for i, v in enumerate(inputs) if not isinstance(v, str)), None)
            if bad is not None:
                raise SchemaError(f"row {bad} is not a string. Expected {self.describe()}")
            return list(inputs)
        array = self._parse_array(inputs)
        if self.kind == "tensor":
            import torch

            return torch.from_numpy(array)
        return array

    def _parse_array(self, inputs: list[Any]) -> np.ndarray:
        target = _kind_of(self.dtype)
        try:
            if target in "US":
                array = np.asarray(inputs, dtype=str)
            elif target in "iub":
                array = np.asarray(inputs)
                if target in "iu" and array.dtype.kind == "f" and bool(
                        np.all(np.isfinite(array)) and np.all(array == np.round(array))):
                    array = array.astype(self.dtype)
                if array.dtype.kind not in ("b" if target == "b" else "iu"):
                    raise ValueError(f"got {_kind_words(array)}; values are not converted "
                                     "for you")
                array = array.astype(self.dtype)
            else:  # null is NaN in a float array
                array = np.asarray(inputs, dtype=np.dtype(self.dtype))
        except (ValueError, TypeError, OverflowError) as exc:
            raise SchemaError(f"inputs are not {self.dtype} rows ({exc}). "
                              f"Expected {self.describe()}") from None
        expected = tuple(self.shape[1:])
        if array.shape[1:] != expected:
            raise SchemaError(f"each row must have shape {list(expected)}, got "
                              f"{list(array.shape[1:])}. Expected {self.describe()}")
        return array

    def _parse_frame(self, inputs: list[Any]) -> Any:
        import pandas as pd

        names = [c["name"] for c in self.columns]
        if all(isinstance(row, dict) for row in inputs):
            for i, row in enumerate(inputs):
                if len(row) != len(names) or any(n not in row for n in names):
                    missing = [n for n in names if n not in row]
                    extra = [k for k in row if k not in names]
                    raise SchemaError(f"row {i}: missing columns {missing}, unknown columns "
                                      f"{extra}. Expected {self.describe()}")
            values = [[row[n] for row in inputs] for n in names]
        elif all(isinstance(row, list) for row in inputs):
            bad = [i for i, row in enumerate(inputs) if len(row) != len(names)]
            if bad:
                raise SchemaError(f"row {bad[0]} has {len(inputs[bad[0]])} values, the model "
                                  f"takes {len(names)}. Expected {self.describe()}")
            values = [list(column) for column in zip(*inputs, strict=True)]
        else:
            raise SchemaError(f"each row must be an object or a list. Expected {self.describe()}")
        data = {}
        for column, column_values in zip(self.columns, values, strict=True):
            try:
                data[column["name"]] = convert(column, column_values)
            except ColumnError as exc:
                raise SchemaError(f"{exc}. Expected {self.describe()}") from None
            except (ValueError, TypeError):
                raise SchemaError(f"column {column['name']!r} must be {column['dtype']}. "
                                  f"Expected {self.describe()}") from None
        return pd.DataFrame(data, columns=names)


def _kind_of(dtype: str) -> str:
    if dtype == "str":
        return "U"
    try:
        return np.dtype(dtype).kind
    except TypeError:
        return "O"


def _kind_words(array: np.ndarray) -> str:
    return {"f": "numbers with a fraction", "b": "booleans", "U": "strings",
            "O": "mixed values or nulls"}.get(array.dtype.kind, str(array.dtype))


def _nested_array(dims: list[int | None], leaf: str) -> dict[str, Any]:
    if not dims:
        return {"type": leaf}
    node: dict[str, Any] = {"type": "array", "items": _nested_array(dims[1:], leaf)}
    if dims[0] is not None:
        node["minItems"] = node["maxItems"] = dims[0]
    return node


def to_jsonable(value: Any) -> Any:
    """Model outputs (numpy, pandas, torch) as plain JSON values."""
    if _is_tensor(value):
        value = value.detach().cpu().numpy()
    if _is_dataframe(value):
        return json.loads(value.to_json(orient="records"))
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if type(value).__name__ == "Categorical":
        return to_jsonable(np.asarray(value))
    return value


def rows_as_json(inputs: Any) -> Any:
    """Model inputs (a DataFrame, array, tensor, list of texts) as the JSON rows /predict
    takes: records for a table, with ISO 8601 date-times and null for a missing value."""
    if _is_dataframe(inputs):
        return json.loads(inputs.to_json(orient="records", date_format="iso", date_unit="ns"))
    return to_jsonable(inputs)
