"""One table column: what its training dtype accepts in JSON, and how JSON values become it.

Each column is kept in the schema as plain JSON, e.g.
    {"name": "plan", "dtype": "category", "categories": ["basic", "pro"], "ordered": false,
     "categories_dtype": "object"}
and a request's values are turned back into exactly that dtype (the training categories in
their order, nullable integers, timezone-aware datetimes...). Nothing is coerced silently: a
float with a fraction for an integer column, an unknown category or a null where the dtype has
no missing value is a SchemaError that names the column, the row and what to send instead.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_MASKED_INT = re.compile(r"U?Int(8|16|32|64)")


class ColumnError(ValueError):
    """A value does not fit its column; the message names the row and what fits."""


def column_of(name: str, dtype: Any) -> dict[str, Any]:
    """The column as kept in the schema, from its pandas dtype (see the module docstring)."""
    import pandas as pd

    column: dict[str, Any] = {"name": name, "dtype": str(dtype)}
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        column["categories"] = [_plain(v) for v in categories.tolist()]
        column["categories_dtype"] = str(categories.dtype)
        column["ordered"] = bool(dtype.ordered)
    return column


def family(dtype: str) -> str:
    """integer, nullable-integer, number, boolean, nullable-boolean, string, datetime,
    category or object: how JSON values map onto the dtype."""
    if dtype == "category":
        return "category"
    if dtype.startswith("datetime64"):
        return "datetime"
    if _MASKED_INT.fullmatch(dtype):
        return "nullable-integer"  # pandas' masked integers
    if dtype == "boolean":
        return "nullable-boolean"
    if dtype.startswith("string") or dtype == "str":
        return "string"
    if dtype in ("Float32", "Float64"):
        return "number"
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        return "object"
    return {"b": "boolean", "i": "integer", "u": "integer", "f": "number",
            "U": "string", "S": "string"}.get(kind, "object")


def json_schema(column: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one value of `column`."""
    kind = family(column["dtype"])
    if kind == "category":
        return {"enum": [*column.get("categories", []), None],
                "description": "one of the training categories, or null for missing"}
    by_kind: dict[str, dict[str, Any]] = {
        "integer": {"type": "integer"},
        "nullable-integer": {"type": ["integer", "null"]},
        "number": {"type": ["number", "null"], "description": "null for a missing value"},
        "boolean": {"type": "boolean"},
        "nullable-boolean": {"type": ["boolean", "null"]},
        "string": {"type": ["string", "null"]},
        "datetime": {"type": ["string", "null"], "format": "date-time"},
    }
    return by_kind.get(kind, {})


def convert(column: dict[str, Any], values: list[Any]) -> Any:
    """`values` (one per row, from JSON) as an array of the column's training dtype."""
    import pandas as pd

    dtype, kind = column["dtype"], family(column["dtype"])
    if kind == "number":
        return _numbers(column, values, dtype)
    if kind == "integer":
        return _integers(column, values, dtype)
    if kind == "boolean":
        bad = _first(values, lambda v: not isinstance(v, bool))
        if bad is not None:
            raise ColumnError(f"column {column['name']!r} row {bad}: {values[bad]!r} is not "
                              "true or false")
        return np.array(values, dtype=dtype)
    if kind == "category":
        return _categories(column, values)
    if kind == "datetime":
        try:
            stamps = pd.to_datetime(pd.Series(values, dtype=object), utc="UTC" in dtype
                                    or "," in dtype, format="ISO8601")
            return stamps.astype(dtype)
        except (ValueError, TypeError) as exc:
            raise ColumnError(f"column {column['name']!r} takes ISO 8601 date-times such as "
                              f"\"2024-01-31T12:00:00\" ({exc})") from None
    if kind in ("nullable-integer", "nullable-boolean", "string"):
        fits = {"nullable-integer": lambda v: not isinstance(v, bool) and _integral(v),
                "nullable-boolean": lambda v: isinstance(v, bool),
                "string": lambda v: isinstance(v, str)}[kind]
        bad = _first(values, lambda v: v is not None and not fits(v))
        if bad is not None:
            raise ColumnError(f"column {column['name']!r} row {bad}: {values[bad]!r} is not "
                              f"{_words(kind)}")
        return pd.array(values, dtype=dtype)
    return np.array(values, dtype=object)


def _numbers(column: dict[str, Any], values: list[Any], dtype: str) -> Any:
    bad = _first(values, lambda v: v is not None and (isinstance(v, bool)
                                                      or not isinstance(v, (int, float))))
    if bad is not None:
        raise ColumnError(f"column {column['name']!r} row {bad}: {values[bad]!r} is not a "
                          "number (send null for a missing value)")
    if dtype in ("Float32", "Float64"):
        import pandas as pd

        return pd.array(values, dtype=dtype)
    return np.array([np.nan if v is None else v for v in values], dtype=dtype)


def _integers(column: dict[str, Any], values: list[Any], dtype: str) -> Any:
    for row, value in enumerate(values):
        if value is None:
            raise ColumnError(f"column {column['name']!r} row {row}: null, but the model was "
                              f"trained on {dtype}, which has no missing values (train with "
                              "pandas' nullable 'Int64' to accept them)")
        if isinstance(value, bool) or not _integral(value):
            raise ColumnError(f"column {column['name']!r} row {row}: {value!r} is not an "
                              f"integer ({dtype}); it is not rounded for you")
    array = np.array(values)
    info = np.iinfo(np.dtype(dtype))
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise ColumnError(f"column {column['name']!r}: a value is outside {dtype}'s range "
                          f"[{info.min}, {info.max}]")
    return array.astype(dtype)


def _categories(column: dict[str, Any], values: list[Any]) -> Any:
    import pandas as pd

    known = column.get("categories", [])
    categories = pd.Index(known, dtype=column.get("categories_dtype") or None)
    lookup = set(known)
    bool_categories = bool(known) and isinstance(known[0], bool)
    for row, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, (list, dict)) or value not in lookup \
                or isinstance(value, bool) != bool_categories:
            shown = ", ".join(repr(v) for v in known[:20]) + (" ..." if len(known) > 20 else "")
            raise ColumnError(f"column {column['name']!r} row {row}: unknown category "
                              f"{value!r}; the model was trained on {shown} (send one of "
                              "those, or null for missing)")
    dtype = pd.CategoricalDtype(categories, ordered=bool(column.get("ordered")))
    return pd.Categorical(values, dtype=dtype)


def _first(values: list[Any], bad: Any) -> int | None:
    for row, value in enumerate(values):
        if bad(value):
            return row
    return None


def _integral(value: Any) -> bool:
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def _words(kind: str) -> str:
    return {"nullable-integer": "an integer or null", "nullable-boolean": "true, false or null",
            "string": "a string or null"}[kind]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
