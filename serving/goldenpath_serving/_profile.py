"""Profiles: the statistics of a model's input columns and predictions, never their rows.

gp.deploy captures one of the training data (the reference) and the server compares each window
of live requests against it (goldenpath_server.monitoring), so training rows are read once. A
profile is plain JSON:

    {"version": 1, "source": "train" | "sample" | "window", "rows": N,
     "features": {name: STATS, ...}, "prediction": STATS | null}
    numeric      {"kind": "numeric", "count", "missing", "unique", "mean", "std", "min", "max",
                  "quantiles": [101 values at q = 0, .01, ..., 1],
                  "tails": {"levels": TAIL_LEVELS, "values": [...]}  (finer near 0 and 1),
                  "histogram": {"edges": [31 values], "counts": [30 counts]},
                  "frequencies": {value: count}  (only with <= FEW_UNIQUE distinct values)}
    categorical  {"kind": "categorical", "count", "missing", "unique",
                  "frequencies": {value: count, ..., "__other__": count}}

`count` is the values present, `missing` the NaN, None and infinite ones. Booleans, strings
and pandas categories are categorical, the 100 most frequent values kept; numbers are numeric
(an integer column with few values stays numeric, and `unique` lets the drift check test it
as a categorical one, as Evidently does). Only numpy: this runs in notebooks and in bundles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

import numpy as np

from goldenpath_serving._schema import Schema

VERSION = 1
BINS = 30  # the histogram on the reference's range; PSI's bins
TOP_VALUES = 100  # categorical values kept by name, the rest summed into OTHER
FEW_UNIQUE = 5  # a numeric column with at most this many values is tested as categorical
OTHER = "__other__"
LEVELS = np.linspace(0.0, 1.0, 101)
# between q = .99 and the maximum a heavy tail is far from linear: the Wasserstein distance
# on 101 quantiles alone was off by 2x for a lognormal column
TAIL_LEVELS = np.array([1e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.995, 0.998, 0.999, 0.9995, 0.9999])


def feature_columns(schema: Schema, features: Any) -> dict[str, np.ndarray]:
    """The named 1-d columns of `features` as parsed for the model (`Schema.parse`): a table's
    columns by name, a 2-d array's as "0", "1", ...; nothing for tensors, texts, other
    shapes and date-time columns, which get no per-feature drift."""
    if schema.kind == "dataframe":
        columns = {}
        for column in schema.columns:
            values = _plain_column(features[column["name"]])
            if values.dtype.kind not in "Mm":
                columns[column["name"]] = values
        return columns
    if schema.kind == "ndarray":
        array = np.asarray(features)
        if array.ndim == 2:
            return {str(i): array[:, i] for i in range(array.shape[1])}
    return {}


def columns_of_payload(schema: Schema, rows: Any, dropped: Collection[str] = (),
                       hashed: Collection[str] = ()) -> dict[str, np.ndarray]:
    """`feature_columns` of the JSON rows a request carried (records or lists); SchemaError
    when they do not fit the schema. `dropped` and `hashed`: what the inference log left
    out of a table's rows and what it logged as hashes (goldenpath_serving._inference_log):
    those columns are absent, these are compared as categories."""
    if schema.kind not in ("dataframe", "ndarray"):
        return {}
    if schema.kind == "dataframe" and (dropped or hashed):
        names = [c["name"] for c in schema.columns]
        logged = [{"name": c["name"], "dtype": "object"} if c["name"] in hashed else c
                  for c in schema.columns if c["name"] not in dropped]
        schema = Schema(kind="dataframe", columns=logged, shape=[None, len(logged)])
        if isinstance(rows, list):  # a list row keeps a dropped column's place, as null
            rows = [{k: v for k, v in (dict(zip(names, row, strict=False))
                                       if isinstance(row, list) else row).items()
                     if k not in dropped} if isinstance(row, list | dict) else row
                    for row in rows]
    return feature_columns(schema, schema.parse(rows))


def output_column(answer: dict[str, Any]) -> np.ndarray | None:
    """The prediction per row from the runtime's JSON answer: labels (categorical) or values
    (numeric); a pipeline's {"label", "score"} rows give their labels, an answer with only
    probabilities the most probable class. None for outputs of other shapes."""
    rows = answer.get("predictions")
    if rows is None and answer.get("probabilities"):
        rows = [max(row.items(), key=lambda item: item[1])[0] if isinstance(row, dict)
                else None for row in answer["probabilities"]]
    if not isinstance(rows, list) or not rows:
        return None
    if all(isinstance(row, dict) and "label" in row for row in rows):
        rows = [row["label"] for row in rows]
    if all(isinstance(row, list) and len(row) == 1 for row in rows):
        rows = [row[0] for row in rows]
    if any(isinstance(row, (list, dict)) for row in rows):
        return None
    if all(isinstance(row, bool) for row in rows):
        return np.asarray(rows, dtype=bool)
    if all(row is None or (isinstance(row, (int, float)) and not isinstance(row, bool))
           for row in rows):
        return np.asarray([np.nan if row is None else row for row in rows])
    return np.asarray(rows, dtype=object)


def profile_of(columns: dict[str, np.ndarray], predictions: np.ndarray | None = None, *,
               source: str = "sample") -> dict[str, Any]:
    """The profile (module docstring) of `columns` and the model's `predictions` on them."""
    rows = max((len(values) for values in columns.values()), default=0)
    prediction = None
    if predictions is not None:
        values = np.asarray(predictions)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim == 1:
            prediction = stats_of(values)
            rows = max(rows, len(values))
    return {"version": VERSION, "source": source, "rows": rows,
            "features": {name: stats_of(values) for name, values in columns.items()},
            "prediction": prediction}


