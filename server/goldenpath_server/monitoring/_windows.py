"""Drift windows: which logged records the next window holds, by rows or by time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from goldenpath_server.monitoring._config import MonitoringConfig


def next_window(records: Sequence[Any], config: MonitoringConfig, now: datetime
            ) -> tuple[list[Any], int]:
    """The first full window of `records` (oldest first) and its rows, else ([], 0). Full:
    window_rows rows; or, with window_s, min_window_rows rows whose period has ended (a
    later record falls after it, or the clock has passed it)."""
    window: list[Any] = []
    rows = 0
    period = timedelta(seconds=config.window_s) if config.window_s else None
    for record in records:
        if period and window and aware(record.at) >= aware(window[0].at) + period \
                and rows >= config.min_window_rows:
            return window, rows
        window.append(record)
        rows += record.rows
        if rows >= config.window_rows:
            return window, rows
    if period and window and now >= aware(window[0].at) + period \
            and rows >= config.min_window_rows:
        return window, rows
    return [], 0


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
