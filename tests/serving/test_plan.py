"""The load-time plan: when to batch and where model calls run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from goldenpath_serving import Schema, load_model, save_model
from goldenpath_serving._plan import BATCH_ROWS, INLINE_MS, decide, plan_for, sample_inputs


def test_decide_batches_when_the_call_overhead_amortizes() -> None:
    cheap = decide(one_ms=0.1, many_ms=0.12, batch_matches_rows=True)
    assert cheap.max_rows == BATCH_ROWS and cheap.inline_rows == BATCH_ROWS
    heavy = decide(one_ms=5.0, many_ms=6.0, batch_matches_rows=True)
    assert heavy.max_rows == BATCH_ROWS and heavy.inline_rows == 0
    per_row = decide(one_ms=1.0, many_ms=BATCH_ROWS * 1.0, batch_matches_rows=True)
    assert per_row.max_rows == 1 and "grows with its rows" in per_row.reason
    differs = decide(one_ms=5.0, many_ms=6.0, batch_matches_rows=False)
    assert differs.max_rows == 1 and "differ" in differs.reason
    tiny_unbatched = decide(one_ms=INLINE_MS / 2, many_ms=BATCH_ROWS * INLINE_MS,
                            batch_matches_rows=True)
    assert tiny_unbatched.max_rows == 1 and tiny_unbatched.inline_rows == 1


def test_sample_inputs_fit_their_schema() -> None:
    frame = pd.DataFrame({"n": [1], "x": [0.5], "flag": [True], "plan": ["a"],
                          "when": pd.to_datetime(["2024-01-01"])})
    frame["plan"] = frame["plan"].astype("category")
    for schema in (Schema.infer(frame), Schema.infer(np.zeros((2, 3, 4), dtype=np.float32))):
        parsed = schema.parse(sample_inputs(schema.to_dict(), 7))
        assert len(parsed) == 7


def test_plan_for_real_models(tmp_path: Path, iris: tuple) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    save_model(LogisticRegression(max_iter=500).fit(X.to_numpy(), y), tmp_path / "lr",
               kind="sklearn", schema=Schema.infer(X.to_numpy()[:5]))
    assert plan_for(load_model(tmp_path / "lr")).batching


class OnlyOneRow:
    def predict(self, features: object) -> list[int]:
        if len(features) != 1:  # type: ignore[arg-type]
            raise ValueError("one row at a time")
        return [0]


def test_a_model_that_fails_on_generated_rows_keeps_the_safe_plan(tmp_path: Path) -> None:
    save_model(OnlyOneRow(), tmp_path / "m", kind="python", schema=Schema.infer(np.zeros((1, 2))))
    plan = plan_for(load_model(tmp_path / "m"))
    assert plan.max_rows == 1 and plan.inline_rows == 0 and "could not time" in plan.reason
