"""Adaptive batching for /predict: requests that arrive while the model is busy share one call.

There is no timer. An idle model starts on a request at once, so one client waits for nothing;
while a call runs, new requests queue, and the next call takes all of them (up to `max_rows`
rows), so batches grow with the load. Each request is validated before it joins a batch, so a
bad payload gets its own 400; if the model raises on a batch, every request of that batch is
retried alone, so only the request that caused it fails. One model call runs at a time (as with
BentoML's default of one thread per worker): on the event loop when the plan measured it as
tiny (no thread hop), otherwise in a worker thread while the loop keeps accepting requests.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass
class _Job:
    features: Any
    rows: int
    future: asyncio.Future[Any]


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None


class Batcher:
    """Queue parsed requests and answer each with its own slice of a batched model call."""

    def __init__(self, predict: Callable[[Any], Any], kind: str, *, max_rows: int,
                 inline_rows: int) -> None:
        self._predict = predict
        self._kind = kind
        self.max_rows = max_rows  # rows per model call (1: every request alone)
        self.inline_rows = inline_rows  # calls up to this many rows run on the loop (0: never)
        self._queue: deque[_Job] = deque()
        self._running = False
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="goldenpath-predict")

    async def predict(self, features: Any, rows: int) -> Any:
        """The model's output for `features` (`rows` rows), from whichever call carried them."""
        loop = asyncio.get_running_loop()
        job = _Job(features, rows, loop.create_future())
        self._queue.append(job)
        if not self._running:
            self._running = True
            loop.call_soon(self._next, loop)  # requests read in this loop turn join the call
        return await job.future

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._queue and self._queue[0].future.done():  # the client went away
            self._queue.popleft()
        if not self._queue:
            self._running = False
            return
        jobs = self._take()
        rows = sum(job.rows for job in jobs)
        if rows <= self.inline_rows and self._lock.acquire(blocking=False):
            try:
                outcomes = self._run(jobs)
            finally:
                self._lock.release()
            self._deliver(jobs, outcomes)
            loop.call_soon(self._next, loop)  # let waiting handlers read their requests first
            return
        done = loop.run_in_executor(self._executor, self._run_locked, jobs)
        done.add_done_callback(lambda future: self._finished(jobs, future, loop))

    def _finished(self, jobs: list[_Job], future: asyncio.Future[list[_Outcome]],
                  loop: asyncio.AbstractEventLoop) -> None:
        try:
            outcomes = future.result()
        except BaseException as exc:  # noqa: BLE001 - never leave a request unanswered
            outcomes = [_Outcome(error=exc) for _ in jobs]
        self._deliver(jobs, outcomes)
        self._next(loop)

    def _take(self) -> list[_Job]:
        jobs = [self._queue.popleft()]  # a request larger than max_rows goes alone
        rows = jobs[0].rows
        while self._queue and rows + self._queue[0].rows <= self.max_rows:
            job = self._queue.popleft()
            if not job.future.done():
                jobs.append(job)
                rows += job.rows
        return jobs

    def _run_locked(self, jobs: list[_Job]) -> list[_Outcome]:
        with self._lock:
            return self._run(jobs)

    def _run(self, jobs: list[_Job]) -> list[_Outcome]:
        if len(jobs) == 1:
            return [self._call(jobs[0].features)]
        try:
            output = self._predict(join(self._kind, [job.features for job in jobs]))
            return [_Outcome(part) for part in split(output, [job.rows for job in jobs])]
        except Exception:  # noqa: BLE001 - find the request that fails, answer the others
            return [self._call(job.features) for job in jobs]

    def _call(self, features: Any) -> _Outcome:
        try:
            return _Outcome(self._predict(features))
        except Exception as exc:  # noqa: BLE001 - handed to the request that caused it
            return _Outcome(error=exc)

    @staticmethod
    def _deliver(jobs: list[_Job], outcomes: list[_Outcome]) -> None:
        for job, outcome in zip(jobs, outcomes, strict=True):
            if job.future.done():
                continue
            if outcome.error is not None:
                job.future.set_exception(outcome.error)
            else:
                job.future.set_result(outcome.value)


def join(kind: str, parts: Sequence[Any]) -> Any:
    """Concatenate parsed requests (what Schema.parse returns) along the row axis."""
    if kind == "dataframe":
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    if kind == "tensor":
        import torch

        return torch.cat(list(parts))
    if kind == "text":
        return [text for part in parts for text in part]
    import numpy as np

    return np.concatenate(parts)


def split(output: Any, rows: Sequence[int]) -> list[Any]:
    """Cut a batched answer (one value per output) back into one answer per request
    (ValueError if an output is not per row)."""
    if isinstance(output, dict):
        by_output = {key: split(value, rows) for key, value in output.items()}
        return [{key: parts[i] for key, parts in by_output.items()} for i in range(len(rows))]
    if len(output) != sum(rows):
        raise ValueError(f"model returned {len(output)} results for {sum(rows)} rows")
    rows_of = getattr(output, "iloc", output)
    parts, start = [], 0
    for n in rows:
        parts.append(rows_of[start:start + n])
        start += n
    return parts
