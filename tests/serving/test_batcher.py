"""The adaptive batcher: per-request answers, error isolation, batches that grow with load."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
import pytest

from goldenpath_serving._batcher import Batcher, join, split


class CountingModel:
    """Doubles the first column; remembers the row count of every call; rejects -1."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, features: Any) -> Any:
        self.calls.append(len(features))
        if (np.asarray(features) == -1).any():
            raise ValueError("the model cannot take -1")
        return np.asarray(features)[:, 0] * 2


async def _burst(batcher: Batcher, requests: list[np.ndarray]) -> list[Any]:
    return await asyncio.gather(*(batcher.predict(r, len(r)) for r in requests),
                                return_exceptions=True)


def _requests(n: int) -> list[np.ndarray]:
    return [np.arange(i, i + 2 * (1 + i % 3), dtype=float).reshape(-1, 2) for i in range(n)]


@pytest.mark.parametrize("inline_rows", [0, 64], ids=["worker-thread", "event-loop"])
def test_batched_answers_equal_unbatched_ones(inline_rows: int) -> None:
    requests = _requests(20)
    batched_model, alone_model = CountingModel(), CountingModel()
    batched = asyncio.run(_burst(Batcher(batched_model.predict, "ndarray", max_rows=64,
                                         inline_rows=inline_rows), requests))
    alone = asyncio.run(_burst(Batcher(alone_model.predict, "ndarray", max_rows=1,
                                       inline_rows=inline_rows), requests))
    for got, expected, request in zip(batched, alone, requests, strict=True):
        assert got.tolist() == expected.tolist() == (request[:, 0] * 2).tolist()
    assert len(alone_model.calls) == 20
    assert len(batched_model.calls) < 20 and sum(batched_model.calls) == sum(map(len, requests))


def test_a_failing_request_fails_alone() -> None:
    requests = _requests(6)
    requests[3] = np.array([[-1.0, 0.0]])
    model = CountingModel()
    answers = asyncio.run(_burst(Batcher(model.predict, "ndarray", max_rows=64, inline_rows=0),
                                 requests))
    assert isinstance(answers[3], ValueError)
    for i in (0, 1, 2, 4, 5):
        assert answers[i].tolist() == (requests[i][:, 0] * 2).tolist()


def test_batches_respect_max_rows_and_large_requests_go_alone() -> None:
    model = CountingModel()
    requests = [np.ones((3, 2))] * 10 + [np.ones((50, 2))]
    asyncio.run(_burst(Batcher(model.predict, "ndarray", max_rows=8, inline_rows=0), requests))
    assert max(model.calls) == 50 and all(n <= 8 for n in model.calls if n != 50)


def test_one_request_is_not_held_back() -> None:
    model = CountingModel()
    batcher = Batcher(model.predict, "ndarray", max_rows=64, inline_rows=64)

    async def one_after_another() -> None:
        for i in range(3):
            assert (await batcher.predict(np.array([[i, 0.0]]), 1)).tolist() == [2 * i]

    asyncio.run(asyncio.wait_for(one_after_another(), timeout=5))
    assert model.calls == [1, 1, 1]


def test_join_and_split_keep_frames_rows_in_order() -> None:
    frames = [pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [3]})]
    joined = join("dataframe", frames)
    assert joined["a"].tolist() == [1, 2, 3] and list(joined.index) == [0, 1, 2]
    parts = split(pd.Series([10, 20, 30]), [2, 1])
    assert [p.tolist() for p in parts] == [[10, 20], [30]]
    with pytest.raises(ValueError, match="3 results for 4 rows"):
        split(np.zeros(3), [2, 2])
