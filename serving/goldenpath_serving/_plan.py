"""How /predict calls the model, decided when the model loads by timing it.

The bundle holds no input sample, so the plan builds rows from the request schema and sends
them through `Schema.parse`, like a request. It times the model on one row and on
`BATCH_ROWS` rows, then decides:
  batch   when BATCH_ROWS rows in one call cost at most half of BATCH_ROWS one-row calls (the
          per-call overhead amortizes) AND the batched predictions equal the row-by-row ones;
  inline  run calls on the event loop when they take at most INLINE_MS (no thread hop; a
          slower call would stall every other request on the loop).
When the rows cannot be built or predicted (e.g. a category the model never saw), it keeps
the safe plan: no batching, calls in a worker thread.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from goldenpath_serving._columns import family
from goldenpath_serving._model import LoadedModel
from goldenpath_serving._parity import same

BATCH_ROWS = 64
INLINE_MS = 0.5
MIN_AMORTIZATION = 2.0
_TIMING_BUDGET_S = 0.5

logger = logging.getLogger("bentoml.goldenpath_serving")  # BentoML shows its children


@dataclass(frozen=True)
class Plan:
    """Rows per model call (1: no batching) and the largest call run on the event loop."""

    max_rows: int
    inline_rows: int
    reason: str

    @property
    def batching(self) -> bool:
        return self.max_rows > 1


SAFE = Plan(max_rows=1, inline_rows=0, reason="")


def plan_for(loaded: LoadedModel) -> Plan:
    """Time `loaded` on generated rows and choose how to serve it (see the module docstring)."""
    try:
        many = loaded.schema.parse(sample_inputs(loaded.schema.to_dict(), BATCH_ROWS))
        one = loaded.schema.parse(sample_inputs(loaded.schema.to_dict(), 1))
        one_ms = _median_ms(loaded.predict, one)
        many_ms = _median_ms(loaded.predict, many)
        same = _batch_matches_rows(loaded, many)
    except Exception as exc:  # noqa: BLE001 - any failure keeps the safe plan
        plan = Plan(1, 0, f"could not time the model on generated rows ({exc!r})")
    else:
        plan = decide(one_ms, many_ms, same)
    logger.info("goldenpath: %s", plan.reason)
    return plan


def decide(one_ms: float, many_ms: float, batch_matches_rows: bool) -> Plan:
    """The plan for a model that takes `one_ms` for one row and `many_ms` for BATCH_ROWS."""
    timing = f"1 row {one_ms:.3f} ms, {BATCH_ROWS} rows {many_ms:.3f} ms"
    amortizes = BATCH_ROWS * one_ms >= MIN_AMORTIZATION * many_ms
    batch = amortizes and batch_matches_rows
    if batch:
        inline_rows = BATCH_ROWS if many_ms <= INLINE_MS else 0
    else:
        inline_rows = 1 if one_ms <= INLINE_MS else 0
    if batch:
        why = f"batching up to {BATCH_ROWS} rows per call"
    elif amortizes:
        why = "no batching (batched predictions differ from row-by-row ones)"
    else:
        why = "no batching (a call's cost grows with its rows)"
    where = "on the event loop" if inline_rows else "in a worker thread"
    return Plan(BATCH_ROWS if batch else 1, inline_rows, f"{why}, model calls {where} ({timing})")


def sample_inputs(schema: dict[str, Any], rows: int) -> list[Any]:
    """`rows` JSON rows that fit `schema` (Schema.to_dict()), with varied values."""
    rng = np.random.default_rng(0)
    if schema["kind"] == "dataframe":
        columns = schema["columns"]
        return [[_value(c, rng, i) for c in columns] for i in range(rows)]
    if schema["kind"] == "text":
        return [f"sample text number {i}" for i in range(rows)]
    shape = [d or 1 for d in schema["shape"][1:]]
    return [_fill(shape, {"dtype": schema["dtype"]}, rng, i) for i in range(rows)]


def _fill(shape: list[int], column: dict[str, Any], rng: np.random.Generator, i: int) -> Any:
    if not shape:
        return _value(column, rng, i)
    return [_fill(shape[1:], column, rng, i) for _ in range(shape[0])]


def _value(column: dict[str, Any], rng: np.random.Generator, i: int) -> Any:
    kind = family(column["dtype"])
    if kind == "category":
        categories = column.get("categories") or [None]
        return categories[i % len(categories)]
    if kind in ("boolean", "nullable-boolean"):
        return bool(i % 2)
    if kind in ("integer", "nullable-integer"):
        return i % 3
    if kind == "number":
        return float(rng.normal())
    if kind == "datetime":
        return f"2024-01-{1 + i % 28:02d}T00:00:00"
    return "a"


def _median_ms(predict: Any, features: Any) -> float:
    predict(features)  # the first call may import or allocate
    times: list[float] = []
    deadline = time.perf_counter() + _TIMING_BUDGET_S
    while not times or (len(times) < 25 and time.perf_counter() < deadline):
        start = time.perf_counter()
        predict(features)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _batch_matches_rows(loaded: LoadedModel, many: Any) -> bool:
    batched = loaded.answer(loaded.predict(many))
    rows_of = getattr(many, "iloc", many)
    for i in range(2):
        alone = loaded.answer(loaded.predict(rows_of[i:i + 1]))
        for key, values in batched.items():
            if not isinstance(values, list) or not same(values[i:i + 1], alone.get(key)):
                return False
    return True