def is_categorical(values: np.ndarray) -> bool:
    """Whether a column's dtype makes it categorical (booleans, strings, objects)."""
    return values.dtype.kind in "bOUS"


def numbers(values: np.ndarray) -> np.ndarray:
    """A numeric column as float64 with its missing values (NaN, infinities) dropped."""
    array = np.asarray(values)
    if array.dtype.kind in "Mm":
        array = array.view("int64")
    elif array.dtype.kind == "O":  # numbers and None, e.g. not parsed by a schema
        array = np.array([np.nan if _missing(v) else v for v in array.tolist()], dtype=float)
    array = array.astype(np.float64, copy=False)
    return array[np.isfinite(array)]


def labels(values: np.ndarray) -> list[str]:
    """A categorical column's present values as the strings profiles count them by."""
    return [str(v) for v in np.asarray(values, dtype=object).tolist() if not _missing(v)]


def value_key(value: float) -> str:
    """How a number is named among a numeric column's frequencies: "1", "0.5"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def stats_of(values: np.ndarray) -> dict[str, Any]:
    """One column's STATS (module docstring)."""
    values = np.asarray(values)
    if is_categorical(values):
        return _categorical(values)
    return _numeric(values)


def _numeric(values: np.ndarray) -> dict[str, Any]:
    present = np.sort(numbers(values))
    n = int(present.size)
    stats: dict[str, Any] = {"kind": "numeric", "count": n, "missing": int(len(values) - n),
                             "unique": 0, "mean": None, "std": None, "min": None, "max": None,
                             "quantiles": [], "tails": {"levels": [], "values": []},
                             "histogram": {"edges": [], "counts": []}}
    if not n:
        return stats
    distinct = np.flatnonzero(np.diff(present)) + 1  # where each new value starts
    low, high = float(present[0]), float(present[-1])
    counts, edges = np.histogram(present, bins=BINS, range=(low, high))
    stats.update(unique=int(distinct.size + 1), mean=float(present.mean()),
                 std=float(present.std()), min=low, max=high,
                 quantiles=sorted_quantiles(present, LEVELS).tolist(),
                 tails={"levels": TAIL_LEVELS.tolist(),
                        "values": sorted_quantiles(present, TAIL_LEVELS).tolist()},
                 histogram={"edges": edges.tolist(), "counts": counts.tolist()})
    if stats["unique"] <= FEW_UNIQUE:
        starts = np.concatenate([[0], distinct, [n]])
        stats["frequencies"] = {value_key(present[a]): int(b - a)
                                for a, b in zip(starts[:-1], starts[1:], strict=True)}
    return stats


def _categorical(values: np.ndarray) -> dict[str, Any]:
    present = Counter(labels(values))
    count = sum(present.values())
    frequencies = dict(present.most_common(TOP_VALUES))
    rest = count - sum(frequencies.values())
    if rest:
        frequencies[OTHER] = rest
    return {"kind": "categorical", "count": count, "missing": int(len(values) - count),
            "unique": len(present), "frequencies": frequencies}


def sorted_quantiles(present: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of sorted values at `levels` (numpy's default linear interpolation)."""
    position = levels * (present.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, present.size - 1)
    return present[low] + (present[high] - present[low]) * (position - low)


def quantile_function(stats: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column's stored quantiles, tails included: (levels, values), in order."""
    tails = stats.get("tails") or {"levels": [], "values": []}
    levels = np.concatenate([np.linspace(0.0, 1.0, len(stats["quantiles"])), tails["levels"]])
    values = np.concatenate([np.asarray(stats["quantiles"], dtype=float), tails["values"]])
    order = np.argsort(levels, kind="stable")
    return levels[order], np.maximum.accumulate(values[order])


def _missing(value: Any) -> bool:
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, float) and not np.isfinite(value)


def _plain_column(column: Any) -> np.ndarray:
    """A pandas column (or array) as numpy: categories, strings and nullable booleans as
    objects with None for missing, nullable numbers as float64 with NaN."""
    dtype = getattr(column, "dtype", None)
    if dtype is not None and not isinstance(dtype, np.dtype):  # a pandas extension dtype
        kind = getattr(dtype, "kind", "O")
        if kind in "iuf" and dtype.name != "category":
            return np.asarray(column.to_numpy(dtype="float64", na_value=np.nan))
        if kind == "M":
            return np.asarray(column.to_numpy())
        return np.asarray(column.to_numpy(dtype=object, na_value=None), dtype=object)
    return np.asarray(column)
