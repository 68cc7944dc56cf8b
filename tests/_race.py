"""Run one call from several threads at once, to test that only one of them wins."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from goldenpath import errors


def race(call: Callable[[], Any], times: int) -> tuple[list[Any], list[errors.Conflict]]:
    """Start `call` in `times` threads together; returns (results, Conflict errors)."""
    results: list[Any] = []
    conflicts: list[errors.Conflict] = []
    start = threading.Barrier(times)

    def one() -> None:
        start.wait()
        try:
            results.append(call())
        except errors.Conflict as exc:
            conflicts.append(exc)

    threads = [threading.Thread(target=one) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, conflicts
