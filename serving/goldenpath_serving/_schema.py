"""Request schemas inferred from a sample, and validation of JSON payloads against them.

The schema is plain JSON (stored in the bundle and by the server) so that UIs can render a
"try it" form and error messages can quote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class SchemaError(ValueError):
    """A payload does not match the schema; the message quotes the schema to follow."""


_JSON_KIND = {"b": "boolean", "i": "integer", "u": "integer", "f": "number", "O": "string",
              "U": "string", "S": "string", "M": "string"}


def _is_dataframe(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "columns")


def _is_tensor(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach")


@dataclass(frozen=True)
class Schema:
    """What a model accepts: a table with named, typed columns or an n-d array of one dtype."""

    kind: str  # "dataframe" | "ndarray" | "tensor"
    columns: list[dict[str, str]] = field(default_factory=list)
    dtype: str = "float64"
    shape: list[int | None] = field(default_factory=list)

    @classmethod
    def infer(cls, sample: Any) -> Schema:
        if _is_dataframe(sample):
            columns = [{"name": str(name), "dtype": str(dtype)}
                       for name, dtype in sample.dtypes.items()]
            return cls(kind="dataframe", columns=columns, shape=[None, len(columns)])
        if _is_tensor(sample):
            array = sample.detach().cpu().numpy()
            return cls(kind="tensor", dtype=str(array.dtype), shape=[None, *array.shape[1:]])
        array = np.asarray(sample)
        if array.ndim == 0:
            raise SchemaError("sample must have at least one row: pass sample=X[:5]")
        return cls(kind="ndarray", dtype=str(array.dtype), shape=[None, *array.shape[1:]])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(kind=data["kind"], columns=list(data.get("columns", [])),
                   dtype=data.get("dtype", "float64"), shape=list(data.get("shape", [])))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": self.columns, "dtype": self.dtype,
                "shape": self.shape, "json_schema": self.json_schema()}

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema for the request body `{"inputs": ...}`."""
        if self.kind == "dataframe":
            props = {c["name"]: {"type": _JSON_KIND.get(np.dtype(_np_dtype(c["dtype"])).kind,
                                                       "string")} for c in self.columns}
            record = {"type": "object", "properties": props,
                      "required": [c["name"] for c in self.columns]}
            row = {"type": "array", "minItems": len(self.columns), "maxItems": len(self.columns)}
            items: dict[str, Any] = {"oneOf": [record, row]}
        else:
            items = _nested_array(self.shape[1:], _JSON_KIND.get(np.dtype(self.dtype).kind,
                                                                 "number"))
        return {"type": "object", "required": ["inputs"],
                "properties": {"inputs": {"type": "array", "minItems": 1, "items": items}}}

    def describe(self) -> str:
        if self.kind == "dataframe":
            cols = ", ".join(f"{c['name']}: {c['dtype']}" for c in self.columns)
            return f'{{"inputs": [{{{cols}}}, ...]}} (records, or rows in that column order)'
        inner = "x".join(str(d) for d in self.shape[1:]) or "scalar"
        return f'{{"inputs": [...]}} — a list of rows, each of shape {inner}, dtype {self.dtype}'

    def parse(self, inputs: Any) -> Any:
        """Turn the JSON `inputs` value into what the model's predict takes, or SchemaError."""
        if not isinstance(inputs, list) or not inputs:
            raise SchemaError(f"'inputs' must be a non-empty list. Expected {self.describe()}")
        if self.kind == "dataframe":
            return self._parse_frame(inputs)
        array = self._parse_array(inputs)
        if self.kind == "tensor":
            import torch

            return torch.from_numpy(array)
        return array

    def _parse_array(self, inputs: list[Any]) -> np.ndarray:
        try:
            array = np.asarray(inputs, dtype=np.dtype(self.dtype))
        except (ValueError, TypeError) as exc:
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
                missing = [n for n in names if n not in row]
                extra = [k for k in row if k not in names]
                if missing or extra:
                    raise SchemaError(f"row {i}: missing columns {missing}, unknown columns "
                                      f"{extra}. Expected {self.describe()}")
            frame = pd.DataFrame.from_records(inputs, columns=names)
        elif all(isinstance(row, list) for row in inputs):
            bad = [i for i, row in enumerate(inputs) if len(row) != len(names)]
            if bad:
                raise SchemaError(f"row {bad[0]} has {len(inputs[bad[0]])} values, the model "
                                  f"takes {len(names)}. Expected {self.describe()}")
            frame = pd.DataFrame(inputs, columns=names)
        else:
            raise SchemaError(f"each row must be an object or a list. Expected {self.describe()}")
        for column in self.columns:
            try:
                frame[column["name"]] = frame[column["name"]].astype(_np_dtype(column["dtype"]))
            except (ValueError, TypeError):
                raise SchemaError(f"column {column['name']!r} must be {column['dtype']}. "
                                  f"Expected {self.describe()}") from None
        return frame


def _np_dtype(name: str) -> str:
    # pandas extension dtypes ("category", "string") travel as JSON strings
    try:
        np.dtype(name)
        return name
    except TypeError:
        return "object"


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
    return value
